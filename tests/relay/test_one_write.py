"""An answer leaves the relay in one write: uvicorn writes a response's head and body
separately, and the connection layer joins what one turn of the event loop wrote, so
a small answer is one packet (the client wakes once). Closing sends what is pending
first."""

from __future__ import annotations

import asyncio
import socket

from hramada.relay.connections import _OneWrite


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[object] = []
        self.closing = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.events.append(bytes(data))

    def close(self) -> None:
        self.events.append("close")
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7


def test_a_head_and_a_body_written_in_one_turn_leave_in_one_write() -> None:
    async def go() -> list[object]:
        inner = RecordingTransport()
        t = _OneWrite(inner, asyncio.get_running_loop())
        t.write(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n")
        t.write(b"{}")
        assert inner.events == []  # nothing leaves before the turn ends
        await asyncio.sleep(0)
        t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        await asyncio.sleep(0)
        assert t.get_write_buffer_size() == 7  # everything else is the connection's own
        return inner.events
    assert asyncio.run(go()) == [b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}",
                                 b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"]


def test_closing_sends_what_is_pending_first_and_nothing_after() -> None:
    async def go() -> list[object]:
        inner = RecordingTransport()
        t = _OneWrite(inner, asyncio.get_running_loop())
        t.write(b"HTTP/1.1 408 Request Timeout\r\n")
        t.write(b"connection: close\r\n\r\n")
        t.close()
        t.write(b"late")
        await asyncio.sleep(0)
        return inner.events
    assert asyncio.run(go()) == [b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\n\r\n", "close"]


def test_a_kept_connection_answers_request_after_request(relay_process) -> None:
    relay = relay_process("--rate", "0")
    host, port = relay.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        answers = b""
        for i in range(1, 4):
            sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: relay\r\n\r\n")
            while answers.count(b"HTTP/1.1 200") < i or not answers.endswith(b"}"):
                answers += sock.recv(65536)
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n")
        while chunk := sock.recv(65536):
            answers += chunk
    assert answers.count(b"HTTP/1.1 200 OK") == 4 and answers.count(b'"ok":true') == 4
