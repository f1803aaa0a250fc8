"""With the relay out of reach: reading shows what is stored, posting queues, sync
sends later, and none of it is an alarm. Posting costs one round trip, no sync.

A real relay process behind a proxy that can go away and come back on the same
address.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import PASSPHRASE
from hramada.client import Hramada

from .relay_proxy import RelayProxy

PASS = PASSPHRASE


def cli(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HRAMADA_HOME": str(home), "HRAMADA_PASSPHRASE": PASS}
    return subprocess.run([sys.executable, "-m", "hramada.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=120, input=stdin if stdin is not None else "")


@pytest.fixture
def proxy(relay_process):
    p = RelayProxy(relay_process("--rate", "0").url)
    yield p
    p.close()


async def _circle(proxy: RelayProxy, bring_in, tmp: Path) -> tuple[Hramada, Hramada, str]:
    ales = Hramada.init(tmp / "a", PASS, "Ales")
    hanna = Hramada.init(tmp / "h", PASS, "Hanna")
    g = (await ales.create_group("Circle", proxy.url)).group
    await bring_in(ales, hanna, g)
    return ales, hanna, g


def test_relay_out_of_reach_is_not_an_alarm_reads_show_what_is_stored_and_posts_wait(
        proxy, bring_in, tmp_path: Path) -> None:
    async def go() -> None:
        ales, hanna, g = await _circle(proxy, bring_in, tmp_path)
        try:
            await ales.post(g, "Before the outage")
            await hanna.sync()
            proxy.down()
            [info] = await hanna.sync()
            assert info.status == "active" and info.alarm is None and info.suspicion is None
            assert info.offline and "could not reach" in info.offline
            assert [b.text for b in await hanna.read(g)] == ["Before the outage"]
            assert hanna.info(g).offline
            item = await hanna.post(g, "Written during the outage")
            assert hanna.queued(g) == [item]
            proxy.up()
            [info] = await hanna.sync()
            assert info.offline is None and hanna.queued(g) == []
            assert [b.text for b in await ales.read(g)] == ["Before the outage", "Written during the outage"]
        finally:
            await ales.close()
            await hanna.close()
    asyncio.run(go())


def test_a_post_is_one_round_trip_without_a_sync(proxy, bring_in, tmp_path: Path) -> None:
    async def go() -> None:
        ales, hanna, g = await _circle(proxy, bring_in, tmp_path)
        try:
            await ales.post(g, "warm up")
            seen: list[str] = []
            relay = ales._relay(ales._find(g).record["relay"])
            inner = relay._transport

            class Counting(httpx.AsyncBaseTransport):
                async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                    seen.append(f"{request.method} {request.url.path.rsplit('/', 1)[-1]}")
                    return await inner.handle_async_request(request)
            relay._transport = Counting()
            await ales.post(g, "one request")
            assert seen == ["POST items"]
            relay._transport = inner
        finally:
            await ales.close()
            await hanna.close()
    asyncio.run(go())


def test_the_cli_queues_a_post_while_the_relay_is_down_and_sync_sends_it(
        proxy, bring_in, tmp_path: Path) -> None:
    async def setup() -> str:
        ales, hanna, g = await _circle(proxy, bring_in, tmp_path)
        await ales.post(g, "Stored before the outage")
        await hanna.sync()
        await ales.close()
        await hanna.close()
        return g
    g = asyncio.run(setup())
    a, h = tmp_path / "a", tmp_path / "h"
    proxy.down()

    posted = cli(h, "post", g, "-", "--json", stdin="From standard input\n")
    assert posted.returncode == 0, posted.stderr
    assert json.loads(posted.stdout)["queued"] is True
    text_file = tmp_path / "note.txt"
    text_file.write_text("From a file", encoding="utf-8")
    posted = cli(h, "post", g, "--file", str(text_file))
    assert posted.returncode == 0 and "Queued" in posted.stdout and "hramada sync" in posted.stdout

    read = cli(h, "read", g, "--json")
    assert read.returncode == 0, read.stderr
    assert [b["text"] for b in json.loads(read.stdout)] == ["Stored before the outage"]
    assert "may be out of date" in read.stderr

    proxy.up()
    assert cli(h, "sync").returncode == 0
    texts = [b["text"] for b in json.loads(cli(a, "read", g, "--json").stdout)]
    assert texts == ["Stored before the outage", "From standard input", "From a file"]


def test_watch_reports_an_outage_once_and_then_what_is_new(proxy, bring_in, tmp_path: Path) -> None:
    async def setup() -> str:
        ales, hanna, g = await _circle(proxy, bring_in, tmp_path)
        await hanna.close()
        await ales.close()
        return g

    async def post(text: str) -> None:
        async with Hramada.open(tmp_path / "a", PASS) as ales:
            await ales.post(g, text)
    g = asyncio.run(setup())
    env = {**os.environ, "HRAMADA_HOME": str(tmp_path / "h"), "HRAMADA_PASSPHRASE": PASS,
           "PYTHONFAULTHANDLER": "1"}
    out_path = tmp_path / "watch.out"
    with open(out_path, "w") as out:
        watch = subprocess.Popen([sys.executable, "-m", "hramada.cli.main", "sync", "--watch"], env=env,
                                 stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        def wait_for(text: str, timeout: float = 60) -> str:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                content = out_path.read_text()
                if text in content:
                    return content
                time.sleep(0.2)
            raise AssertionError(f"{text!r} not in watch output:\n{out_path.read_text()}")

        wait_for("Circle: active")
        proxy.down()
        wait_for("cannot be reached")
        time.sleep(12)  # the watch keeps trying meanwhile
        proxy.up()
        asyncio.run(post("After the outage"))
        lines = wait_for("1 new").splitlines()
        assert sum("cannot be reached" in line for line in lines) == 1
        assert len(lines) == len(set(lines))  # never the same line twice
    finally:
        watch.send_signal(signal.SIGINT)
        try:
            watch.wait(timeout=30)
        except subprocess.TimeoutExpired:  # say where it hangs (PYTHONFAULTHANDLER), then fail
            watch.send_signal(signal.SIGABRT)
            watch.wait(timeout=10)
            raise AssertionError("sync --watch did not stop on Ctrl-C:\n" + out_path.read_text()) from None
