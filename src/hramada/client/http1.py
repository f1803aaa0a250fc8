"""HTTP/1.1 to a relay: an ``httpx`` transport on asyncio streams, parsed by h11.

:class:`Http1Transport` is what :class:`hramada.client.transport.Relay` uses to reach a
relay over the network (tests hand the relay an ``httpx.ASGITransport`` instead). It
does what the relay protocol needs and nothing else, which makes a request cost a
fraction of the CPU of httpx's general-purpose pool:

* **Keep-alive.** Connections are kept per origin (scheme, host, port) and reused; a
  request takes an idle connection or opens one, so concurrent requests (a long poll
  beside a post) each have their own. At most :data:`MAX_IDLE` idle connections are
  kept per origin, none idle longer than :data:`IDLE_SECONDS` (below the relay's
  keep-alive timeout) and none the relay has closed.
* **One write per request**: head and body leave in one ``send``, one packet on a
  small request, so the relay reads the whole request at once.
* **h11 parses every byte the relay sends** (status line, headers, body framing),
  with the head bounded to :data:`MAX_HEAD_BYTES`. The caller bounds the body.
* **Any doubt closes the connection**: an answer not read to its end, a cancelled
  request, a protocol error or ``Connection: close`` — only a connection whose
  exchange h11 saw finish cleanly is used again.

Failures are httpx's transport errors (``ConnectError``, ``ReadError``,
``WriteError``, ``RemoteProtocolError``), so callers handle them as they would
httpx's own. Only an idempotent request (GET) is sent again, once, on a new
connection, when a kept connection fails before the answer's head arrives (the relay
may have closed it just then).

Proxies are not spoken here: a relay that the environment routes through a proxy
(``HTTPS_PROXY`` and the like, as httpx reads them) is reached through httpx's own
transport instead (:func:`transport_for`).
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.request
from collections.abc import AsyncIterator

import h11
import httpx

MAX_IDLE = 4            # idle connections kept per origin
IDLE_SECONDS = 4.0      # an idle connection older than this is closed, not reused
MAX_HEAD_BYTES = 64 * 1024  # status line and headers of an answer
READ_BYTES = 64 * 1024
_DEFAULT_PORT = {"http": 80, "https": 443}

Origin = tuple[str, str, int]


class _Connection:
    """One TCP (or TLS) connection and its h11 state."""

    __slots__ = ("reader", "writer", "h11", "idle_since")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.idle_since = 0.0

    def usable(self, now: float) -> bool:
        return (now - self.idle_since < IDLE_SECONDS and not self.reader.at_eof()
                and not self.writer.is_closing())

    def close(self) -> None:
        self.writer.close()

    async def next_event(self) -> h11.Event | type[h11.PAUSED]:
        """The next h11 event of the answer, reading from the socket as needed."""
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(f"the relay broke HTTP/1.1: {exc}") from None
            if event is not h11.NEED_DATA:
                return event
            try:
                data = await self.reader.read(READ_BYTES)
            except (OSError, ssl.SSLError) as exc:
                raise httpx.ReadError(f"reading the answer failed ({type(exc).__name__})") from None
            self.h11.receive_data(data)  # b"" is the end of the stream


class _Body(httpx.AsyncByteStream):
    """An answer's body, read from its connection; closing it returns the connection
    to the pool if the exchange finished cleanly, and closes it otherwise."""

    def __init__(self, pool: Http1Transport, origin: Origin, conn: _Connection) -> None:
        self._pool, self._origin, self._conn = pool, origin, conn
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        while not self._done:
            event = await conn.next_event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._done = True
            else:  # ConnectionClosed or PAUSED mid-body: h11 raises for a short body first
                raise httpx.RemoteProtocolError("the relay ended the answer early")

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool._release(self._origin, conn, clean=self._done)


class Http1Transport(httpx.AsyncBaseTransport):
    """See the module docstring. ``verify`` is the TLS context for ``https`` relays."""

    def __init__(self, verify: ssl.SSLContext) -> None:
        self._tls = verify
        self._idle: dict[Origin, list[_Connection]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.scheme
        if scheme not in _DEFAULT_PORT:
            raise httpx.UnsupportedProtocol(f"a relay is reached over http or https, not {scheme!r}")
        origin = (scheme, url.raw_host.decode("ascii"), url.port or _DEFAULT_PORT[scheme])
        message = h11.Request(method=request.method, target=url.raw_path, headers=request.headers.raw)
        body = request.content
        retry = request.method == "GET"  # idempotent: safe to send twice
        while True:
            conn, reused = self._take(origin), True
            if conn is None:
                conn, reused = await self._connect(origin), False
            try:
                return await self._exchange(origin, conn, message, body)
            except httpx.TransportError:
                conn.close()
                if not (retry and reused):  # a kept connection the relay may have just closed
                    raise
                retry = False
            except BaseException:
                conn.close()
                raise

    async def _exchange(self, origin: Origin, conn: _Connection, message: h11.Request,
                        body: bytes) -> httpx.Response:
        try:
            data = conn.h11.send(message)
            if body:
                data += conn.h11.send(h11.Data(data=body))
            data += conn.h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc)) from None
        try:
            conn.writer.write(data)
            await conn.writer.drain()
        except (OSError, ssl.SSLError) as exc:
            raise httpx.WriteError(f"sending the request failed ({type(exc).__name__})") from None
        while True:
            event = await conn.next_event()
            if isinstance(event, h11.Response):
                break
            if isinstance(event, h11.ConnectionClosed):
                raise httpx.RemoteProtocolError("the relay closed the connection without answering")
            if not isinstance(event, h11.InformationalResponse):
                raise httpx.RemoteProtocolError("the relay answered out of turn")
        return httpx.Response(event.status_code, headers=event.headers,
                              stream=_Body(self, origin, conn),
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": event.reason})

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

    def _release(self, origin: Origin, conn: _Connection, clean: bool) -> None:
        c = conn.h11
        if clean and c.our_state is h11.DONE and c.their_state is h11.DONE:
            c.start_next_cycle()
            idle = self._idle.setdefault(origin, [])
            if len(idle) < MAX_IDLE:
                conn.idle_since = time.monotonic()
                idle.append(conn)
                return
        conn.close()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        conns = [conn for kept in idle.values() for conn in kept]
        for conn in conns:
            conn.close()
        if conns:
            await asyncio.wait([asyncio.ensure_future(_closed(c)) for c in conns], timeout=1.0)


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
