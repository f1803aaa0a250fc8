"""The admission commands that append an entry do not sync first: they act on the
verified local log and append at its head, and the relay's position check tells them
when the log has moved on; then they catch up, check the command again and build
anew. Counted at a real relay process (its own metrics), and shown right on devices
that are behind: another admin took and vouched for the request, or rotated the key.
"""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from conftest import PASSPHRASE
from hramada.client import Hramada
from hramada.errors import PolicyError

TOKEN = "admission-round-trips-metrics"


def requests_so_far(url: str) -> Counter:
    """(method, route template) -> requests the relay has answered."""
    req = urllib.request.Request(f"{url}/v1/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        text = r.read().decode()
    out: Counter = Counter()
    for route, method, n in re.findall(
            r'^hramada_relay_requests_total\{route="([^"]*)",method="([^"]*)",status="[^"]*"\} (\S+)$', text, re.M):
        if route != "/v1/metrics":
            out[(method, route.removeprefix("/v1/mailboxes/{mailbox}").removeprefix("/v1"))] += int(float(n))
    return out


@pytest.fixture
def relay(relay_process):
    return relay_process("--rate", "0", env={"HRAMADA_RELAY_METRICS_TOKEN": TOKEN})


def test_each_admission_command_makes_only_the_requests_it_needs(relay, tmp_path: Path) -> None:
    async def go() -> None:
        ales = Hramada.init(tmp_path / "a", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "h", PASSPHRASE, "Hanna")
        try:
            g = (await ales.create_group("Circle", relay.url)).group  # since-join: an admit rotates

            async def counted(call):
                before = requests_so_far(relay.url)
                result = await call
                return result, requests_so_far(relay.url) - before
            code, sent = await counted(ales.invite(g))
            assert sent == Counter({("POST", "/drops"): 1, ("POST", "/log"): 1})
            join, sent = await counted(hanna.join(code["code"]))
            assert join.status == "pending"
            assert sent == Counter({("POST", "/drops/{drop}/messages"): 1})
            # the request is still in the drop: read the drops, take it into the log, close the drop, vouch
            info, sent = await counted(ales.vouch(g, join.request))
            assert info.vouches == 1
            assert sent == Counter({("GET", "/drops/messages"): 1, ("POST", "/log"): 2,
                                    ("POST", "/drops/{drop}/used"): 1})
            # the item cut-off comes from items this device has verified: read them, rotate, welcome
            member, sent = await counted(ales.admit(g, join.request))
            assert member.name == "Hanna"
            assert sent == Counter({("GET", "/items"): 1, ("POST", "/log"): 1,
                                    ("POST", "/drops/{drop}/messages"): 1})
            [info] = await hanna.sync()
            assert info.status == "active" and info.role == "member"
        finally:
            await ales.close()
            await hanna.close()
    asyncio.run(go())


async def _two_admins(relay_url: str, tmp: Path) -> tuple[Hramada, Hramada, str]:
    ales = Hramada.init(tmp / "a", PASSPHRASE, "Ales")
    hanna = Hramada.init(tmp / "h", PASSPHRASE, "Hanna")
    g = (await ales.create_group("Circle", relay_url, history="since-join")).group
    join = await hanna.join((await ales.invite(g))["code"])
    await ales.vouch(g, join.request)
    await ales.admit(g, join.request)
    await hanna.sync()
    await ales.set_role(g, "Hanna", "admin")
    await hanna.sync()
    return ales, hanna, g


def test_an_admin_whose_device_is_behind_admits_a_request_another_admin_took_and_vouched_for(
        relay, tmp_path: Path) -> None:
    async def go() -> None:
        ales, hanna, g = await _two_admins(relay.url, tmp_path)
        mira = Hramada.init(tmp_path / "m", PASSPHRASE, "Mira")
        try:
            join = await mira.join((await hanna.invite(g))["code"])
            await hanna.vouch(g, join.request)  # Hanna takes the request into the log and vouches
            head = ales._find(g).log.head[0]
            member = await ales.admit(g, join.request)  # Ales has seen neither the invitation nor the request
            assert member.name == "Mira"
            s = ales._find(g)
            assert s.log.head[0] == head + 4  # invite, request, vouch (Hanna's), the admitting rotation
            assert [r.status for r in s.log.requests.values()].count("admitted") == 2
            [info] = await ales.sync()
            assert info.warnings == [] and info.alarm is None and info.suspicion is None
            [info] = await mira.sync()
            assert info.status == "active" and info.members == 3
            [info] = await hanna.sync()
            assert info.warnings == [] and info.members == 3
        finally:
            for h in (ales, hanna, mira):
                await h.close()
    asyncio.run(go())


def test_a_device_that_missed_a_rotation_still_invites_and_admits(relay, tmp_path: Path) -> None:
    async def go() -> None:
        ales, hanna, g = await _two_admins(relay.url, tmp_path)
        mira = Hramada.init(tmp_path / "m", PASSPHRASE, "Mira")
        try:
            generation = hanna._find(g).log.generation
            await hanna.rotate(g)  # Ales's device still holds the retired capability
            code = await ales.invite(g)
            assert ales._find(g).log.generation == generation + 1
            join = await mira.join(code["code"])
            await ales.vouch(g, join.request)
            await ales.admit(g, join.request)
            [info] = await mira.sync()
            assert info.status == "active" and info.members == 3
            [info] = await hanna.sync()
            assert info.warnings == [] and info.alarm is None
        finally:
            for h in (ales, hanna, mira):
                await h.close()
    asyncio.run(go())


def test_a_vouch_from_a_device_behind_is_checked_again_after_catching_up(relay, tmp_path: Path) -> None:
    async def go() -> None:
        ales, hanna, g = await _two_admins(relay.url, tmp_path)
        mira = Hramada.init(tmp_path / "m", PASSPHRASE, "Mira")
        try:
            join = await mira.join((await hanna.invite(g))["code"])
            await ales.requests(g)  # Ales's device takes the request into the log and sees it pending
            await hanna.vouch(g, join.request)
            await hanna.admit(g, join.request)
            head = ales._find(g).log.head[0]
            with pytest.raises(PolicyError, match="already admitted"):
                await ales.vouch(g, join.request)  # built on a head that moved on: caught up, refused
            s = ales._find(g)
            assert s.log.head[0] == head + 2  # Hanna's vouch and admit, pulled; nothing of Ales's appended
            assert s.log.requests[bytes.fromhex(join.request)].status == "admitted"
        finally:
            for h in (ales, hanna, mira):
                await h.close()
    asyncio.run(go())


def test_a_refusal_on_a_device_behind_is_given_only_after_a_sync(relay, tmp_path: Path) -> None:
    async def go() -> None:
        ales = Hramada.init(tmp_path / "a", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "h", PASSPHRASE, "Hanna")
        mira = Hramada.init(tmp_path / "m", PASSPHRASE, "Mira")
        try:
            g = (await ales.create_group("Circle", relay.url, vouches=2, history="all")).group
            join = await hanna.join((await ales.invite(g))["code"])
            await ales.vouch(g, join.request)
            await ales.admit(g, join.request)
            await hanna.sync()
            join = await mira.join((await hanna.invite(g))["code"])
            await hanna.vouch(g, join.request)
            await ales.requests(g)
            await hanna.sync()
            await ales.vouch(g, join.request)  # the second vouch, which Hanna's device has not seen
            await ales.set_role(g, "Hanna", "admin")  # nor this
            # by Hanna's log she may not admit, and Mira has 1 of 2 vouches: both out of date
            member = await hanna.admit(g, join.request)
            assert member.name == "Mira"
            with pytest.raises(PolicyError, match="already admitted"):
                await hanna.admit(g, join.request)  # refused after a sync too
            [info] = await mira.sync()
            assert info.status == "active" and info.members == 3
        finally:
            for h in (ales, hanna, mira):
                await h.close()
    asyncio.run(go())
