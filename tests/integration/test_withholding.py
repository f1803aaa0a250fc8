"""A relay that withholds: what it cannot prove is a suspicion (exit status 4), not an
alarm; what it claims is read to its end.

Real relay processes; the lies are told by an HTTP proxy in front of one.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PASSPHRASE
from hramada.client import Hramada

from .relay_proxy import RelayProxy, claim_more_entries

PASS = PASSPHRASE


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HRAMADA_HOME": str(home), "HRAMADA_PASSPHRASE": PASS}
    return subprocess.run([sys.executable, "-m", "hramada.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


@pytest.fixture
def proxy(relay_process):
    p = RelayProxy(relay_process("--rate", "0").url)
    yield p
    p.close()


def test_entries_the_relay_claims_but_never_serves_are_a_suspicion_not_an_alarm(
        proxy, bring_in, tmp_path: Path) -> None:
    async def go() -> None:
        ales = Hramada.init(tmp_path / "a", PASS, "Ales")
        hanna = Hramada.init(tmp_path / "h", PASS, "Hanna")
        try:
            g = (await ales.create_group("Circle", proxy.url)).group
            await bring_in(ales, hanna, g)
            await ales.post(g, "Before the relay started lying")
            proxy.rewrite_log = claim_more_entries(2)
            [info] = await hanna.sync()
            assert info.status == "active" and info.alarm is None
            assert info.suspicion is not None and "does not serve" in info.suspicion
            assert hanna.suspicions() == [("Circle", info.suspicion)]
            assert [b.text for b in await hanna.read(g)] == ["Before the relay started lying"]
            assert hanna.groups()[0].suspicion == info.suspicion  # stored with the group
            proxy.rewrite_log = None
            [info] = await hanna.sync()
            assert info.suspicion is None and info.alarm is None
        finally:
            await ales.close()
            await hanna.close()
    asyncio.run(go())


def test_a_command_that_syncs_a_suspect_group_prints_its_output_then_exits_4(
        proxy, bring_in, tmp_path: Path) -> None:
    async def setup() -> str:
        ales = Hramada.init(tmp_path / "a", PASS, "Ales")
        hanna = Hramada.init(tmp_path / "h", PASS, "Hanna")
        try:
            g = (await ales.create_group("Circle", proxy.url)).group
            await bring_in(ales, hanna, g)
            await ales.post(g, "Shown even while the relay withholds")
            return g
        finally:
            await ales.close()
            await hanna.close()
    g = asyncio.run(setup())
    h = tmp_path / "h"
    proxy.rewrite_log = claim_more_entries(3)

    read = cli(h, "read", g, "--json")
    assert read.returncode == 4
    assert [b["text"] for b in json.loads(read.stdout)] == ["Shown even while the relay withholds"]
    assert "the relay may be withholding" in read.stderr and "Circle" in read.stderr
    [listed] = json.loads(cli(h, "group", "list", "--json").stdout)
    assert listed["suspicion"] and listed["alarm"] is None and listed["status"] == "active"

    proxy.rewrite_log = None
    synced = cli(h, "sync", "--json")
    assert synced.returncode == 0, synced.stderr
    [listed] = json.loads(cli(h, "group", "list", "--json").stdout)
    assert listed["suspicion"] is None


def test_join_requests_past_the_first_page_of_drop_messages_are_all_taken(
        relay_process, tmp_path: Path) -> None:
    relay = relay_process("--rate", "0", env={"HRAMADA_RELAY_DEFAULT_READ_LIMIT": "1"})

    async def go() -> None:
        ales = Hramada.init(tmp_path / "a", PASS, "Ales")
        joiners = [Hramada.init(tmp_path / f"j{i}", PASS, name)
                   for i, name in enumerate(["Hanna", "Mikola", "Zoya"])]
        try:
            g = (await ales.create_group("Circle", relay.url)).group
            codes = [(await ales.invite(g))["code"] for _ in joiners]
            for joiner, code in zip(joiners, codes):
                await joiner.join(code)
            # the relay serves one drop message per page: all three must still arrive
            assert sorted(r.name for r in await ales.requests(g)) == ["Hanna", "Mikola", "Zoya"]
        finally:
            for h in (ales, *joiners):
                await h.close()
    asyncio.run(go())


def test_a_relay_that_shows_the_pinned_entry_with_another_hash_raises_the_alarm(
        proxy, bring_in, tmp_path: Path) -> None:
    async def go() -> None:
        ales = Hramada.init(tmp_path / "a", PASS, "Ales")
        hanna = Hramada.init(tmp_path / "h", PASS, "Hanna")
        try:
            g = (await ales.create_group("Circle", proxy.url)).group
            await bring_in(ales, hanna, g)
            pin_seq, _ = hanna._find(g).record["pin"]

            def other_hash(body: dict) -> dict:
                if body["head"]["seq"] == pin_seq:
                    body["head"]["hash"] = "A" * 43
                return body
            proxy.rewrite_log = other_hash
            [info] = await hanna.sync()
            assert info.status == "alarm" and f"entry {pin_seq}" in info.alarm
            assert info.suspicion is None
        finally:
            await ales.close()
            await hanna.close()
    asyncio.run(go())
