"""The one place where the client's bytes touch the network: relay API v1 over httpx.

Tests pass an ``httpx.ASGITransport(app)`` to talk to an in-process relay without
sockets; everything else uses real HTTP.

Nothing a relay answers is used before it is read within bounds and checked against
the answer's schema (:mod:`hramada.client.answers`). The errors::

    RelayError                 the relay refused (its code in ``.code``)
    ├── LogConflict            someone else appended to the log first
    ├── RetiredCapability      the group key rotated since this device last synced
    ├── RelayProtocolError     the answer does not follow the protocol (too big, not
    │                          JSON, wrong fields, types, ranges or sizes)
    └── RelayUnreachable       could not connect, the connection broke, or no answer in time
"""

from __future__ import annotations

import asyncio
import functools
import json as jsonlib
import re
import ssl
from dataclasses import dataclass
from typing import Any

import httpx

from hramada.client import answers
from hramada.client.http1 import transport_for
from hramada.client.answers import HEAD, AnswerError, binary, boolean, counter, items_of, literal, record, text
from hramada.core.admins import AdminClaim
from hramada.core.urls import check_relay_url
from hramada.core.wire import b64e
from hramada.errors import RelayError, RelayUnreachable

MAX_ANSWER_BYTES = 24 * 1024 * 1024  # a read page holds at most 8 MiB of records (11 MiB in base64)
KNOWN_CODES = frozenset({"bad_request", "unauthorized", "retired_capability", "not_admin", "not_found",
                         "method_not_allowed", "request_timeout", "log_conflict", "exists", "missing_pages",
                         "drop_used", "drop_expired", "too_large", "uri_too_long",
                         "unsupported_media_type", "rate_limited", "too_many_connections",
                         "headers_too_large", "internal", "unavailable"})
_UNPRINTABLE = re.compile(r"[^\x20-\x7e\u00a0-\uffff]|[\u200e\u200f\u2028-\u202e\u2066-\u2069]")


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


class RelayProtocolError(RelayError):
    """The relay sent an answer that does not follow the protocol. Nothing from it was
    used or stored. If it keeps happening, the relay is broken or hostile: ask the
    group's admins to move the group to another relay."""


_ENTRY = record({"seq": counter(1), "prev": binary(32), "ciphertext": binary(), "hash": binary(32)})
_ITEM = record({"cursor": counter(1), "ciphertext": binary()})
_DROP_MESSAGE = record({"cursor": counter(1), "drop": binary(16), "from": literal("guest", "member"),
                        "message": binary()})
_GUEST_MESSAGE = record({"cursor": counter(1), "from": literal("guest", "member"), "message": binary()})
_CURSOR = {"cursor": counter(1)}
_HEADERS = {"User-Agent": "hramada", "Accept-Encoding": "identity"}
_JSON_HEADERS = {**_HEADERS, "Content-Type": "application/json"}
_KEPT_URLS = 64  # parsed URLs of paths without a query, per relay (a post reuses its path's)


def _clean(message: object) -> str:
    """A relay's own words, made safe to show: printable, one line, bounded."""
    if not isinstance(message, str):
        return ""
    return _UNPRINTABLE.sub("?", message)[:answers.MAX_TEXT_CHARS]


# Marks a long poll for the transport, which keeps connections free for other requests
# however many long polls run at once (``http1.py``, MAX_LONG_POLLS).
_LONG_POLL = {"hramada.long_poll": True}


class Relay:
    """A connection to one relay."""

    def __init__(self, url: str, transport: httpx.AsyncBaseTransport | None = None,
                 timeout: float = 40.0) -> None:
        self.url = check_relay_url(url)
        self.timeout = timeout
        # Requests go straight to the transport: no cookies, redirects or auth flows to
        # run (a redirect is refused anyway), and a post costs one round trip's CPU.
        self._transport = transport if transport is not None else transport_for(self.url, _tls())
        self._urls: dict[str, httpx.URL] = {}

    async def close(self) -> None:
        await self._transport.aclose()

    def _broken(self, reason: str, status: int | None = None) -> RelayProtocolError:
        return RelayProtocolError(f"the relay at {self.url} sent an answer that does not follow the "
                                  f"protocol ({reason}); nothing from it was used", status=status)

    async def _call(self, method: str, path: str, expect: int | tuple[int, ...], *, cap: bytes | None = None,
                    json: Any = None, params: dict | None = None, waits: float = 0.0) -> Any:
        """Send one request; return the answer's JSON body if the status is ``expect``.
        The whole exchange, body included, must finish within the timeout (plus
        ``waits`` seconds for a long poll)."""
        headers = _HEADERS if json is None else _JSON_HEADERS
        if cap is not None:
            headers = {**headers, "Authorization": f"Bearer {b64e(cap)}"}
        body = None if json is None else jsonlib.dumps(json, separators=(",", ":")).encode()
        try:
            async with asyncio.timeout(self.timeout + waits):
                request = httpx.Request(method, self._url(path, params), content=body, headers=headers,
                                        extensions=_LONG_POLL if waits else None)
                r = await self._transport.handle_async_request(request)
                try:
                    raw = await self._read(r)
                finally:
                    await r.aclose()
        except httpx.DecodingError:
            raise self._broken("a body that does not decode") from None
        except (httpx.HTTPError, TimeoutError) as exc:
            raise RelayUnreachable(f"could not reach the relay at {self.url} ({type(exc).__name__})") from None
        status = r.status_code
        if status == expect or (isinstance(expect, tuple) and status in expect):
            try:
                return answers.parse_json(raw)
            except AnswerError as exc:
                raise self._broken(str(exc), status) from None
        if 400 <= status < 600:
            raise self._refusal(status, raw, r.reason_phrase)
        if 300 <= status < 400:
            raise self._broken(f"a redirect ({status}); check the relay address", status)
        raise self._broken(f"status {status} where {expect} belongs", status)

    def _url(self, path: str, params: dict | None) -> httpx.URL:
        if params is not None:
            return httpx.URL(self.url + path, params=params)
        url = self._urls.get(path)
        if url is None:
            url = httpx.URL(self.url + path)
            if len(self._urls) < _KEPT_URLS:
                self._urls[path] = url
        return url

    async def _read(self, r: httpx.Response) -> bytes:
        encoding = r.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            raise self._broken("a compressed answer", r.status_code)
        length = r.headers.get("content-length")
        if length is not None and (not length.isdigit() or len(length) > 12
                                   or int(length) > MAX_ANSWER_BYTES):
            raise self._broken(f"an answer announced as over {MAX_ANSWER_BYTES} bytes", r.status_code)
        chunks, size = [], 0
        async for chunk in r.aiter_bytes():  # identity only (checked above): no decoder runs
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise self._broken(f"an answer over {MAX_ANSWER_BYTES} bytes", r.status_code)
            chunks.append(chunk)
        return b"".join(chunks)

    def _refusal(self, status: int, raw: bytes, reason: str) -> RelayError:
        try:
            err = answers.parse_json(raw).get("error")
        except (AnswerError, AttributeError):
            err = None
        if not isinstance(err, dict):
            err = {}
        code = err.get("code")
        code = code if isinstance(code, str) and code in KNOWN_CODES else None
        message = _clean(err.get("message")) or _clean(reason) or f"status {status}"
        if status in (502, 503, 504) and code in (None, "unavailable"):
            return RelayUnreachable(f"the relay at {self.url} is unavailable right now ({status})",
                                    status=status)
        detail: dict = {}
        if code == "log_conflict":
            try:
                detail["head"] = HEAD(err.get("head"), "head")
            except AnswerError:
                pass
        cls = LogConflict if code == "log_conflict" else \
            RetiredCapability if code == "retired_capability" else RelayError
        return cls(f"the relay at {self.url} refused: {message}", status=status, code=code, detail=detail)

    def _shape(self, body: Any, what: str, spec: dict) -> dict:
        try:
            return answers.obj(body, what, spec)
        except AnswerError as exc:
            raise self._broken(str(exc)) from None

    # -- mailboxes and the log ---------------------------------------------------

    async def health(self) -> dict:
        body = await self._call("GET", "/v1/health", 200)
        return self._shape(body, "the health answer", {"ok": literal(True), "version": text})

    async def create_mailbox(self, mailbox: bytes, cap_hash: bytes, admin: bytes) -> None:
        """A new mailbox; ``admin`` is the creator's relay-admin key."""
        body = await self._call("POST", "/v1/mailboxes", 201,
                                json={"mailbox": b64e(mailbox), "cap_hash": b64e(cap_hash),
                                      "admin": b64e(admin)})
        if self._shape(body, "the new mailbox", {"mailbox": binary(16)})["mailbox"] != mailbox:
            raise self._broken("it names another mailbox than the one created")

    async def read_log(self, mailbox: bytes, cap: bytes, after: int, limit: int = 1000
                       ) -> tuple[list[LogEntry], tuple[int, bytes]]:
        body = await self._call("GET", f"/v1/mailboxes/{b64e(mailbox)}/log", 200, cap=cap,
                                params={"after": after, "limit": limit})
        v = self._shape(body, "the log", {"entries": items_of(_ENTRY, limit), "head": HEAD})
        entries = [LogEntry(e["seq"], e["prev"], e["ciphertext"], e["hash"]) for e in v["entries"]]
        return entries, (v["head"]["seq"], v["head"]["hash"])

    async def append_log(self, mailbox: bytes, cap: bytes, seq: int, prev: bytes,
                         ciphertext: bytes, new_cap_hash: bytes | None = None,
                         claim: AdminClaim | None = None, pages: list[bytes] | None = None
                         ) -> tuple[int, bytes]:
        """Append one entry; returns the head the relay reports after it. ``claim``
        (:mod:`hramada.core.admins`) goes with an entry that rotates the capability or
        changes the relay's admin set; ``pages`` names the key-block pages (digests) the
        entry's key block keeps out of it, uploaded before (:mod:`hramada.client.pages`)."""
        payload: dict[str, Any] = {"seq": seq, "prev": b64e(prev), "ciphertext": b64e(ciphertext)}
        if pages:
            payload["pages"] = [b64e(d) for d in pages]
        if new_cap_hash is not None:
            payload["new_cap_hash"] = b64e(new_cap_hash)
        if claim is not None:
            if claim.admins is not None:
                payload["admins"] = [b64e(k) for k in claim.admins]
            payload["admin_key"], payload["admin_sig"] = b64e(claim.key), b64e(claim.signature)
        body = await self._call("POST", f"/v1/mailboxes/{b64e(mailbox)}/log", 201, cap=cap, json=payload)
        head = self._shape(body, "the appended entry", {"head": HEAD})["head"]
        return head["seq"], head["hash"]

    # -- key-block pages -------------------------------------------------------------

    async def put_page(self, mailbox: bytes, cap: bytes, page: bytes) -> bytes:
        """Store a key-block page in the mailbox; returns the digest the relay filed it
        under (the caller checks it: :func:`hramada.client.pages.upload_pages`)."""
        body = await self._call("POST", f"/v1/mailboxes/{b64e(mailbox)}/pages", (201, 200), cap=cap,
                                json={"page": b64e(page)})
        return self._shape(body, "the stored page", {"digest": binary(32)})["digest"]

    async def get_page(self, mailbox: bytes, cap: bytes, digest: bytes) -> bytes:
        """A key-block page by its digest (unchecked here: :func:`hramada.client.pages.fetch_page`)."""
        body = await self._call("GET", f"/v1/mailboxes/{b64e(mailbox)}/pages/{b64e(digest)}", 200, cap=cap)
        return self._shape(body, "the page", {"page": binary()})["page"]

    # -- items --------------------------------------------------------------------

    async def append_items(self, mailbox: bytes, cap: bytes, items: list[bytes]) -> tuple[int, int]:
        body = await self._call("POST", f"/v1/mailboxes/{b64e(mailbox)}/items", 201, cap=cap,
                                json={"items": [b64e(i) for i in items]})
        v = self._shape(body, "the stored items", {"first": counter(1), "last": counter(1)})
        if v["last"] - v["first"] + 1 != len(items):
            raise self._broken(f"cursors {v['first']} to {v['last']} for {len(items)} items")
        return v["first"], v["last"]

    async def read_items(self, mailbox: bytes, cap: bytes, after: int, limit: int = 1000
                         ) -> tuple[list[tuple[int, bytes]], int]:
        body = await self._call("GET", f"/v1/mailboxes/{b64e(mailbox)}/items", 200, cap=cap,
                                params={"after": after, "limit": limit})
        v = self._shape(body, "the items", {"items": items_of(_ITEM, limit), "head": counter()})
        return [(i["cursor"], i["ciphertext"]) for i in v["items"]], v["head"]

    # -- drop boxes ---------------------------------------------------------------

    async def open_drop(self, mailbox: bytes, cap: bytes, drop: bytes, drop_cap_hash: bytes,
                        expires: int = 0) -> None:
        body = await self._call("POST", f"/v1/mailboxes/{b64e(mailbox)}/drops", 201, cap=cap,
                                json={"drop": b64e(drop), "cap_hash": b64e(drop_cap_hash), "expires": expires})
        if self._shape(body, "the new drop", {"drop": binary(16)})["drop"] != drop:
            raise self._broken("it names another drop than the one opened")

    async def close_drop(self, mailbox: bytes, cap: bytes, drop: bytes) -> None:
        body = await self._call("DELETE", f"/v1/mailboxes/{b64e(mailbox)}/drops/{b64e(drop)}", 200, cap=cap)
        self._shape(body, "the closed drop", {"closed": literal(True)})

    async def mark_drop_used(self, mailbox: bytes, cap: bytes, drop: bytes) -> None:
        body = await self._call("POST", f"/v1/mailboxes/{b64e(mailbox)}/drops/{b64e(drop)}/used", 200, cap=cap)
        self._shape(body, "the used drop", {"used": literal(True)})

    async def post_to_drop(self, mailbox: bytes, cap: bytes, drop: bytes, message: bytes) -> int:
        body = await self._call("POST", f"/v1/mailboxes/{b64e(mailbox)}/drops/{b64e(drop)}/messages", 201,
                                cap=cap, json={"message": b64e(message)})
        return self._shape(body, "the stored message", _CURSOR)["cursor"]

    async def read_drops(self, mailbox: bytes, cap: bytes, after: int, limit: int = 1000
                         ) -> tuple[list[tuple[int, bytes, str, bytes]], int]:
        body = await self._call("GET", f"/v1/mailboxes/{b64e(mailbox)}/drops/messages", 200, cap=cap,
                                params={"after": after, "limit": limit})
        v = self._shape(body, "the drop messages",
                        {"messages": items_of(_DROP_MESSAGE, limit), "head": counter()})
        return [(m["cursor"], m["drop"], m["from"], m["message"]) for m in v["messages"]], v["head"]

    async def guest_post(self, drop: bytes, drop_cap: bytes, message: bytes) -> int:
        body = await self._call("POST", f"/v1/drops/{b64e(drop)}/messages", 201, cap=drop_cap,
                                json={"message": b64e(message)})
        return self._shape(body, "the stored message", _CURSOR)["cursor"]

    async def guest_read(self, drop: bytes, drop_cap: bytes, after: int = 0, limit: int = 1000
                         ) -> list[tuple[int, str, bytes]]:
        body = await self._call("GET", f"/v1/drops/{b64e(drop)}/messages", 200, cap=drop_cap,
                                params={"after": after, "limit": limit})
        v = self._shape(body, "the drop's messages",
                        {"messages": items_of(_GUEST_MESSAGE, limit), "head": counter()})
        return [(m["cursor"], m["from"], m["message"]) for m in v["messages"]]

    async def wait(self, mailbox: bytes, cap: bytes, log: int, items: int, drops: int,
                   timeout: int = 25) -> dict:
        """Long-poll for news; returns ``{"log", "items", "drops", "changed"}``, checked."""
        body = await self._call("GET", f"/v1/mailboxes/{b64e(mailbox)}/wait", 200, cap=cap,
                                params={"log": log, "items": items, "drops": drops, "timeout": timeout},
                                waits=timeout)
        return self._shape(body, "the wait answer", {"log": counter(), "items": counter(),
                                                     "drops": counter(), "changed": boolean})
