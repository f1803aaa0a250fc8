"""Sends JSON bombs to a relay from a process of its own (so that the sender's work
does not slow down the measuring test's own client):

    python json_bomber.py URL SECONDS SENDERS PATH [AUTHORIZATION] ...

Each of SENDERS threads posts, over and over for SECONDS, a 7 MB JSON body of
700,000 keys to one of the PATHs (in turn), then prints one status per bomb (0 when
the connection ended without an answer), one per line.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from urllib.parse import urlsplit

KEYS = 700_000


def json_bomb() -> bytes:
    return b"{" + b",".join(b'"%x":0' % i for i in range(KEYS)) + b"}"


def status_of(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        try:
            chunk = sock.recv(4096)
        except OSError:
            return 0
        if not chunk:
            return 0
        data += chunk
    return int(data.split()[1])


def send(host: str, port: int, request_head: bytes, body: bytes) -> int:
    try:
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(request_head)
            try:
                sock.sendall(body)
            except OSError:
                pass
            return status_of(sock)
    except OSError:
        return 0


def main(argv: list[str]) -> None:
    url, seconds, senders, targets = argv[0], float(argv[1]), int(argv[2]), argv[3:]
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    body = json_bomb()
    heads = []
    for target in targets:
        path, _, auth = target.partition(" ")
        head = f"POST {path} HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\n"
        if auth:
            head += f"Authorization: {auth}\r\n"
        heads.append((head + f"Content-Length: {len(body)}\r\n\r\n").encode())
    statuses: list[int] = []
    stop = time.monotonic() + seconds

    def sender(i: int) -> None:
        while time.monotonic() < stop:
            statuses.append(send(host, port, heads[i % len(heads)], body))

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sys.stdout.write("".join(f"{s}\n" for s in statuses))


if __name__ == "__main__":
    main(sys.argv[1:])
