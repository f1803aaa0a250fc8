"""A hostile relay on 127.0.0.1: a real HTTP server that passes requests on to a real
relay process and, for the routes a test picks, answers with crafted bytes instead
(malformed JSON, wrong fields, endless bodies, lying headers), as a malicious relay
would."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

Crafted = bytes | Callable[[], AsyncIterator[bytes]]
Attack = Callable[[str, str], Crafted | None]

MAX_STREAMED = 64 * 1024 * 1024  # an endless answer stops here even if the client reads on


def answer(status: int, body: bytes, *, content_type: str = "application/json",
           headers: dict[str, str] | None = None) -> bytes:
    """A complete HTTP/1.1 response with the given body (Content-Length unless given)."""
    head = {"Content-Type": content_type, "Connection": "close", **(headers or {})}
    head.setdefault("Content-Length", str(len(body)))
    lines = "".join(f"{k}: {v}\r\n" for k, v in head.items())
    return f"HTTP/1.1 {status} Crafted\r\n{lines}\r\n".encode("latin-1") + body


@dataclass
class HostileRelay:
    upstream: str
    url: str = ""
    attack: Attack | None = None
    attacked: list[str] = field(default_factory=list)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      client: httpx.AsyncClient) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip()
                           for k, _, v in (line.partition(":") for line in lines[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                crafted = self.attack(method, target) if self.attack else None
                if crafted is None:
                    forward = {k: headers[k] for k in ("authorization", "content-type") if k in headers}
                    r = await client.request(method, target, content=body, headers=forward)
                    writer.write(answer(r.status_code, r.content, headers={"Connection": "keep-alive"}))
                    await writer.drain()
                    continue
                self.attacked.append(f"{method} {target}")
                if isinstance(crafted, bytes):
                    writer.write(crafted)
                    await writer.drain()
                else:
                    sent = 0
                    async for chunk in crafted():
                        writer.write(chunk)
                        await writer.drain()
                        sent += len(chunk)
                        if sent > MAX_STREAMED:
                            break
                return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            return
        finally:
            writer.close()

    def serve(self) -> Iterator[HostileRelay]:
        ready = threading.Event()
        stop: list = []

        async def main() -> None:
            async with httpx.AsyncClient(base_url=self.upstream, timeout=60) as client:
                server = await asyncio.start_server(
                    lambda r, w: self._handle(r, w, client), "127.0.0.1", 0)
                port = server.sockets[0].getsockname()[1]
                self.url = f"http://127.0.0.1:{port}"
                done = asyncio.Event()
                stop.extend([asyncio.get_running_loop(), done])
                ready.set()
                async with server:
                    await done.wait()

        thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
        thread.start()
        if not ready.wait(20):
            raise RuntimeError("the hostile relay did not start")
        try:
            yield self
        finally:
            loop, done = stop
            loop.call_soon_threadsafe(done.set)
            thread.join(20)


@pytest.fixture
def hostile_relay(relay_process) -> Iterator[HostileRelay]:
    """A real relay process with a hostile HTTP server in front of it, both on
    127.0.0.1; set ``.attack = lambda method, target: bytes or None`` to lie."""
    relay = relay_process()
    yield from HostileRelay(relay.url).serve()
