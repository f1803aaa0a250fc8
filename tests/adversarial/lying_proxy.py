"""A lying relay: a small HTTP proxy on 127.0.0.1 in front of a real relay process.

Every request is forwarded to the real relay; its JSON answers can be rewritten on
the way back, as a malicious relay would answer. The proxy works both ways a client
can reach it:

* as the relay's address (``proxy.url`` in place of the relay's URL), or
* as an HTTP forward proxy for one client only (``Hramada.init(..., transport=
  proxy.transport())``), so that one member is lied to while the others talk to the
  relay directly.

A lie is a function ``lie(answer)`` of an :class:`Answer` (method, path, query, status
and the decoded JSON body) that changes ``answer.body`` in place (or replaces it).
Set it with ``proxy.lie = ...``; ``None`` passes answers through unchanged.
A relay can also act on a request other than the client sent it: ``proxy.rewrite =
f`` forwards ``f(method, path, body)`` in place of each request's body.

Ready-made lies for the item stream are below (``inflate_item_head``,
``drop_items``, ``add_items``, ``withhold_log_from``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import httpx

_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "host", "content-length"}


@dataclass
class Answer:
    method: str
    path: str
    query: dict[str, str]
    status: int
    body: object
    request: bytes = b""


Lie = Callable[[Answer], None]


class LyingProxy:
    """See the module docstring. ``answers`` records (method, path) of every answer."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.lie: Lie | None = None
        self.rewrite: Callable[[str, str, bytes], bytes] | None = None
        self.answers: list[tuple[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _forward(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="lying-proxy", daemon=True)
        self._thread.start()

    def transport(self) -> httpx.AsyncHTTPTransport:
        """A client transport that sends every request through this proxy."""
        return httpx.AsyncHTTPTransport(proxy=self.url)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        sent = h.rfile.read(length) if length else b""
        target = h.path if h.path.startswith("http://") else self.upstream + h.path
        parts = urlsplit(target)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP}
        rewrite = self.rewrite
        if rewrite is not None and sent:
            sent = rewrite(h.command, parts.path, sent)
        try:
            with httpx.Client(timeout=60) as client:
                r = client.request(h.command, target, headers=headers, content=sent)
            status, content, ctype = r.status_code, r.content, r.headers.get("content-type", "")
        except httpx.HTTPError:
            status, content, ctype = 502, b'{"error": "bad_gateway"}', "application/json"
        self.answers.append((h.command, parts.path))
        lie = self.lie
        if lie is not None and ctype.startswith("application/json") and content:
            answer = Answer(h.command, parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()},
                            status, json.loads(content), sent)
            lie(answer)
            status, content = answer.status, json.dumps(answer.body).encode()
        h.send_response(status)
        h.send_header("Content-Type", ctype or "application/octet-stream")
        h.send_header("Content-Length", str(len(content)))
        h.end_headers()
        h.wfile.write(content)


# -- ready-made lies ---------------------------------------------------------------------

def is_item_read(a: Answer) -> bool:
    return a.method == "GET" and a.path.endswith("/items") and a.status == 200


def is_log_read(a: Answer) -> bool:
    return a.method == "GET" and a.path.endswith("/log") and a.status == 200


def inflate_item_head(to: int = 10**6) -> Lie:
    """Claim the item stream is much longer than it is."""
    def lie(a: Answer) -> None:
        if is_item_read(a):
            a.body["head"] = max(a.body["head"], to)
    return lie


def drop_items(keep: Callable[[int, bytes], bool]) -> Lie:
    """Leave out every item for which ``keep(cursor, ciphertext)`` is false."""
    from hramada.core.wire import b64d

    def lie(a: Answer) -> None:
        if is_item_read(a):
            a.body["items"] = [i for i in a.body["items"] if keep(i["cursor"], b64d(i["ciphertext"]))]
    return lie


def add_items(extra: Callable[[Answer], list[tuple[int, bytes]]]) -> Lie:
    """Serve ``extra(answer)`` — (cursor, ciphertext) pairs — in the answer, by cursor,
    replacing what the relay has at those cursors, and raise the head to match."""
    from hramada.core.wire import b64e

    def lie(a: Answer) -> None:
        if is_item_read(a):
            after = int(a.query.get("after", 0))
            added = {c: b64e(ct) for c, ct in extra(a) if c > after}
            items = {i["cursor"]: i["ciphertext"] for i in a.body["items"]} | added
            a.body["items"] = [{"cursor": c, "ciphertext": ct} for c, ct in sorted(items.items())]
            a.body["head"] = max([a.body["head"], *added])
    return lie


def withhold_log_from(seq: int) -> Lie:
    """Freeze the log before entry ``seq``: never serve it or anything after it."""
    def lie(a: Answer) -> None:
        if is_log_read(a):
            withheld = [e for e in a.body["entries"] if e["seq"] >= seq]
            a.body["entries"] = [e for e in a.body["entries"] if e["seq"] < seq]
            if withheld and withheld[0]["seq"] == seq:  # its prev is the hash the new head must show
                a.body["head"] = {"seq": seq - 1, "hash": withheld[0]["prev"]}
    return lie


def chain(*lies: Lie) -> Lie:
    def lie(a: Answer) -> None:
        for one in lies:
            one(a)
    return lie


# -- ready-made request rewrites -----------------------------------------------------------

ADMIN_FIELDS = ("admins", "admin_key", "admin_sig")


def drop_admin_fields(method: str, path: str, body: bytes) -> bytes:
    """Forward log appends without their admin set and admin signature."""
    if method != "POST" or not path.endswith("/log"):
        return body
    request = json.loads(body)
    return json.dumps({k: v for k, v in request.items() if k not in ADMIN_FIELDS}).encode()


# -- a write acknowledged and never kept ----------------------------------------------------

def acknowledge_rotation_unsent(proxy: LyingProxy) -> Callable[[], bool]:
    """Answer 201 to the next rotation append (one that carries ``new_cap_hash``) without
    the relay keeping it: the request is forwarded at a position the relay refuses, and
    the refusal is turned into the acknowledgement the relay would have sent. Returns a
    function telling whether it has happened."""
    from hramada.core.wire import b64d, b64e, entry_hash
    done: list[tuple[int, str]] = []

    def rewrite(method: str, path: str, body: bytes) -> bytes:
        if method != "POST" or not path.endswith("/log") or done:
            return body
        request = json.loads(body)
        if "new_cap_hash" not in request:
            return body
        mailbox = b64d(path.split("/")[-2])
        done.append((request["seq"], b64e(entry_hash(mailbox, request["seq"], b64d(request["prev"]),
                                                     b64d(request["ciphertext"])))))
        request["seq"] += 1000  # not the head's next position: the relay refuses, keeps nothing
        return json.dumps(request).encode()

    def lie(a: Answer) -> None:
        if a.method == "POST" and a.path.endswith("/log") and done and len(done) == 1 and a.status != 201:
            seq, digest = done[0]
            a.status, a.body = 201, {"head": {"seq": seq, "hash": digest}}
            done.append((0, ""))  # once

    proxy.rewrite, proxy.lie = rewrite, lie
    return lambda: len(done) == 2
