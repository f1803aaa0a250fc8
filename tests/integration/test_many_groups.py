"""A profile in more groups than a relay takes connections from one address: its
client shares a bounded number of connections among them (``client/http1.py``), so
no group is refused, and watching them all still lets a post through at once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import nacl.bindings as sodium
import pytest

from hramada.client import Hramada
from hramada.core import crypto
from conftest import PASSPHRASE

GROUPS = 80  # above the relay's default of 64 connections per address


@pytest.fixture
def cheap_passphrases(monkeypatch: pytest.MonkeyPatch) -> None:
    """New profiles get libsodium's minimum Argon2id cost (setup only)."""
    monkeypatch.setattr(crypto, "ARGON2_OPSLIMIT", sodium.crypto_pwhash_argon2id_OPSLIMIT_MIN)
    monkeypatch.setattr(crypto, "ARGON2_MEMLIMIT", sodium.crypto_pwhash_argon2id_MEMLIMIT_MIN)


async def _in_many_groups(home: Path, url: str) -> tuple[Hramada, list[str]]:
    h = Hramada.init(home, PASSPHRASE, "Ales")
    groups = [(await h.create_group(f"Circle {i}", url)).group for i in range(GROUPS)]
    return h, groups


def test_eighty_groups_on_one_relay_watch_and_sync_without_refusal(
        relay_process, cheap_passphrases, tmp_path: Path) -> None:
    relay = relay_process()  # the default cap per address

    async def go() -> None:
        h, groups = await _in_many_groups(tmp_path / "a", relay.url)
        try:
            assert await h.watch(timeout=1) == []  # no group's long poll refused (none offline)
            infos = await h.sync()
            assert sorted(i.group for i in infos) == sorted(groups)
            assert [i for i in infos if i.offline or i.error] == []
        finally:
            await h.close()
    asyncio.run(go())


def test_watching_eighty_groups_lets_a_post_through(relay_process, cheap_passphrases, tmp_path: Path) -> None:
    relay = relay_process()

    async def go() -> None:
        h, groups = await _in_many_groups(tmp_path / "a", relay.url)
        try:
            watching = asyncio.create_task(h.watch(timeout=20))
            await asyncio.sleep(1.0)  # every long poll the client runs at once is running
            t = time.monotonic()
            await h.post(groups[-1], "Meeting moved to 18:00")
            assert time.monotonic() - t < 5  # not behind a 20 s long poll
            [info] = await h.sync(groups[-1])
            assert info.offline is None and info.error is None
            assert not watching.done()
            watching.cancel()
            with pytest.raises(asyncio.CancelledError):
                await watching
            assert [b.text for b in await h.read(groups[-1])] == ["Meeting moved to 18:00"]
        finally:
            await h.close()
    asyncio.run(go())
