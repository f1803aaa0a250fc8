"""The real relay: ``python -m hramada.relay serve`` as a subprocess, over real sockets."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import httpx
import pytest

from hramada.core.wire import GENESIS_PREV, b64e, cap_hash, entry_hash

pytestmark = pytest.mark.slow


def test_serves_over_a_socket_and_stops_cleanly(relay_process):
    relay = relay_process("--rate", "0")
    assert urlsplit(relay.url).hostname == "127.0.0.1" and urlsplit(relay.url).port > 0
    mailbox, cap = os.urandom(16), os.urandom(32)
    auth = {"authorization": f"Bearer {b64e(cap)}"}
    with httpx.Client(base_url=relay.url, timeout=10) as client:
        assert client.get("/v1/health").json() == {"ok": True, "version": "0.1.0"}
        r = client.post("/v1/mailboxes", json={"mailbox": b64e(mailbox),
                                               "cap_hash": b64e(cap_hash(cap)),
            "admin": b64e(bytes(32))})
        assert r.status_code == 201
        r = client.post(f"/v1/mailboxes/{b64e(mailbox)}/log", headers=auth, json={
            "seq": 1, "prev": b64e(GENESIS_PREV), "ciphertext": b64e(b"entry")})
        assert r.json()["head"]["hash"] == b64e(entry_hash(mailbox, 1, GENESIS_PREV, b"entry"))
        r = client.post(f"/v1/mailboxes/{b64e(mailbox)}/items", headers=auth,
                        json={"items": [b64e(b"item")]})
        assert r.json() == {"first": 1, "last": 1}
        r = client.get(f"/v1/mailboxes/{b64e(mailbox)}/items", headers=auth)
        assert r.json()["items"] == [{"cursor": 1, "ciphertext": b64e(b"item")}]
        r = client.get("/v1/nothing-here")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        assert "server" not in r.headers  # no software banner
    assert relay.stop() == 0
    out, err = relay.stdout_text(), relay.stderr_text()
    assert out == f"hramada relay listening on {relay.url}\n"
    for secret in (b64e(cap), b64e(mailbox), "Bearer", "authorization", "Authorization"):
        assert secret not in out and secret not in err
    assert "Traceback" not in err
    assert relay.db_path.exists()


def test_racing_appends_over_sockets_exactly_one_wins(relay_process):
    relay = relay_process("--rate", "0")
    mailbox, cap = os.urandom(16), os.urandom(32)
    auth = {"authorization": f"Bearer {b64e(cap)}"}
    log = f"/v1/mailboxes/{b64e(mailbox)}/log"

    async def race() -> list[httpx.Response]:
        clients = [httpx.AsyncClient(base_url=relay.url, timeout=10) for _ in range(16)]
        try:
            r = await clients[0].post("/v1/mailboxes", json={"mailbox": b64e(mailbox),
                                                             "cap_hash": b64e(cap_hash(cap)),
            "admin": b64e(bytes(32))})
            assert r.status_code == 201
            for c in clients:  # open every connection before the race
                assert (await c.get("/v1/health")).status_code == 200
            return await asyncio.gather(*(
                c.post(log, headers=auth, json={"seq": 1, "prev": b64e(GENESIS_PREV),
                                                 "ciphertext": b64e(b"racer %d" % i)})
                for i, c in enumerate(clients)))
        finally:
            for c in clients:
                await c.aclose()

    responses = asyncio.run(race())
    assert sorted(r.status_code for r in responses) == [201] + [409] * 15
    winner = next(r for r in responses if r.status_code == 201).json()["head"]
    assert {str(r.json()["error"]["head"]) for r in responses if r.status_code == 409} == {str(winner)}
    with httpx.Client(base_url=relay.url, timeout=10) as client:
        entries = client.get(log, headers=auth).json()["entries"]
    assert len(entries) == 1 and entries[0]["hash"] == winner["hash"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_answers_long_polls_and_exits_zero(relay_process, sig):
    relay = relay_process("--rate", "0")
    mailbox, cap = os.urandom(16), os.urandom(32)
    auth = {"authorization": f"Bearer {b64e(cap)}"}
    with httpx.Client(base_url=relay.url, timeout=10) as client:
        client.post("/v1/mailboxes", json={"mailbox": b64e(mailbox), "cap_hash": b64e(cap_hash(cap)),
            "admin": b64e(bytes(32))})
    answer: dict = {}

    def long_poll() -> None:
        with httpx.Client(base_url=relay.url, timeout=40) as client:
            r = client.get(f"/v1/mailboxes/{b64e(mailbox)}/wait?timeout=30", headers=auth)
            answer["response"] = r

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(0.5)
    started = time.monotonic()
    assert relay.stop(sig) == 0
    poller.join(timeout=10)
    assert time.monotonic() - started < 8
    assert answer["response"].json() == {"log": 0, "items": 0, "drops": 0, "changed": False}
    assert relay.stdout_text().count("\n") == 1


def test_an_announced_body_over_the_limit_is_refused_before_it_is_sent(relay_process):
    relay = relay_process("--rate", "0")
    url = urlsplit(relay.url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/mailboxes HTTP/1.1\r\nHost: relay\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 413 ")
    assert b'"code":"too_large"' in reply
    with httpx.Client(base_url=relay.url, timeout=10) as client:
        assert client.get("/v1/health").status_code == 200


def test_port_in_use_fails_with_a_message(relay_process, tmp_path):
    relay = relay_process("--rate", "0")
    port = str(urlsplit(relay.url).port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRAMADA_RELAY_")}
    proc = subprocess.run(
        [sys.executable, "-m", "hramada.relay", "serve", "--host", "127.0.0.1", "--port", port,
         "--db", f"sqlite:///{tmp_path / 'second.sqlite3'}"],
        capture_output=True, text=True, timeout=30, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "could not start" in proc.stderr


def test_bad_settings_fail_with_a_message(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRAMADA_RELAY_")}
    env["HRAMADA_RELAY_PORT"] = "not-a-port"
    proc = subprocess.run([sys.executable, "-m", "hramada.relay", "serve"], capture_output=True,
                          text=True, timeout=30, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1 and "HRAMADA_RELAY_PORT" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "hramada.relay", "serve", "--port", "0",
                           "--db", "postgresql://x@y/z"], capture_output=True, text=True,
                          timeout=30, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 1 and "sqlite:///PATH" in proc.stderr
