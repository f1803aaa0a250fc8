"""HTTP/1.1 to a relay: an ``httpx`` transport on asyncio streams.

:class:`Http1Transport` is what :class:`hramada.client.transport.Relay` uses to reach a
relay over the network (tests hand the relay an ``httpx.ASGITransport`` instead). It
does what the relay protocol needs and nothing else, which makes a request cost a
fraction of the CPU of httpx's general-purpose pool:

* **Kept connections.** Connections are kept per origin (scheme, host, port) and
  reused; a request takes an idle connection or opens one, so concurrent requests (a
  long poll beside a post) each have their own.
* **At most :data:`MAX_CONNECTIONS` in use per origin** (a relay refuses, by default,
  more than 64 from one address): a request beyond it waits, in arrival order and
  without polling, until an exchange ends; its wait counts in its caller's timeout and
  ends with cancellation, and a connection slot is given back however the exchange ends. Long polls (a request
  with the ``hramada.long_poll`` extension) hold at most :data:`MAX_LONG_POLLS` of them,
  so that :data:`MAX_CONNECTIONS` ``-`` :data:`MAX_LONG_POLLS` stay for other requests:
  however many groups are watched, a post or a sync waits for short requests only,
  never for a long poll to end.
* At most :data:`MAX_IDLE` idle connections are kept per origin, none idle longer than
  :data:`IDLE_SECONDS` (below the relay's keep-alive timeout) and none the relay has
  closed.
* **One write per request**: head and body leave in one ``send``, one packet on a
  small request, so the relay reads the whole request at once.
* **Every byte the relay sends is parsed by llhttp** (``httptools``, the parser the
  relay itself runs under uvicorn) in its strict mode: status line, header syntax,
  ``Content-Length`` and chunked framing. The head is bounded to
  :data:`MAX_HEAD_BYTES`; the caller bounds the body.
* **Any doubt closes the connection**: an answer not read to its end, a cancelled
  request, a parse error, bytes after the answer, or ``Connection: close`` — only a
  connection whose exchange ended cleanly is used again.

What is sent is checked too: the method and header names are tokens, the target and
header values hold no control characters, so nothing can smuggle a second request.
Only what a relay client sends is spoken: no ``HEAD`` (its answers have no body the
parser could know of), no request bodies but whole ``bytes``.

Failures are httpx's transport errors (``ConnectError``, ``ReadError``,
``WriteError``, ``RemoteProtocolError``, ``LocalProtocolError``), so callers handle
them as they would httpx's own. Only an idempotent request (GET) is sent again, once,
on a new connection, when a kept connection fails before the answer's head arrives
(the relay may have closed it just then).

Proxies are not spoken here: a relay that the environment routes through a proxy
(``HTTPS_PROXY`` and the like, as httpx reads them) is reached through httpx's own
transport instead (:func:`transport_for`).
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
import urllib.request
from collections import deque
from collections.abc import AsyncIterator

import httptools
import httpx

MAX_CONNECTIONS = 16       # connections in use at once per origin (and MAX_IDLE idle)
MAX_LONG_POLLS = 12        # of them, held by long polls at once (the rest: other requests)
MAX_IDLE = 4               # idle connections kept per origin
IDLE_SECONDS = 4.0         # an idle connection older than this is closed, not reused
MAX_HEAD_BYTES = 64 * 1024  # status line and headers of an answer
MAX_HEADERS = 100          # header lines of an answer
READ_BYTES = 64 * 1024
_DEFAULT_PORT = {"http": 80, "https": 443}
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TARGET = re.compile(rb"[\x21-\x7e]+")
_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")

Origin = tuple[str, str, int]


class _Answer:
    """llhttp's callbacks for one answer: the head, body chunks as they come, the end."""

    __slots__ = ("status", "reason", "headers", "head_done", "body", "done", "keep_alive",
                 "until_close", "extra", "too_big", "head_bytes", "parser")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = self.done = self.keep_alive = self.until_close = self.extra = False
        self.too_big = False  # more header lines than MAX_HEADERS, or more bytes than MAX_HEAD_BYTES
        self.head_bytes = 0
        self.body: list[bytes] = []

    def on_message_begin(self) -> None:
        if self.head_done:  # bytes after the answer (or a second one): never reuse this connection
            self.extra = True
        self.headers = []

    def on_status(self, reason: bytes) -> None:
        self.reason += reason
        self.head_bytes += len(reason)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_bytes += len(name) + len(value) + 4
        if len(self.headers) < MAX_HEADERS and self.head_bytes <= MAX_HEAD_BYTES:
            self.headers.append((name, value))
        else:
            self.too_big = True

    def on_headers_complete(self) -> None:
        if self.extra:
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # informational: the answer is still to come
            self.reason = b""
            return
        self.status, self.head_done = status, True
        names = {name.lower() for name, _ in self.headers}
        self.until_close = b"content-length" not in names and b"transfer-encoding" not in names \
            and status not in (204, 304)

    def on_body(self, chunk: bytes) -> None:
        if not self.extra:
            self.body.append(chunk)

    def on_message_complete(self) -> None:
        if self.head_done and not self.done and not self.extra:
            self.done = True
            self.keep_alive = self.parser.should_keep_alive()


class _Slots:
    """At most ``limit`` holders at once; the others wait in arrival order (FIFO), each
    on a future of its own. A slot is handed straight to the first waiter on release."""

    __slots__ = ("limit", "held", "waiters", "loop")

    def __init__(self, limit: int) -> None:
        self.limit, self.held = limit, 0
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.loop = asyncio.get_running_loop()

    async def acquire(self) -> None:
        if self.held < self.limit and not self.waiters:
            self.held += 1
            return
        waiter = self.loop.create_future()
        self.waiters.append(waiter)
        try:
            await waiter
        except BaseException:  # cancelled (or timed out) while waiting
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot came just as the wait ended: pass it on
            elif waiter in self.waiters:
                self.waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: ``held`` stays
                return
        self.held -= 1


class _Connection:
    """One TCP (or TLS) connection and the answer being read on it."""

    __slots__ = ("reader", "writer", "answer", "fed", "idle_since", "loop")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.loop = asyncio.get_running_loop()
        self.answer = _Answer()
        self.fed = 0  # bytes of the current answer fed to the parser
        self.idle_since = 0.0

    def usable(self, now: float) -> bool:
        return (self.loop is asyncio.get_running_loop() and now - self.idle_since < IDLE_SECONDS
                and not self.reader.at_eof() and not self.writer.is_closing())

    def close(self) -> None:
        if not self.loop.is_closed():  # (one kept from an event loop that has ended is just dropped)
            self.writer.close()

    async def read_more(self) -> bool:
        """Read and parse the next bytes; False at the end of the stream."""
        try:
            data = await self.reader.read(READ_BYTES)
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ReadError(f"reading the answer failed ({type(exc).__name__})") from None
        if not data:
            return False
        answer = self.answer
        self.fed += len(data)
        try:
            answer.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if not answer.done:
                raise httpx.RemoteProtocolError(f"the relay broke HTTP/1.1 ({exc})") from None
            answer.extra = True  # garbage after a complete answer: the answer stands
        if answer.too_big or (not answer.head_done and self.fed > MAX_HEAD_BYTES):
            raise httpx.RemoteProtocolError(f"the answer's head is over {MAX_HEAD_BYTES} bytes "
                                            f"or {MAX_HEADERS} lines")
        return True


class _Body(httpx.AsyncByteStream):
    """An answer's body, read from its connection; closing it returns the connection
    to the pool if the exchange ended cleanly, and closes it otherwise."""

    def __init__(self, pool: Http1Transport, origin: Origin, conn: _Connection,
                 slots: list[_Slots]) -> None:
        self._pool, self._origin, self._conn, self._slots = pool, origin, conn, slots

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        answer = conn.answer
        while True:
            if answer.body:
                chunk = b"".join(answer.body)
                answer.body.clear()
                yield chunk
                continue
            if answer.done:
                return
            if not await conn.read_more():
                if answer.until_close:  # a body that ends with the connection
                    answer.until_close = False
                    return
                raise httpx.RemoteProtocolError("the relay ended the answer early")

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool._release(self._origin, conn)
            _free(self._slots)


class Http1Transport(httpx.AsyncBaseTransport):
    """See the module docstring. ``verify`` is the TLS context for ``https`` relays."""

    def __init__(self, verify: ssl.SSLContext) -> None:
        self._tls = verify
        self._idle: dict[Origin, list[_Connection]] = {}
        self._slots: dict[tuple[Origin, bool], _Slots] = {}  # (origin, long poll?)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in _DEFAULT_PORT:
            raise httpx.UnsupportedProtocol(f"a relay is reached over http or https, not {scheme!r}")
        origin = (scheme, url.raw_host.decode("ascii"), url.port or _DEFAULT_PORT[scheme])
        data = _serialize(request)
        slots = [self._slot(origin, False)]
        if request.extensions.get("hramada.long_poll"):
            slots.insert(0, self._slot(origin, True))  # a long-poll slot first, then a connection
        held: list[_Slots] = []
        try:
            for s in slots:
                await s.acquire()
                held.append(s)
            return await self._send(origin, data, request.method == "GET", held)
        except BaseException:
            _free(held)
            raise

    async def _send(self, origin: Origin, data: bytes, retry: bool, slots: list[_Slots]) -> httpx.Response:
        """``retry``: the request is idempotent (GET), safe to send twice."""
        while True:
            conn, reused = self._take(origin), True
            if conn is None:
                conn, reused = await self._connect(origin), False
            try:
                return await self._exchange(origin, conn, data, slots)
            except httpx.TransportError:
                conn.close()
                if not (retry and reused):  # a kept connection the relay may have just closed
                    raise
                retry = False
            except BaseException:
                conn.close()
                raise

    def _slot(self, origin: Origin, poll: bool) -> _Slots:
        slots = self._slots.get((origin, poll))
        if slots is None or slots.loop is not asyncio.get_running_loop():
            slots = self._slots[(origin, poll)] = _Slots(MAX_LONG_POLLS if poll else MAX_CONNECTIONS)
        return slots

    async def _exchange(self, origin: Origin, conn: _Connection, data: bytes,
                        slots: list[_Slots]) -> httpx.Response:
        try:
            conn.writer.write(data)
            await conn.writer.drain()
        except (OSError, ssl.SSLError) as exc:
            raise httpx.WriteError(f"sending the request failed ({type(exc).__name__})") from None
        answer = conn.answer
        while not answer.head_done:
            if not await conn.read_more():
                raise httpx.RemoteProtocolError("the relay closed the connection without answering")
        return httpx.Response(answer.status, headers=answer.headers, stream=_Body(self, origin, conn, slots),
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": answer.reason})

    def _take(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if conn.usable(now):
                return conn
            conn.close()
        return None

    async def _connect(self, origin: Origin) -> _Connection:
        scheme, host, port = origin
        tls = self._tls if scheme == "https" else None
        try:
            reader, writer = await asyncio.open_connection(
                host, port, ssl=tls, server_hostname=host if tls else None, limit=READ_BYTES)
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"could not connect ({type(exc).__name__})") from None
        return _Connection(reader, writer)

    def _release(self, origin: Origin, conn: _Connection) -> None:
        answer = conn.answer
        if answer.done and answer.keep_alive and not answer.extra:
            conn.answer, conn.fed = _Answer(), 0
            idle = self._idle.setdefault(origin, [])
            if len(idle) < MAX_IDLE:
                conn.idle_since = time.monotonic()
                idle.append(conn)
                return
        conn.close()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        loop = asyncio.get_running_loop()
        conns = [conn for kept in idle.values() for conn in kept]
        for conn in conns:
            conn.close()
        conns = [conn for conn in conns if conn.loop is loop]
        if conns:
            await asyncio.wait([asyncio.ensure_future(_closed(c)) for c in conns], timeout=1.0)


def _serialize(request: httpx.Request) -> bytes:
    """The request's head and body as one ``bytes``, after checking every part."""
    method = request.method.encode("ascii")
    target = request.url.raw_path
    if method == b"HEAD" or not _TOKEN.fullmatch(method):
        raise httpx.LocalProtocolError(f"a relay client does not send {request.method!r} requests")
    if not _TARGET.fullmatch(target):
        raise httpx.LocalProtocolError("the request target holds characters a URL cannot")
    body = request.content  # raises httpx.RequestNotRead for a streamed body: never sent here
    head = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        if not _TOKEN.fullmatch(name) or not _VALUE.fullmatch(value):
            raise httpx.LocalProtocolError("a request header holds characters a header cannot")
        head += (name, b": ", value, b"\r\n")
    head.append(b"\r\n")
    return b"".join(head) + body


def _free(held: list[_Slots]) -> None:
    for slots in held:
        slots.release()


async def _closed(conn: _Connection) -> None:
    try:
        await conn.writer.wait_closed()
    except (OSError, ssl.SSLError):
        pass


def transport_for(url: str, verify: ssl.SSLContext) -> httpx.AsyncBaseTransport:
    """The transport for a relay at ``url``: httpx's own (with the proxy) if the
    environment routes ``url`` through a proxy, as httpx would; else :class:`Http1Transport`."""
    target = httpx.URL(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(target.scheme) or proxies.get("all")
    if proxy and not urllib.request.proxy_bypass(target.host):
        return httpx.AsyncHTTPTransport(verify=verify, proxy=proxy)
    return Http1Transport(verify)
