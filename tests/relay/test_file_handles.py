"""File-handle exhaustion: the real relay process, started with a low ``ulimit -n``,
flooded with idle connections. It refuses what it cannot hold with a clear 503,
keeps its log to a few lines, and answers again once the flood's connections time
out; even when the operating system itself refuses to hand over connections (the
limit pushed below what is open), the log stays bounded and the relay recovers."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .rawhttp import METRICS_TOKEN, connect, get, metric, metrics, read_reply, wait_until

pytestmark = pytest.mark.slow

NOFILE = 160
LOG_BOUND = 4096  # bytes of stderr a whole flood may add (it once added ~300 MB)


class Relay:
    def __init__(self, proc: subprocess.Popen, url: str, stderr: Path) -> None:
        self.proc, self.url, self.stderr = proc, url, stderr

    def log_size(self) -> int:
        return self.stderr.stat().st_size

    def open_handles(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    """A relay whose file-handle limit is lowered before it starts (``preexec_fn``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HRAMADA_RELAY_")}
    env.update({"HRAMADA_RELAY_HEADER_TIMEOUT": "2", "HRAMADA_RELAY_RATE": "0",
                "HRAMADA_RELAY_MAX_CONNECTIONS_PER_ADDRESS": "1000",
                "HRAMADA_RELAY_METRICS_TOKEN": METRICS_TOKEN})

    def low_limit() -> None:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, hard))

    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hramada.relay", "serve", "--host", "127.0.0.1", "--port", "0",
             "--db", f"sqlite:///{tmp_path / 'relay.sqlite3'}"],
            stdout=o, stderr=e, stdin=subprocess.DEVNULL, env=env, preexec_fn=low_limit)
    try:
        assert wait_until(lambda: out.read_text().endswith("\n") or proc.poll() is not None, 20)
        url = out.read_text().split("listening on ", 1)[1].strip()
        yield Relay(proc, url, err)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def served(url: str, source: str = "127.0.0.2") -> int | None:
    try:
        reply = get(url, "/v1/health", source=source)
    except OSError:
        return None
    return reply.status if reply is not None else None


def test_a_flood_of_idle_connections_gets_503_the_log_stays_small_and_the_relay_recovers(relay):
    before = relay.log_size()
    flood = []
    refused = 0
    for _ in range(2 * NOFILE):
        sock = connect(relay.url, timeout=5)
        flood.append(sock)
    time.sleep(1)
    held = 0
    for sock in flood:
        sock.settimeout(0.2)
        try:
            reply = read_reply(sock)
        except TimeoutError:
            held += 1  # held open, idle
            continue
        if reply is not None and reply.status == 503:
            assert reply.json()["error"]["code"] == "unavailable"
            assert reply.headers["retry-after"]
            refused += 1
    # The relay held what it could without running out of handles, and refused the rest.
    print(f"held {held}, refused {refused}, handles {relay.open_handles()}/{NOFILE}")
    assert held < NOFILE and refused >= NOFILE / 2
    assert relay.open_handles() <= NOFILE
    # Everyone gets an answer meanwhile (a clear 503), and a 200 once the idle
    # connections have been closed by the header timeout.
    assert served(relay.url) in (200, 503)
    assert wait_until(lambda: served(relay.url) == 200, timeout=6)
    for sock in flood:
        sock.close()
    assert relay.log_size() - before < LOG_BOUND
    text = metrics(relay.url)
    assert metric(text, 'hramada_relay_connections_refused_total{reason="unavailable"}') >= NOFILE


def test_when_the_system_refuses_connections_the_log_stays_bounded_and_the_relay_recovers(relay):
    assert served(relay.url) == 200
    before = relay.log_size()
    # Push the limit down to what is open: the operating system refuses every accept.
    open_now = relay.open_handles()
    hard = resource.prlimit(relay.proc.pid, resource.RLIMIT_NOFILE)[1]
    resource.prlimit(relay.proc.pid, resource.RLIMIT_NOFILE, (open_now, hard))
    flood = []
    try:
        for _ in range(300):
            flood.append(connect(relay.url, timeout=5))  # the kernel queues them
        time.sleep(3)
        grown = relay.log_size() - before
    finally:
        resource.prlimit(relay.proc.pid, resource.RLIMIT_NOFILE, (NOFILE, hard))
        for sock in flood:
            sock.close()
    assert 0 < grown < LOG_BOUND
    text = relay.stderr.read_text()
    assert "cannot accept connections" in text and "Traceback" not in text
    assert wait_until(lambda: served(relay.url) == 200, timeout=8)
    assert metric(metrics(relay.url), 'hramada_relay_accept_errors_total{error="OSError"}') >= 1
