"""A relay that lies: every client detects it, says so, and accepts nothing forged.

The honest relay runs as a real process; the lies are told by a transport between
the client and it, which rewrites what the relay answers (as a malicious relay would).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Callable

import httpx
import pytest

from hramada.client import Hramada
from hramada.client.session import GroupSession
from hramada.core import items as items_mod
from hramada.core.identity import Identity
from hramada.core.wire import b64d, b64e
from hramada.errors import VerificationError
from conftest import PASSPHRASE

Rewrite = Callable[[dict], dict]


class LyingRelay(httpx.AsyncBaseTransport):
    """Passes requests to the real relay and rewrites log answers with ``self.rewrite``."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.rewrite: Rewrite | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.rewrite is None or request.method != "GET" or not request.url.path.endswith("/log"):
            return response
        body = json.loads(await response.aread())
        new = json.dumps(self.rewrite(body)).encode()
        return httpx.Response(response.status_code, headers={"content-type": "application/json"}, content=new)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def two_members(bring_in):
    """``await two_members(url, tmp, liar)``: Ales's group with Hanna in it, Hanna's
    client talking to the relay through ``liar``."""
    async def make(url: str, tmp: Path, liar: LyingRelay) -> tuple[Hramada, Hramada, str]:
        ales = Hramada.init(tmp / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp / "hanna", PASSPHRASE, "Hanna", transport=liar)
        g = (await ales.create_group("Circle", url, vouches=1, history="all")).group
        await bring_in(ales, hanna, g)
        return ales, hanna, g
    return make


def _flip(entry: dict, index: int = 10) -> None:
    raw = bytearray(b64d(entry["ciphertext"]))
    raw[index % len(raw)] ^= 0x01
    entry["ciphertext"] = b64e(bytes(raw))


def _drop_first(body: dict) -> dict:
    body["entries"] = body["entries"][1:]
    return body


def _swap(body: dict) -> dict:
    if len(body["entries"]) >= 2:
        e = body["entries"]
        e[0], e[1] = e[1], e[0]
    return body


def _flip_first(body: dict) -> dict:
    if body["entries"]:
        _flip(body["entries"][0])
    return body


REPLAY: dict = {}


def _replay_old(body: dict) -> dict:
    if body["entries"]:
        old = dict(REPLAY["entry"])
        body["entries"][0] = {**old, "seq": body["entries"][0]["seq"]}
    return body


@pytest.mark.parametrize("attack", [_flip_first, _drop_first, _swap, _replay_old],
                         ids=["flipped-byte", "dropped-entry", "reordered", "replayed-old-entry"])
def test_tampered_log_is_detected(relay_process, two_members, tmp_path: Path, attack: Rewrite) -> None:
    relay = relay_process()

    async def go() -> None:
        liar = LyingRelay()
        ales, hanna, g = await two_members(relay.url, tmp_path, liar)
        try:
            REPLAY["entry"] = (await _raw_log(relay.url, ales, g))[1]
            for _ in range(3):
                await ales.invite(g)
            liar.rewrite = attack
            [info] = await hanna.sync()
            assert info.status == "alarm", info
            assert info.alarm
            with pytest.raises(VerificationError, match="stopped"):
                await hanna.members(g)
            # the honest member is unaffected
            assert len(await ales.members(g)) == 2
        finally:
            await ales.close()
            await hanna.close()
    asyncio.run(go())


def test_rolled_back_log_is_detected(relay_process, two_members, tmp_path: Path) -> None:
    relay = relay_process()

    async def go() -> None:
        liar = LyingRelay()
        ales, hanna, g = await two_members(relay.url, tmp_path, liar)
        try:
            for _ in range(2):
                await ales.invite(g)
            await hanna.sync()
            seen = GroupSession.load(hanna.store, 1).log.head[0]

            def shorter(body: dict) -> dict:
                body["entries"] = [e for e in body["entries"] if e["seq"] <= seen - 2]
                body["head"] = {"seq": seen - 2, "hash": b64e(bytes(32))}
                return body
            liar.rewrite = shorter
            [info] = await hanna.sync()
            assert info.status == "alarm" and "rolled the log back" in info.alarm
        finally:
            await ales.close()
            await hanna.close()
    asyncio.run(go())


async def _raw_log(url: str, h: Hramada, g: str) -> list[dict]:
    s = h._find(g)
    async with httpx.AsyncClient() as c:
        r = await c.get(f"{url}/v1/mailboxes/{b64e(s.record['mailbox'])}/log",
                        headers={"Authorization": f"Bearer {b64e(s.cap)}"})
        return r.json()["entries"]


async def _inject_item(url: str, h: Hramada, g: str, ciphertext: bytes) -> None:
    """What a malicious relay can do: put any bytes into the item stream."""
    s = h._find(g)
    async with httpx.AsyncClient() as c:
        r = await c.post(f"{url}/v1/mailboxes/{b64e(s.record['mailbox'])}/items",
                         headers={"Authorization": f"Bearer {b64e(s.cap)}"},
                         json={"items": [b64e(ciphertext)]})
        assert r.status_code == 201


def test_item_signed_by_non_member_is_rejected(relay_process, two_members, tmp_path: Path) -> None:
    relay = relay_process()

    async def go() -> None:
        ales, hanna, g = await two_members(relay.url, tmp_path, LyingRelay())
        try:
            s = ales._find(g)
            outsider = Identity.from_secrets(os.urandom(32), os.urandom(32), os.urandom(32))
            _, ct = items_mod.seal_item(group=s.group_id, kind="bulletin", body={"title": "", "text": "forged"},
                                        author=outsider.signing, seq=1, head=s.log.head, time=1,
                                        generation=s.generation, nonce=os.urandom(24))
            await _inject_item(relay.url, ales, g, ct)
            [info] = await hanna.sync()
            assert info.status == "alarm" and "not a member" in info.alarm
        finally:
            await ales.close()
            await hanna.close()
    asyncio.run(go())


def test_item_by_removed_member_after_removal_is_rejected(relay_process, two_members, bring_in,
                                                         tmp_path: Path) -> None:
    relay = relay_process()

    async def go() -> None:
        ales, hanna, g = await two_members(relay.url, tmp_path, LyingRelay())
        mikola = Hramada.init(tmp_path / "mikola", PASSPHRASE, "Mikola")
        try:
            await bring_in(ales, mikola, g)
            before = hanna._find(g)  # Hanna's keys and view, kept before her removal
            await ales.remove(g, "Hanna")
            _, ct = items_mod.seal_item(group=before.group_id, kind="bulletin",
                                        body={"title": "", "text": "backdated"},
                                        author=before.identity.signing, seq=1, head=before.log.head, time=1,
                                        generation=before.generation, nonce=os.urandom(24))
            await _inject_item(relay.url, ales, g, ct)
            [info] = await mikola.sync()  # refused and named, not shown; the group goes on
            assert info.status == "active"
            assert any("posted after their removal" in w for w in info.warnings)
            assert [b.text for b in await mikola.read(g)] == []
        finally:
            for p in (ales, hanna, mikola):
                await p.close()
    asyncio.run(go())
