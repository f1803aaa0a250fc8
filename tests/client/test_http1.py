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

from hramada.client.http1 import Http1Transport
from hramada.client.transport import Relay
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
    await relay.create_mailbox(mailbox, cap_hash(cap))
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
