"""Limits below the HTTP request: what a connection may hold, and for how long.

uvicorn parses HTTP with httptools and offers a keep-alive timeout (used, from
``keepalive_timeout``) and a cap on requests in flight (``limit_concurrency``, used,
from ``max_connections``). It has no limit on the size or number of headers with
httptools (its ``h11_max_incomplete_event_size`` applies to the slower h11 parser
only), no timeout for a request head or body, and no cap per client address. This
module adds exactly those, as a subclass of uvicorn's httptools protocol::

    guarded_protocol(guard: ConnectionGuard) -> type[asyncio.Protocol]   # uvicorn's ``http=``

Per connection, in the order a request arrives:

* **Accept.** A client address (IPv6: its /64) holding ``max_connections_per_address``
  connections already gets ``429 too_many_connections`` and the new connection is
  closed; trusted proxies are exempt. When open connections would leave fewer than
  :data:`FD_RESERVE` file handles free (``ulimit -n``) or reach ``max_connections``, a
  new connection gets ``503 unavailable`` and is closed: the relay keeps the handles
  its database needs and never runs into the operating system's limit itself.
* **Head.** The request head must be complete within ``header_timeout`` seconds of
  its first byte (or of the connection opening): else ``408 request_timeout`` (or a
  silent close if nothing came) and the connection is closed. The request target is
  at most ``max_url_bytes`` (``414 uri_too_long``); header lines at most
  ``max_header_lines`` and ``max_header_bytes`` of names and values in total
  (``431 headers_too_large``). Bytes are counted as they arrive, so an oversized head
  is refused after about the limit, never buffered whole.
* **Body.** A body that stalls for ``body_timeout`` seconds (no byte while the relay
  is reading) ends the connection; the request is counted as a body timeout.
* **Between requests.** uvicorn closes a connection idle for ``keepalive_timeout``.
* Bytes that are not HTTP/1.1 get ``400 bad_request`` and a closed connection.

Every refusal here is counted in ``/v1/metrics`` (``hramada_relay_connections_refused_total
{reason}``) and never logged one by one: a flood of them cannot fill the log.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import resource
from collections import Counter
from collections.abc import Callable
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from hramada.relay.api import SCOPE_BODY_TIMEOUT, STATUS_OF, error_body
from hramada.relay.config import RelayConfig
from hramada.relay.ratelimit import client_key

FD_RESERVE = 64       # file handles kept free for the database, logs and the listening socket
RETRY_AFTER = "5"     # seconds, for connections refused while the relay is full
SWEEP_SECONDS = 1.0   # how often deadlines are checked (timeouts fire up to this late)

_MESSAGES = {
    "too_many_connections": "too many open connections from your address; close some and retry",
    "unavailable": "the relay is at its connection limit; retry in a few seconds",
    "request_timeout": "the request head did not arrive in time",
    "uri_too_long": "the request target is too long",
    "headers_too_large": "the request headers are too large or too many",
    "bad_request": "the request is not valid HTTP/1.1",
}


def open_file_handles() -> int:
    """How many file handles this process has open (a guess of 32 where /proc is absent)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 32


class ConnectionGuard:
    """Shared by every connection of one server: the settings, the open connections
    per address, and the counters that ``/v1/metrics`` shows."""

    def __init__(self, config: RelayConfig, *,
                 file_limit: Callable[[], int] | None = None) -> None:
        self.config = config
        self.trusted = config.trusted_networks
        self.per_address: Counter[str] = Counter()
        self.open = 0
        self.refused: Counter[str] = Counter()
        self.timeouts: Counter[str] = Counter()
        self.baseline = open_file_handles()
        self._watched: set[GuardedProtocol] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self._file_limit = file_limit or (lambda: resource.getrlimit(resource.RLIMIT_NOFILE)[0])

    def capacity(self) -> int:
        """Connections the relay takes at once: ``max_connections``, or fewer if the file
        handle limit (read each time: an operator may change it) leaves less room."""
        limit = self._file_limit()
        if limit == resource.RLIM_INFINITY or limit < 0:
            return self.config.max_connections
        return max(0, min(self.config.max_connections, limit - self.baseline - FD_RESERVE))

    def is_trusted(self, host: str) -> bool:
        if not self.trusted:
            return False
        try:
            addr = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(addr in net for net in self.trusted)

    def admit(self, host: str | None) -> tuple[str | None, str | None]:
        """``(key, None)`` for an admitted connection (``key`` is its address bucket,
        None when exempt), or ``(None, code)`` for a refused one."""
        if self.open >= self.capacity():
            return None, "unavailable"
        key = None if host and self.is_trusted(host) else client_key(host)
        if key is not None and self.per_address[key] >= self.config.max_connections_per_address:
            return None, "too_many_connections"
        self.open += 1
        if key is not None:
            self.per_address[key] += 1
        return key, None

    def release(self, key: str | None, protocol: Any = None) -> None:
        self.open -= 1
        self._watched.discard(protocol)
        if key is not None:
            self.per_address[key] -= 1
            if self.per_address[key] <= 0:
                del self.per_address[key]

    def watch(self, protocol: GuardedProtocol, loop: asyncio.AbstractEventLoop) -> None:
        """Check ``protocol``'s deadlines once a second until its connection is lost."""
        self._watched.add(protocol)
        if self._sweeper is None or self._sweeper.cancelled():
            self._sweeper = loop.call_later(SWEEP_SECONDS, self.sweep, loop)

    def sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for protocol in list(self._watched):
            protocol.check_deadlines(now)
        self._sweeper = loop.call_later(SWEEP_SECONDS, self.sweep, loop) if self._watched else None


def refusal_bytes(code: str, *, retry_after: str | None = None) -> bytes:
    """A complete HTTP response refusing the connection, with ``connection: close``."""
    body = error_body(code, _MESSAGES[code])
    head = [STATUS_LINE[STATUS_OF[code]],
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode() + b"\r\n",
            b"connection: close\r\n"]
    if retry_after is not None:
        head.append(b"retry-after: " + retry_after.encode() + b"\r\n")
    return b"".join(head) + b"\r\n" + body


class _HeadRefused(Exception):
    """Raised inside a parser callback to stop parsing a head over its limits."""


class _OneWrite:
    """The connection's transport, writing what one turn of the event loop wrote in
    one ``send``: an answer's head and body (two writes by uvicorn) leave together, so
    a small answer is one packet and the client wakes once to read it."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending:
            data, self._pending = b"".join(self._pending), []
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of this module.

    Deadlines are plain numbers set as bytes arrive (no timer per request, which
    would cost more than the rest of this class); :meth:`ConnectionGuard.sweep`
    checks them once a second, so a timeout fires within a second after it is due."""

    guard: ConnectionGuard  # set on the subclass made by guarded_protocol()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._admitted = False
        self._address: str | None = None
        self._closing = False
        self._awaiting = True         # between requests: the next bytes begin a head
        self._in_head = False         # a head has begun and is not complete
        self._head_bytes = 0          # bytes received since this head began
        self._header_bytes = 0
        self._header_lines = 0
        self._refusal: str | None = None
        self._head_deadline: float | None = None  # loop time by which the head must be in
        self._body_active: float | None = None    # loop time of the last body bytes, while a body is due

    # -- the connection ----------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_OneWrite(transport, self.loop))  # type: ignore[arg-type]
        key, refusal = self.guard.admit(self.client[0] if self.client else None)
        if refusal is not None:
            self._refuse(refusal, retry_after=RETRY_AFTER)
            return
        self._admitted, self._address = True, key
        self._head_deadline = self.loop.time() + self.guard.config.header_timeout
        self.guard.watch(self, self.loop)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._admitted:
            self._admitted = False
            self.guard.release(self._address, self)
        super().connection_lost(exc)

    def _refuse(self, code: str, *, retry_after: str | None = None, count: bool = True) -> None:
        """Answer ``code`` (unless a response is under way) and close the connection."""
        if count:
            self.guard.refused[code] += 1
        self._closing = True
        self._head_deadline = self._body_active = None
        if not self.transport.is_closing():
            if self.cycle is None or self.cycle.response_complete:
                self.transport.write(refusal_bytes(code, retry_after=retry_after))
            self.transport.close()

    # -- bytes in ------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._unset_keepalive_if_required()
        now = self.loop.time()
        if self._awaiting and self._head_deadline is None:
            self._head_deadline = now + self.guard.config.header_timeout
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # The relay speaks no other protocol: answer the request, then close.
            if self.cycle is not None:
                self.cycle.keep_alive = False
            return
        except httptools.HttpParserError:
            self._refuse(self._refusal or "bad_request")
            return
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self._max_head_bytes():
                self._refuse("headers_too_large")
        elif not self._awaiting:  # in a body: note that bytes came
            self._body_active = now

    def _max_head_bytes(self) -> int:
        """Raw bytes a head may take before it is refused, whatever the parser has
        reported so far (it holds back an unfinished header line)."""
        config = self.guard.config
        return config.max_url_bytes + config.max_header_bytes + 4 * config.max_header_lines + 64

    # -- parser callbacks ----------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting, self._in_head = False, True
        self._head_bytes = self._header_bytes = self._header_lines = 0

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > self.guard.config.max_url_bytes:
            self._refusal = "uri_too_long"
            raise _HeadRefused

    def on_header(self, name: bytes, value: bytes) -> None:
        config = self.guard.config
        self._header_lines += 1
        self._header_bytes += len(name) + len(value)
        if self._header_lines > config.max_header_lines or self._header_bytes > config.max_header_bytes:
            self._refusal = "headers_too_large"
            raise _HeadRefused
        # As uvicorn's on_header (inlined: this runs for every header of every request).
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_deadline = None
        self._body_active = self.loop.time()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._awaiting = True
        self._body_active = None
        super().on_message_complete()

    # -- deadlines (checked by ConnectionGuard.sweep) ---------------------------------

    def check_deadlines(self, now: float) -> None:
        if self._closing or self.transport.is_closing():
            return
        if self._head_deadline is not None and now >= self._head_deadline:
            self._head_deadline = None
            if self._in_head:
                self.guard.timeouts["headers"] += 1
                self._refuse("request_timeout", count=False)
            else:  # a connection that sent nothing at all
                self.guard.timeouts["idle"] += 1
                self._closing = True
                self.transport.close()
            return
        if self._body_active is None or self.cycle is None or self.cycle.response_complete \
                or not self.cycle.more_body:
            return
        if self.flow.read_paused:  # the relay is the one not reading: not the client's fault
            self._body_active = now
        elif now - self._body_active >= self.guard.config.body_timeout:
            self.guard.timeouts["body"] += 1
            self.cycle.scope[SCOPE_BODY_TIMEOUT] = True  # type: ignore[literal-required]
            self._closing = True
            self.transport.close()


def guarded_protocol(guard: ConnectionGuard) -> type[asyncio.Protocol]:
    """The protocol class to give uvicorn (``uvicorn.Config(http=...)``) for ``guard``."""
    return type("RelayHttpProtocol", (GuardedProtocol,), {"guard": guard})
