"""One member on two devices, through the client and a real relay: each device posts,
the other reads it, and others see one member; revoking one device rotates the key, and
the revoked device reads nothing written after it while the other goes on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nacl.utils
import pytest

from hramada.client import Hramada
from hramada.core import crypto, wire
from hramada.core.identity import Identity
from hramada.errors import DecryptionError, NotFoundError, PolicyError
from conftest import PASSPHRASE


async def link_by_hand(first: Hramada, second: Hramada, group: str, name: str) -> None:
    """What the linking protocol will do, by hand: the new device makes its device keys
    (core functions only), ``first`` records them through its client API, and hands the
    new device the member key's seed and every generation seed it holds."""
    s = first._find(group)
    me = Identity.from_secrets(s.identity.member.seed, nacl.utils.random(32), nacl.utils.random(32), name,
                                suite=s.log.suite)
    await first.add_device(group, me.device_record(s.group_id))
    second.store.add_group({
        "group": s.group_id, "name": s.name, "relay": s.record["relay"], "mailbox": s.record["mailbox"],
        "me": s.record["me"], "id": list(me.secrets()), "device": name, "suite": s.log.suite,
        "gens": sorted(g.stored() for g in s.keys.generations.values()), "status": "active",
        "pin": [0, wire.GENESIS_PREV], "items": 0, "drops": 0})
    await second.sync()


def test_two_devices_of_one_member_post_and_read_and_one_is_revoked(relay_process, bring_in,
                                                                     tmp_path: Path) -> None:
    relay = relay_process()

    async def go() -> None:
        laptop = Hramada.init(tmp_path / "laptop", PASSPHRASE, "Ales")
        phone = Hramada.init(tmp_path / "phone", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "h", PASSPHRASE, "Hanna")
        try:
            g = (await laptop.create_group("Circle", relay.url, history="all")).group
            await bring_in(laptop, hanna, g)
            codes_before = (await hanna.safety_code(g, "Ales"))["code"]
            await link_by_hand(laptop, phone, g, "phone")
            # others still see one member, with the same safety code
            assert [m.name for m in await hanna.members(g)] == ["Ales", "Hanna"]
            assert (await hanna.safety_code(g, "Ales"))["code"] == codes_before
            assert (await phone.safety_code(g, "Hanna"))["code"] == (await laptop.safety_code(g, "Hanna"))["code"]
            listed = await phone.devices(g)
            assert [(d.name, d.current, d.me) for d in listed] == [("first device", True, False),
                                                                    ("phone", True, True)]
            # each device posts; the other device (and Hanna) reads it as Ales's
            await phone.post(g, "From the phone")
            await laptop.post(g, "From the laptop")
            for reader in (laptop, phone, hanna):
                seen = {(b.text, b.author) for b in await reader.read(g)}
                assert seen == {("From the phone", "Ales"), ("From the laptop", "Ales")}
            # the phone can act as the member: an invitation from it is Ales's
            assert (await phone.invite(g))["code"]
            # revoke the phone from the laptop: the key rotates in the same step
            kept = phone._find(g).keys.generations.copy()
            result = await laptop.revoke_devices(g, ["phone"])
            assert result["generation"] == 1
            assert [(d.name, d.current) for d in await laptop.devices(g)] == [("first device", True),
                                                                              ("phone", False)]
            [info] = await phone.sync()
            assert info.status == "revoked"
            with pytest.raises(PolicyError, match="this device was revoked from the group by Ales"):
                await phone.post(g, "Still here?")
            # the laptop and Hanna go on; every key the phone holds fails on what follows
            await laptop.post(g, "After the phone was revoked")
            await hanna.post(g, "Hanna after the revocation")
            assert {b.text for b in await hanna.read(g)} >= {"After the phone was revoked"}
            assert {b.text for b in await laptop.read(g)} >= {"Hanna after the revocation"}
            a = laptop._find(g)
            page, _ = await laptop._relay(relay.url).read_items(a.record["mailbox"], a.cap, 0)
            assert list(kept) == [0]
            for _, ct in page:
                if int.from_bytes(ct[1:5], "big") == 1:
                    with pytest.raises(DecryptionError):
                        crypto.decrypt(kept[0].content_key, ct[5:29], ct[29:], b"hramada:v1:item\x00" + ct[:5])
            assert sum(int.from_bytes(ct[1:5], "big") == 1 for _, ct in page) == 2
            # the revoked phone's group can be forgotten
            assert phone.forget_group(g)["status"] == "revoked"
        finally:
            await laptop.close()
            await phone.close()
            await hanna.close()
    asyncio.run(go())


def test_the_client_refuses_a_foreign_record_and_a_non_admins_own_revocation(
        relay_process, bring_in, tmp_path: Path) -> None:
    relay = relay_process()

    async def go() -> None:
        ales = Hramada.init(tmp_path / "a", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "h", PASSPHRASE, "Hanna")
        phone = Hramada.init(tmp_path / "hp", PASSPHRASE, "Hanna")
        try:
            g = (await ales.create_group("Circle", relay.url, history="all")).group
            await bring_in(ales, hanna, g)
            # a record certified by someone else's member key is refused before anything is sent
            h = hanna._find(g)
            stranger = Identity.from_secrets(*(nacl.utils.random(32) for _ in range(3)), "spy", suite=h.log.suite)
            await ales.sync()
            head = ales._find(g).log.head
            with pytest.raises(ValueError, match="not certified by your member key"):
                await ales.add_device(g, stranger.device_record(h.group_id))
            await ales.sync()
            assert ales._find(g).log.head == head
            await link_by_hand(hanna, phone, g, "phone")
            # hanna is no admin: the relay takes no key rotation from her, so the client says so
            with pytest.raises(PolicyError, match="ask an admin"):
                await phone.revoke_devices(g, ["first device"])
            # a device can revoke only its own member's devices
            with pytest.raises(NotFoundError):
                await ales.revoke_devices(g, ["phone"])
            assert [d.current for d in await phone.devices(g)] == [True, True]
            assert [m.name for m in await ales.members(g)] == ["Ales", "Hanna"]
            # so an admin revokes it for her: the key rotates, her other device goes on
            done = await ales.revoke_devices(g, ["phone"], member="Hanna")
            assert done["member"] == "Hanna" and len(done["revoked"]) == 1
            await hanna.sync()
            assert [d.current for d in await hanna.devices(g)] == [True, False]
            with pytest.raises(PolicyError, match="no device left"):
                await ales.revoke_devices(g, ["first device"], member="Hanna")
        finally:
            await ales.close()
            await hanna.close()
            await phone.close()
    asyncio.run(go())
