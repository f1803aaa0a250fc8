"""A hostile relay answers with crafted bytes: the client says clearly that the relay
broke the protocol, stores nothing from the answer, and works again once the relay
answers honestly. The relay is a real process behind a real hostile HTTP server."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hramada.client import Hramada
from hramada.client.transport import Relay, RelayProtocolError
from hramada.core.wire import b64e
from hramada.errors import RelayUnreachable

from conftest import PASSPHRASE

from .conftest import answer


async def _endless() -> AsyncIterator[bytes]:
    yield b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
    yield b'{"items": ['
    while True:
        yield b"\x20" * 65536


def _items(cursor: str) -> bytes:
    return answer(200, f'{{"items": [{{"cursor": {cursor}, "ciphertext": "AAAA"}}], "head": 1}}'.encode())


ATTACKS = {
    "overflowing-number": ("/items?", _items("1e999"), "exponent"),
    "huge-integer": ("/items?", _items("9" * 5000), "more than 16 digits"),
    "deep-nesting": ("/items?", answer(200, b"[" * 200_000 + b"]" * 200_000), "lists and objects"),
    "missing-fields": ("/log?", answer(200, b'{"entries": []}'), "lacks the field 'head'"),
    "negative-head": ("/drops/messages?", answer(200, b'{"messages": [], "head": -5}'), "from 0 to 2"),
    "endless-body": ("/items?", _endless, "over 25165824 bytes"),
    "lying-length": ("/log?", answer(200, b"{}", headers={"Content-Length": "9" * 12}), "announced"),
    "gzip-bomb": ("/items?", answer(200, gzip.compress(b"[" * 10_000_000),
                                    headers={"Content-Encoding": "gzip"}), "compressed"),
    "not-json": ("/log?", answer(200, b"<html>hello</html>", content_type="text/html"), "not JSON"),
    "redirect": ("/log?", answer(302, b"", headers={"Location": "http://127.0.0.1:1/"}), "redirect"),
}


def _snapshot(h: Hramada) -> list:
    return [(ref, rec, h.store.log(ref), h.store.items(ref)) for ref, rec in h.store.groups()]


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_hostile_answer_is_a_clear_error_and_stores_nothing(hostile_relay, tmp_path: Path,
                                                              attack: str) -> None:
    route, crafted, why = ATTACKS[attack]

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        try:
            g = (await ales.create_group("Circle", hostile_relay.url)).group
            await ales.post(g, "Meeting at 18:00")
            await ales.sync()
            before = _snapshot(ales)

            hostile_relay.attack = lambda method, target: crafted if route in target else None
            with pytest.raises(RelayProtocolError, match="does not follow the protocol") as info:
                await ales.read(g)
            assert why in str(info.value)
            assert hostile_relay.attacked, "the crafted answer was never asked for"
            [outcome] = await ales.sync()
            assert outcome.status == "active"
            assert _snapshot(ales) == before

            hostile_relay.attack = None
            assert [b.text for b in await ales.read(g)] == ["Meeting at 18:00"]
        finally:
            await ales.close()
    asyncio.run(go())


def test_a_201_without_its_fields_creates_no_group(hostile_relay, tmp_path: Path) -> None:
    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        try:
            hostile_relay.attack = lambda method, target: \
                answer(201, b"{}") if method == "POST" and target == "/v1/mailboxes" else None
            with pytest.raises(RelayProtocolError, match="lacks the field 'mailbox'"):
                await ales.create_group("Circle", hostile_relay.url)
            assert ales.groups() == []
        finally:
            await ales.close()
    asyncio.run(go())


def test_a_relay_that_trickles_its_answer_runs_out_of_time(hostile_relay) -> None:
    async def trickle() -> AsyncIterator[bytes]:
        yield b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        for _ in range(60):
            await asyncio.sleep(0.5)
            yield b" "

    async def go() -> None:
        relay = Relay(hostile_relay.url, timeout=2.0)
        hostile_relay.attack = lambda method, target: trickle
        try:
            with pytest.raises(RelayUnreachable, match="could not reach"):
                await asyncio.wait_for(relay.health(), 10)
        finally:
            await relay.close()
    asyncio.run(go())


def test_a_refused_connection_or_a_cut_off_answer_is_unreachable_not_an_alarm(hostile_relay) -> None:
    with socket.socket() as s:  # a port on which nothing listens any more
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]

    async def go() -> None:
        nowhere = Relay(f"http://127.0.0.1:{closed_port}", timeout=5.0)
        relay = Relay(hostile_relay.url, timeout=5.0)
        hostile_relay.attack = lambda method, target: \
            answer(200, b'{"ok": true, "ver', headers={"Content-Length": "40"})
        try:
            with pytest.raises(RelayUnreachable, match="could not reach"):
                await nowhere.health()
            with pytest.raises(RelayUnreachable, match="could not reach"):
                await relay.health()
        finally:
            await nowhere.close()
            await relay.close()
    asyncio.run(go())


def test_the_cli_reports_a_hostile_answer_without_a_traceback(hostile_relay, tmp_path: Path) -> None:
    env = {**os.environ, "HRAMADA_HOME": str(tmp_path / "ales"), "HRAMADA_PASSPHRASE": PASSPHRASE}

    def hramada(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "hramada.cli.main", *args], env=env, text=True,
                              capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert hramada("init", "--name", "Ales").returncode == 0
    assert hramada("group", "create", "Circle", "--relay", hostile_relay.url).returncode == 0
    hostile_relay.attack = lambda method, target: \
        answer(200, json.dumps({"entries": [], "head": {"seq": 1e999, "hash": b64e(bytes(32))}})
               .replace("Infinity", "1e999").encode()) if "/log?" in target else None
    p = hramada("read", "Circle")
    assert p.returncode == 1, p
    assert "does not follow the protocol" in p.stderr and "Traceback" not in p.stderr
