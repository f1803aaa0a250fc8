"""The real relay process under hostile traffic, over real sockets on 127.0.0.1:
oversized and endless heads, idle and slow connections, too many connections from
one address, bodies cut short. Each limit holds, and other clients keep being served.

Timeouts are shortened through the environment (1 s in place of 10 s) so that each
test takes a few seconds; the defaults are checked in ``test_config.py``.
"""

from __future__ import annotations

import time

import pytest

from .rawhttp import (
    METRICS_TOKEN,
    closed_by_peer,
    connect,
    get,
    metric,
    metrics,
    read_reply,
    wait_until,
)

pytestmark = pytest.mark.slow

FAST = {"HRAMADA_RELAY_HEADER_TIMEOUT": "1", "HRAMADA_RELAY_BODY_TIMEOUT": "1",
        "HRAMADA_RELAY_KEEPALIVE_TIMEOUT": "1", "HRAMADA_RELAY_METRICS_TOKEN": METRICS_TOKEN}


@pytest.fixture
def relay(relay_process):
    return relay_process("--rate", "0", env=FAST)


def healthy(url: str, source: str | None = None) -> bool:
    reply = get(url, "/v1/health", source=source)
    return reply is not None and reply.status == 200


def rss_mib(pid: int) -> float:
    """The peak resident memory of a process (VmHWM), in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def send_head(sock, extra: bytes) -> None:
    sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: relay\r\n" + extra + b"\r\n")


def test_headers_over_16_kib_in_total_are_refused_with_431(relay):
    for size, status in ((15 * 1024, 200), (17 * 1024, 431)):
        lines = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 1000) for i in range(size // 1000))
        with connect(relay.url) as sock:
            send_head(sock, lines)
            reply = read_reply(sock)
            assert reply is not None and reply.status == status, size
            if status == 431:
                assert reply.json()["error"]["code"] == "headers_too_large"
                assert closed_by_peer(sock)
    assert healthy(relay.url)


def test_one_endless_header_is_refused_before_it_is_buffered(relay):
    with connect(relay.url) as sock:
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: relay\r\nX-Big: ")
        sent = 0
        chunk = b"a" * 65536
        try:
            while sent < 128 * 1024 * 1024:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = read_reply(sock)
    # Refused after about the limit (plus what the sockets' buffers took), far
    # before 128 MiB; the relay did not grow with it.
    assert sent < 16 * 1024 * 1024
    assert reply is None or reply.status == 431
    assert healthy(relay.url)
    assert rss_mib(relay.pid) < 120
    text = metrics(relay.url)
    assert metric(text, 'hramada_relay_connections_refused_total{reason="headers_too_large"}') == 1


def test_more_than_100_header_lines_are_refused_with_431(relay):
    for count, status in ((99, 200), (101, 431)):
        with connect(relay.url) as sock:
            send_head(sock, b"".join(b"X-%d: 1\r\n" % i for i in range(count - 1)))
            reply = read_reply(sock)
            assert reply is not None and reply.status == status, count
    assert healthy(relay.url)


def test_a_request_target_over_8_kib_is_refused_with_414(relay):
    with connect(relay.url) as sock:
        sock.sendall(b"GET /v1/health?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: relay\r\n\r\n")
        reply = read_reply(sock)
    assert reply is not None and reply.status == 414
    assert reply.json()["error"]["code"] == "uri_too_long"


def test_a_slow_head_is_cut_off_at_the_header_timeout(relay):
    with connect(relay.url) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /v1/health HTTP/1.1\r\n")
        reply = None
        try:
            for _ in range(30):  # one header byte every 0.2 s, for up to 6 s
                sock.sendall(b"X")
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = read_reply(sock)
        elapsed = time.monotonic() - started
    assert elapsed < 5  # 1 s timeout, checked once a second, on a loaded machine
    assert reply is None or reply.status == 408
    assert healthy(relay.url)
    assert metric(metrics(relay.url), 'hramada_relay_timeouts_total{phase="headers"}') == 1


def test_idle_and_kept_alive_connections_are_closed(relay):
    idle = [connect(relay.url) for _ in range(20)]
    kept = connect(relay.url)
    send_head(kept, b"")
    assert read_reply(kept).status == 200
    started = time.monotonic()
    try:
        assert all(closed_by_peer(sock) for sock in idle)
        assert closed_by_peer(kept)
        assert time.monotonic() - started < 5
    finally:
        for sock in idle + [kept]:
            sock.close()
    text = metrics(relay.url)
    assert metric(text, 'hramada_relay_timeouts_total{phase="idle"}') == 20


def test_a_stalled_body_is_cut_off_at_the_body_timeout(relay):
    with connect(relay.url) as sock:
        sock.sendall(b"POST /v1/mailboxes HTTP/1.1\r\nHost: relay\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"mail")
        started = time.monotonic()
        assert closed_by_peer(sock)
        assert time.monotonic() - started < 5
    text = metrics(relay.url)
    assert metric(text, 'hramada_relay_timeouts_total{phase="body"}') == 1
    assert "status=\"500\"" not in text
    assert "Traceback" not in relay.stderr_text()


def test_connections_over_the_per_address_cap_are_refused_others_still_served(relay_process):
    relay = relay_process("--rate", "0", env={**FAST, "HRAMADA_RELAY_HEADER_TIMEOUT": "30",
                                              "HRAMADA_RELAY_MAX_CONNECTIONS_PER_ADDRESS": "5"})
    held = [connect(relay.url) for _ in range(5)]
    try:
        time.sleep(0.3)
        with connect(relay.url) as extra:
            reply = read_reply(extra)
            assert reply is not None and reply.status == 429
            assert reply.json()["error"]["code"] == "too_many_connections"
            assert int(reply.headers["retry-after"]) >= 1
        # Another address is served while the first one holds its five.
        assert healthy(relay.url, source="127.0.0.2")
    finally:
        for sock in held:
            sock.close()
    # Once they are closed, the first address is served again.
    assert wait_until(lambda: healthy(relay.url), timeout=5)


def test_a_client_gone_mid_body_is_a_client_abort_not_an_error(relay):
    for _ in range(3):
        with connect(relay.url) as sock:
            sock.sendall(b"POST /v1/mailboxes HTTP/1.1\r\nHost: relay\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                         b"{\"mailbox\": \"AAAA")
            time.sleep(0.1)
    time.sleep(0.3)
    text = metrics(relay.url)
    assert metric(text, 'hramada_relay_client_aborts_total{route="/v1/mailboxes"}') == 3
    assert 'status="500"' not in text and 'code="internal"' not in text
    err = relay.stderr_text()
    assert "Traceback" not in err and "internal error" not in err
    assert err.count("client went away") == 3


def test_a_content_length_of_thousands_of_digits_is_refused_clearly(relay):
    # Thousands of leading zeros before the true length of "{}"; thousands of nines
    # (refused by the HTTP parser as an overflow); not a number at all.
    cases = ((b"0" * 5000 + b"2", 400, "missing field"), (b"9" * 5000, 400, "not valid HTTP"),
             (b"12x", 400, "not valid HTTP"))
    for length, status, message in cases:
        with connect(relay.url) as sock:
            sock.sendall(b"POST /v1/mailboxes HTTP/1.1\r\nHost: relay\r\n"
                         b"Content-Type: application/json\r\nContent-Length: " + length +
                         b"\r\n\r\n{}")
            reply = read_reply(sock)
        assert reply is not None and reply.status == status, (length[:10], reply)
        assert message in reply.json()["error"]["message"]
    assert 'status="500"' not in metrics(relay.url)
    assert "Traceback" not in relay.stderr_text()


def test_forwarded_for_is_believed_from_nobody_unless_a_proxy_is_configured(relay_process):
    # By default even a local peer's X-Forwarded-For is ignored: it cannot dodge the limit.
    plain = relay_process("--rate", "1", "--burst", "3", env=FAST)
    statuses = [get(plain.url, "/v1/health", {"X-Forwarded-For": f"198.51.100.{i}"}).status
                for i in range(6)]
    assert statuses[:3] == [200] * 3 and 429 in statuses[3:]
    # With 127.0.0.1 configured as a trusted proxy, each forwarded address has its own
    # bucket (and the proxy is exempt from the per-address connection cap).
    proxied = relay_process("--rate", "1", "--burst", "3", env={
        **FAST, "HRAMADA_RELAY_TRUSTED_PROXIES": "127.0.0.1"})
    statuses = [get(proxied.url, "/v1/health", {"X-Forwarded-For": f"198.51.100.{i}"}).status
                for i in range(6)]
    assert statuses == [200] * 6
