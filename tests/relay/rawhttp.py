"""Raw HTTP/1.1 over a socket, for tests that must send what no HTTP client would:
slow heads, oversized headers, bodies cut short, idle connections."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from .conftest import METRICS_TOKEN


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def connect(url: str, *, source: str | None = None, timeout: float = 10.0) -> socket.socket:
    """A TCP connection to the relay, from ``source`` (another loopback address,
    such as 127.0.0.2) if given."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    if source is not None:
        sock.bind((source, 0))
    sock.connect(address(url))
    return sock


def read_reply(sock: socket.socket) -> Reply | None:
    """One response (None if the relay closed the connection without answering)."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Reply(status, headers, body[:length])


def closed_by_peer(sock: socket.socket) -> bool:
    """True if the relay has closed the connection (after any answer it sent)."""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def get(url: str, path: str, headers: dict[str, str] | None = None, *,
        source: str | None = None) -> Reply | None:
    with connect(url, source=source) as sock:
        lines = [f"GET {path} HTTP/1.1", "Host: relay"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        return read_reply(sock)


def metrics(url: str) -> str:
    reply = get(url, "/v1/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert reply is not None and reply.status == 200, reply
    return reply.body.decode()


def metric(text: str, series: str) -> float:
    """The value of one series in Prometheus text (0 if it is not there)."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def wait_until(predicate, timeout: float = 5.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
