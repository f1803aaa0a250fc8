"""The client's HTTP/1.1 transport against a real relay process: posts share one kept
connection, a connection the relay closed is never used again, and a proxy the
environment names is still used."""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from hramada.client import http1
from hramada.client.http1 import Http1Transport
from hramada.client.transport import Relay
from hramada.core.crypto import SigningKey
from hramada.core.wire import cap_hash

from tests.adversarial.lying_proxy import LyingProxy


class CountingForwarder:
    """A TCP forwarder on 127.0.0.1 that counts the connections it is handed."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.removeprefix("http://").rpartition(":")
        self.upstream = (host, int(port))
        self.connections = 0
        self.url = ""

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @contextmanager
    def serve(self) -> Iterator[CountingForwarder]:
        ready, stop = threading.Event(), []

        async def main() -> None:
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            done = asyncio.Event()
            stop.extend([asyncio.get_running_loop(), done])
            ready.set()
            async with server:
                await done.wait()

        thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
        thread.start()
        assert ready.wait(20), "the forwarder did not start"
        try:
            yield self
        finally:
            loop, done = stop
            loop.call_soon_threadsafe(done.set)
            thread.join(20)


async def _mailbox(relay: Relay) -> tuple[bytes, bytes]:
    mailbox, cap = os.urandom(16), os.urandom(64)
    await relay.create_mailbox(mailbox, cap_hash(cap), SigningKey.from_seed(os.urandom(32)).public.raw)
    return mailbox, cap


def test_posts_one_after_another_share_one_connection(relay_process) -> None:
    relay = relay_process("--rate", "0")
    with CountingForwarder(relay.url).serve() as forward:
        async def go() -> None:
            r = Relay(forward.url)
            try:
                mailbox, cap = await _mailbox(r)
                cursors = [await r.append_items(mailbox, cap, [b"item %d" % i]) for i in range(20)]
                assert cursors == [(i, i) for i in range(1, 21)]
                assert [ct for _, ct in (await r.read_items(mailbox, cap, 0))[0]] == \
                    [b"item %d" % i for i in range(20)]
            finally:
                await r.close()
        asyncio.run(go())
        assert forward.connections == 1


def test_concurrent_requests_each_get_a_connection(relay_process) -> None:
    relay = relay_process("--rate", "0")
    with CountingForwarder(relay.url).serve() as forward:
        async def go() -> None:
            r = Relay(forward.url)
            try:
                mailbox, cap = await _mailbox(r)
                waiting = asyncio.create_task(r.wait(mailbox, cap, 0, 0, 0, timeout=10))
                await asyncio.sleep(0.2)
                assert await r.append_items(mailbox, cap, [b"news"]) == (1, 1)
                answer = await asyncio.wait_for(waiting, 10)
                assert answer["changed"] and answer["items"] == 1
            finally:
                await r.close()
        asyncio.run(go())
        assert forward.connections == 2


def test_a_connection_the_relay_closed_is_not_used_again(relay_process) -> None:
    relay = relay_process("--rate", "0", env={"HRAMADA_RELAY_KEEPALIVE_TIMEOUT": "0.3"})
    with CountingForwarder(relay.url).serve() as forward:
        async def go() -> None:
            r = Relay(forward.url)
            try:
                mailbox, cap = await _mailbox(r)
                for i in range(3):
                    await asyncio.sleep(1.0)  # the relay closes the idle connection meanwhile
                    assert await r.append_items(mailbox, cap, [b"late %d" % i]) == (i + 1, i + 1)
            finally:
                await r.close()
        asyncio.run(go())
        assert forward.connections == 4


def test_a_proxy_named_by_the_environment_is_used(relay_process, monkeypatch) -> None:
    relay = relay_process("--rate", "0")
    proxy = LyingProxy(relay.url)
    for name in ("NO_PROXY", "no_proxy", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    try:
        async def go() -> None:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            r = Relay(relay.url)  # the environment is read here, as httpx reads it
            monkeypatch.delenv("HTTP_PROXY")  # (the proxy's own client must not loop to itself)
            try:
                assert not isinstance(r._transport, Http1Transport)
                assert (await r.health())["ok"] is True
            finally:
                await r.close()
        asyncio.run(go())
        assert ("GET", "/v1/health") in proxy.answers
    finally:
        proxy.stop()


@pytest.mark.parametrize("scheme", ["ftp", "ws"])
def test_only_http_and_https_are_spoken(scheme: str) -> None:
    async def go() -> None:
        transport = Http1Transport(ssl.create_default_context())
        with pytest.raises(httpx.UnsupportedProtocol):
            await transport.handle_async_request(httpx.Request("GET", f"{scheme}://127.0.0.1:1/"))
    asyncio.run(go())


# -- answers a relay should not send, from a scripted server ---------------------------

def _ok(body: bytes = b'{"ok":true}', extra_headers: bytes = b"") -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
            % (len(body), extra_headers)) + body


class ScriptedServer:
    """Answers each request (on any connection) with the next scripted bytes, and
    closes the connection after an answer that says ``Connection: close`` or is
    scripted as ``(bytes, "then close")``. Counts connections and requests."""

    def __init__(self, script: list[bytes | tuple[bytes, str]]) -> None:
        self.script = list(script)
        self.connections = self.requests = 0
        self.url = ""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = [int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                await reader.readexactly(length[0] if length else 0)
                self.requests += 1
                reply = self.script.pop(0)
                close = isinstance(reply, tuple)
                reply = reply[0] if isinstance(reply, tuple) else reply
                writer.write(reply)
                await writer.drain()
                if close or b"Connection: close" in reply:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()


async def _get(transport: Http1Transport, url: str) -> tuple[int, bytes]:
    response = await transport.handle_async_request(httpx.Request("GET", url + "/v1/health"))
    try:
        return response.status_code, b"".join([chunk async for chunk in response.stream])
    finally:
        await response.aclose()


def _scripted(script: list[bytes | tuple[bytes, str]], requests: int) -> tuple[list, ScriptedServer]:
    async def go() -> tuple[list, ScriptedServer]:
        async with ScriptedServer(script) as server:
            transport = Http1Transport(ssl.create_default_context())
            outcomes: list = []
            try:
                for _ in range(requests):
                    try:
                        outcomes.append(await _get(transport, server.url))
                    except httpx.TransportError as exc:
                        outcomes.append(type(exc).__name__)
            finally:
                await transport.aclose()
            return outcomes, server
    return asyncio.run(go())


def test_a_kept_connection_serves_answer_after_answer() -> None:
    outcomes, server = _scripted([_ok(b"1"), _ok(b"2"), _ok(b"3")], 3)
    assert outcomes == [(200, b"1"), (200, b"2"), (200, b"3")]
    assert server.connections == 1


def test_stray_bytes_after_an_answer_retire_its_connection() -> None:
    outcomes, server = _scripted([_ok(b"1") + b"HTTP/1.1 200 OK\r\n", _ok(b"2")], 2)
    assert outcomes == [(200, b"1"), (200, b"2")]
    assert server.connections == 2


def test_connection_close_and_a_body_until_the_end_retire_the_connection() -> None:
    until_end = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"x" * 70_000
    outcomes, server = _scripted([_ok(b"1", b"Connection: close\r\n"), until_end, _ok(b"3")], 3)
    assert outcomes == [(200, b"1"), (200, b"x" * 70_000), (200, b"3")]
    assert server.connections == 3


def test_informational_and_chunked_answers_are_read_and_the_connection_kept() -> None:
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
    outcomes, server = _scripted([b"HTTP/1.1 100 Continue\r\n\r\n" + _ok(b"1"), chunked, _ok(b"3")], 3)
    assert outcomes == [(200, b"1"), (200, b"abcde"), (200, b"3")]
    assert server.connections == 1


BROKEN = {
    "too-many-header-lines": b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 101 + b"Content-Length: 0\r\n\r\n",
    "head-over-64-KiB": b"HTTP/1.1 200 OK\r\nX-A: " + b"b" * 70_000 + b"\r\nContent-Length: 0\r\n\r\n",
    "endless-header-line": b"HTTP/1.1 200 OK\r\nX-A: " + b"b" * 200_000,
    "two-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc",
    "cut-short": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
    "not-a-header": b"HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 0\r\n\r\n",
    "not-http": b"SSH-2.0-OpenSSH_9.6\r\n",
}


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_an_answer_that_breaks_http_is_a_transport_error_and_the_next_request_works(broken: str) -> None:
    outcomes, server = _scripted([(BROKEN[broken], "then close"), _ok(b"next")], 2)
    assert outcomes[0] in ("RemoteProtocolError", "ReadError")
    assert outcomes[1] == (200, b"next")


def test_a_header_or_target_that_could_smuggle_a_request_is_never_sent() -> None:
    async def go() -> None:
        async with ScriptedServer([_ok(), _ok()]) as server:
            transport = Http1Transport(ssl.create_default_context())
            try:
                for request in (httpx.Request("GET", server.url + "/v1/health",
                                              headers={"X-A": "b\r\nX-B: c"}),
                                httpx.Request("HEAD", server.url + "/v1/health")):
                    with pytest.raises(httpx.LocalProtocolError):
                        await transport.handle_async_request(request)
                assert server.connections == 0 and server.requests == 0
            finally:
                await transport.aclose()
    asyncio.run(go())


# -- a bounded number of connections per origin ----------------------------------------

class HoldingServer:
    """Answers ``/hold`` only once :attr:`go` is set, ``/broken`` with bytes that are not
    HTTP, anything else at once. Counts connections open now and at most."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.open = self.most = self.connections = 0
        self.url = ""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open += 1
        self.connections += 1
        self.most = max(self.most, self.open)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                if path == b"/hold":
                    await self.go.wait()
                if path == b"/broken":
                    writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
                    return
                writer.write(_ok())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self.open -= 1
            writer.close()

    async def __aenter__(self) -> HoldingServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.go.set()
        self._server.close()


async def _ask(transport: Http1Transport, url: str, *, poll: bool = False) -> bytes:
    request = httpx.Request("GET", url, extensions={"hramada.long_poll": True} if poll else {})
    response = await transport.handle_async_request(request)
    try:
        return b"".join([chunk async for chunk in response.stream])
    finally:
        await response.aclose()


def _with_server(test) -> None:
    async def go() -> None:
        async with HoldingServer() as server:
            transport = Http1Transport(ssl.create_default_context())
            try:
                async with asyncio.timeout(20):
                    await test(server, transport)
            finally:
                await transport.aclose()
    asyncio.run(go())


def test_requests_beyond_the_bound_wait_for_a_connection_in_turn() -> None:
    async def test(server: HoldingServer, transport: Http1Transport) -> None:
        tasks = [asyncio.create_task(_ask(transport, server.url + "/hold"))
                 for _ in range(3 * http1.MAX_CONNECTIONS)]
        await asyncio.sleep(0.5)
        assert server.open == http1.MAX_CONNECTIONS and not any(t.done() for t in tasks)
        server.go.set()
        assert await asyncio.gather(*tasks) == [b'{"ok":true}'] * len(tasks)
        assert server.most == http1.MAX_CONNECTIONS
    _with_server(test)


def test_a_failed_request_gives_its_connection_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http1, "MAX_CONNECTIONS", 2)

    async def test(server: HoldingServer, transport: Http1Transport) -> None:
        for _ in range(5):  # more failures than connections: none keeps its slot
            with pytest.raises(httpx.RemoteProtocolError):
                await _ask(transport, server.url + "/broken")
        assert server.connections == 5
        assert await _ask(transport, server.url + "/") == b'{"ok":true}'
    _with_server(test)


def test_a_cancelled_or_timed_out_request_gives_its_connection_or_its_turn_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http1, "MAX_CONNECTIONS", 1)

    async def test(server: HoldingServer, transport: Http1Transport) -> None:
        holding = asyncio.create_task(_ask(transport, server.url + "/hold"))
        waiting = asyncio.create_task(_ask(transport, server.url + "/"))
        await asyncio.sleep(0.3)
        assert server.open == 1 and not waiting.done()  # waits its turn, not busy
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.2):  # times out while waiting for its turn
                await _ask(transport, server.url + "/")
        waiting.cancel()  # cancelled while waiting
        holding.cancel()  # cancelled while its answer is awaited
        for task in (waiting, holding):
            with pytest.raises(asyncio.CancelledError):
                await task
        async with asyncio.timeout(2):
            assert await _ask(transport, server.url + "/") == b'{"ok":true}'
        assert server.connections == 2  # the cancelled exchange's connection was closed
    _with_server(test)


def test_long_polls_leave_connections_for_other_requests() -> None:
    async def test(server: HoldingServer, transport: Http1Transport) -> None:
        polls = [asyncio.create_task(_ask(transport, server.url + "/hold", poll=True)) for _ in range(40)]
        await asyncio.sleep(0.5)
        assert server.open == http1.MAX_LONG_POLLS < http1.MAX_CONNECTIONS
        async with asyncio.timeout(2):  # not behind any long poll
            answers = await asyncio.gather(*(_ask(transport, server.url + "/") for _ in range(10)))
        assert answers == [b'{"ok":true}'] * 10 and not any(p.done() for p in polls)
        server.go.set()
        assert len(await asyncio.gather(*polls)) == 40
        assert server.most <= http1.MAX_CONNECTIONS
    _with_server(test)
