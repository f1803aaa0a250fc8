"""Per-client-address token buckets, as ASGI middleware in front of everything.

Each client address has a bucket of ``burst`` tokens refilled at ``rate`` per second;
a request takes one token or gets ``429 rate_limited`` with ``Retry-After`` (whole
seconds until a token is back). ``rate = 0`` turns the limit off.

The address is the peer of the TCP connection, or the ``X-Forwarded-For`` address
when the peer is a trusted proxy (``trusted_proxies`` in the config, applied by the
server). IPv6 addresses share one bucket per /64, since anyone with one IPv6 address
usually has the whole /64. Buckets are kept for at most :data:`MAX_CLIENTS`
addresses (least recently seen are forgotten first). Addresses are never logged.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from hramada.relay.api import error_body

MAX_CLIENTS = 50_000


def client_key(host: str | None) -> str:
    """The bucket of an address: IPv4 as is, IPv6 by its /64 prefix."""
    if not host:
        return ""
    if ":" not in host:
        return host
    try:
        addr = ipaddress.IPv6Address(host)
    except ValueError:
        return host
    if addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(ipaddress.IPv6Network(f"{addr}/64", strict=False))


class TokenBuckets:
    """``take(key)`` returns 0.0 if a request may go ahead, else the seconds until it may."""

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = MAX_CLIENTS) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._max = max_clients
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> float:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max:
                self._buckets.popitem(last=False)
            self._buckets[key] = [self.burst - 1.0, now]
            return 0.0
        self._buckets.move_to_end(key)
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate


class RateLimitMiddleware:
    """Answers ``429`` before routing when the client's bucket is empty."""

    def __init__(self, app: ASGIApp, *, rate: float, burst: int,
                 on_reject: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.buckets = TokenBuckets(rate, burst) if rate > 0 else None
        self.on_reject = on_reject

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.buckets is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.buckets.take(client_key(client[0] if client else None))
        if wait == 0.0:
            await self.app(scope, receive, send)
            return
        if self.on_reject is not None:
            self.on_reject("rate_limited")
        body = error_body("rate_limited", "too many requests from this address; retry later")
        await send({"type": "http.response.start", "status": 429, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(max(1, math.ceil(wait))).encode()),
        ]})
        await send({"type": "http.response.body", "body": body})
