"""The one place where the client's bytes touch the network: relay API v1 over httpx.

Tests pass an ``httpx.ASGITransport(app)`` to talk to an in-process relay without
sockets; everything else uses real HTTP.
"""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass
from typing import Any

import httpx

from hramada.core.wire import b64d, b64e
from hramada.errors import RelayError, RelayUnreachable


@dataclass(frozen=True, slots=True)
class LogEntry:
    seq: int
    prev: bytes
    ciphertext: bytes
    hash: bytes


class LogConflict(RelayError):
    """Someone else appended to the group's log first."""


class RetiredCapability(RelayError):
    """The group key rotated since this device last synced."""


@functools.lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """One TLS context (the default, verifying) per process: loading the certificate
    store costs tens of milliseconds, and every relay connection can share it."""
    return httpx.create_ssl_context()


class Relay:
    """A connection to one relay."""

    def __init__(self, url: str, transport: httpx.AsyncBaseTransport | None = None,
                 timeout: float = 40.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.url, transport=transport, timeout=timeout,
                                       headers={"User-Agent": "hramada"}, verify=_tls())

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, *, cap: bytes | None = None,
                    json: Any = None, params: dict | None = None) -> Any:
        headers = {"Authorization": f"Bearer {b64e(cap)}"} if cap is not None else {}
        try:
            r = await self._http.request(method, path, json=json, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise RelayUnreachable(f"could not reach the relay at {self.url} ({type(exc).__name__})") from None
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code < 300:
            if not isinstance(body, dict):
                raise RelayError(f"the relay at {self.url} sent an unreadable answer", status=r.status_code)
            return body
        err = body.get("error", {}) if isinstance(body, dict) else {}
        code = err.get("code") if isinstance(err, dict) else None
        message = err.get("message", r.reason_phrase) if isinstance(err, dict) else r.reason_phrase
        cls = LogConflict if code == "log_conflict" else \
            RetiredCapability if code == "retired_capability" else RelayError
        raise cls(f"the relay refused: {message}", status=r.status_code, code=code,
                  detail=err if isinstance(err, dict) else {})

    # -- mailboxes and the log ---------------------------------------------------

    async def health(self) -> dict:
        return await self._call("GET", "/v1/health")

    async def create_mailbox(self, mailbox: bytes, cap_hash: bytes) -> None:
        await self._call("POST", "/v1/mailboxes", json={"mailbox": b64e(mailbox), "cap_hash": b64e(cap_hash)})

    async def read_log(self, mailbox: bytes, cap: bytes, after: int, limit: int = 1000
                       ) -> tuple[list[LogEntry], tuple[int, bytes]]:
        body = await self._call("GET", f"/v1/mailboxes/{b64e(mailbox)}/log", cap=cap,
                                params={"after": after, "limit": limit})
        try:
            entries = [LogEntry(int(e["seq"]), b64d(e["prev"], 32), b64d(e["ciphertext"]),
                                b64d(e["hash"], 32)) for e in body["entries"]]
            head = (int(body["head"]["seq"]), b64d(body["head"]["hash"], 32))
        except (KeyError, TypeError, ValueError):
            raise RelayError("the relay sent a malformed log") from None
        return entries, head

    async def append_log(self, mailbox: bytes, cap: bytes, seq: int, prev: bytes,
                         ciphertext: bytes, new_cap_hash: bytes | None = None) -> None:
        payload = {"seq": seq, "prev": b64e(prev), "ciphertext": b64e(ciphertext)}
        if new_cap_hash is not None:
            payload["new_cap_hash"] = b64e(new_cap_hash)
        await self._call("POST", f"/v1/mailboxes/{b64e(mailbox)}/log", cap=cap, json=payload)

    # -- items --------------------------------------------------------------------

    async def append_items(self, mailbox: bytes, cap: bytes, items: list[bytes]) -> tuple[int, int]:
        body = await self._call("POST", f"/v1/mailboxes/{b64e(mailbox)}/items", cap=cap,
                                json={"items": [b64e(i) for i in items]})
        return int(body["first"]), int(body["last"])

    async def read_items(self, mailbox: bytes, cap: bytes, after: int, limit: int = 1000
                         ) -> tuple[list[tuple[int, bytes]], int]:
        body = await self._call("GET", f"/v1/mailboxes/{b64e(mailbox)}/items", cap=cap,
                                params={"after": after, "limit": limit})
        try:
            return ([(int(i["cursor"]), b64d(i["ciphertext"])) for i in body["items"]], int(body["head"]))
        except (KeyError, TypeError, ValueError):
            raise RelayError("the relay sent malformed items") from None

    # -- drop boxes ---------------------------------------------------------------

    async def open_drop(self, mailbox: bytes, cap: bytes, drop: bytes, drop_cap_hash: bytes,
                        expires: int = 0) -> None:
        await self._call("POST", f"/v1/mailboxes/{b64e(mailbox)}/drops", cap=cap,
                         json={"drop": b64e(drop), "cap_hash": b64e(drop_cap_hash), "expires": expires})

    async def close_drop(self, mailbox: bytes, cap: bytes, drop: bytes) -> None:
        await self._call("DELETE", f"/v1/mailboxes/{b64e(mailbox)}/drops/{b64e(drop)}", cap=cap)

    async def mark_drop_used(self, mailbox: bytes, cap: bytes, drop: bytes) -> None:
        await self._call("POST", f"/v1/mailboxes/{b64e(mailbox)}/drops/{b64e(drop)}/used", cap=cap)

    async def post_to_drop(self, mailbox: bytes, cap: bytes, drop: bytes, message: bytes) -> None:
        await self._call("POST", f"/v1/mailboxes/{b64e(mailbox)}/drops/{b64e(drop)}/messages",
                         cap=cap, json={"message": b64e(message)})

    async def read_drops(self, mailbox: bytes, cap: bytes, after: int
                         ) -> tuple[list[tuple[int, bytes, str, bytes]], int]:
        body = await self._call("GET", f"/v1/mailboxes/{b64e(mailbox)}/drops/messages", cap=cap,
                                params={"after": after})
        try:
            return ([(int(m["cursor"]), b64d(m["drop"], 16), str(m["from"]), b64d(m["message"]))
                     for m in body["messages"]], int(body["head"]))
        except (KeyError, TypeError, ValueError):
            raise RelayError("the relay sent malformed drop messages") from None

    async def guest_post(self, drop: bytes, drop_cap: bytes, message: bytes) -> None:
        await self._call("POST", f"/v1/drops/{b64e(drop)}/messages", cap=drop_cap,
                         json={"message": b64e(message)})

    async def guest_read(self, drop: bytes, drop_cap: bytes, after: int = 0
                         ) -> list[tuple[int, str, bytes]]:
        body = await self._call("GET", f"/v1/drops/{b64e(drop)}/messages", cap=drop_cap,
                                params={"after": after})
        try:
            return [(int(m["cursor"]), str(m["from"]), b64d(m["message"])) for m in body["messages"]]
        except (KeyError, TypeError, ValueError):
            raise RelayError("the relay sent malformed drop messages") from None

    async def wait(self, mailbox: bytes, cap: bytes, log: int, items: int, drops: int,
                   timeout: int = 25) -> dict:
        return await self._call("GET", f"/v1/mailboxes/{b64e(mailbox)}/wait", cap=cap,
                                params={"log": log, "items": items, "drops": drops, "timeout": timeout})
