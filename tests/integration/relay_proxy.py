"""An HTTP proxy on 127.0.0.1 in front of a real relay process: it can lie about log
answers (as a malicious relay would) or go away and come back on the same address (a
relay out of reach). Clients in other processes (the CLI) reach it like any relay."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

Rewrite = Callable[[dict], dict]


class RelayProxy:
    def __init__(self, relay_url: str) -> None:
        target = urlsplit(relay_url)
        self._target = (target.hostname, target.port)
        self.rewrite_log: Rewrite | None = None
        self.rewrite_path: Callable[[str], str] | None = None  # a request's path, changed before forwarding
        self.stored_pages: list[str] = []  # the digests (as in paths) of the key-block pages stored
        self._server: ThreadingHTTPServer | None = None
        self._open: set[socket.socket] = set()
        self.port = 0
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                proxy._open.add(self.connection)

            def finish(self) -> None:
                proxy._open.discard(self.connection)
                super().finish()

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("authorization", "content-type", "content-length")}
                conn = http.client.HTTPConnection(*proxy._target, timeout=60)
                path = proxy.rewrite_path(self.path) if proxy.rewrite_path is not None else self.path
                try:
                    conn.request(self.command, path, body=body, headers=headers)
                    answer = conn.getresponse()
                    data, status = answer.read(), answer.status
                finally:
                    conn.close()
                if self.command == "POST" and self.path.endswith("/pages") and status in (200, 201):
                    proxy.stored_pages.append(json.loads(data)["digest"])
                rewrite = proxy.rewrite_log
                if rewrite is not None and self.command == "GET" and self.path.split("?")[0].endswith("/log") \
                        and status == 200:
                    data = json.dumps(rewrite(json.loads(data))).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _forward

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a connection cut by down() mid-answer

        server = Server(("127.0.0.1", self.port), Handler)
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def down(self) -> None:
        """Stop answering: connections to the address are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for conn in list(self._open):  # and kept-alive connections break
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.down()


def claim_more_entries(extra: int) -> Rewrite:
    """A relay that says its log has ``extra`` more entries than it serves."""
    def rewrite(body: dict) -> dict:
        body["head"]["seq"] += extra
        return body
    return rewrite
