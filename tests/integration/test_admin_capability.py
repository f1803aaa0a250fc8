"""Only an admin rotates the relay capability: hostile members through the client API,
against a real relay process.

Every member holds the mailbox capability (it derives from the group's log seed), so
before the relay kept an admin set, any member could append a rotation naming a
``new_cap_hash`` and lock everyone else out of the mailbox. Now the relay takes a
capability or admin-set change only with the signature of a registered admin's
relay-admin key, and the admin set follows the log: a demoted admin, or one who left or
was removed, can rotate nothing from the entry that ended their role on.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from conftest import PASSPHRASE
from hramada.client.sealing import OsSealer
from hramada.client.api import Hramada
from hramada.client.session import GroupSession
from hramada.core import admins, build, wire
from hramada.core.keys import Generation
from hramada.errors import RelayError


async def _close(*people: Hramada) -> None:
    for p in people:
        await p.close()


async def _texts(h: Hramada, g: str) -> list[str]:
    return sorted(b.text for b in await h.read(g))


async def _refused(h: Hramada, s: GroupSession, ne: build.NewEntry,
                   claim: admins.AdminClaim | None) -> RelayError:
    """Send ``ne`` with ``claim`` as a modified client would; return the relay's refusal."""
    relay = h._relay(s.record["relay"])
    try:
        await relay.append_log(s.record["mailbox"], s.cap, ne.seq, ne.prev, ne.ciphertext,
                               ne.new_cap_hash, claim)
    except RelayError as exc:
        return exc
    raise AssertionError("the relay took a capability change from someone who is not an admin")


async def _head(h: Hramada, s: GroupSession) -> tuple[int, bytes]:
    """The relay's log head, as someone who holds the capability reads it."""
    _, head = await h._relay(s.record["relay"]).read_log(s.record["mailbox"], s.cap, s.log.head[0])
    return head


def _rotation_at(s: GroupSession, head: tuple[int, bytes]) -> build.NewEntry:
    """A capability rotation at ``head`` signed with the group key in force (the relay
    checks nothing else of an entry): what anyone holding the capability can send."""
    gen = s.keys.generations[max(s.keys.generations)]
    seq, prev = head
    ct = wire.sign_append(gen.append_key, s.record["mailbox"], seq + 1, prev, os.urandom(400))
    return build.NewEntry(seq + 1, prev, ct, Generation(gen.number + 1, os.urandom(32)), "rotate")


async def _all_fine(*people: tuple[Hramada, str]) -> None:
    for h, g in people:
        [info] = await h.sync(g)
        assert info.status == "active" and info.alarm is None and info.offline is None, info


def test_a_member_cannot_rotate_the_relay_capability_or_make_herself_admin(relay_process, bring_in,
                                                                           tmp_path: Path) -> None:
    """Hanna, a plain member, sends a real key rotation (built by her client's own code)
    with a ``new_cap_hash``: with no admin signature, with her own relay-admin key's, and
    naming herself the mailbox's admin. The relay refuses each (403 ``not_admin``) and
    keeps the capability; the group goes on — posting, admitting, a real rotation."""
    relay = relay_process()

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna")
        mikola = Hramada.init(tmp_path / "mikola", PASSPHRASE, "Mikola")
        oksana = Hramada.init(tmp_path / "oksana", PASSPHRASE, "Oksana")
        try:
            g = (await ales.create_group("Circle", relay.url)).group
            await bring_in(ales, hanna, g)
            await bring_in(ales, mikola, g)
            await hanna.sync(g)
            s = hanna._find(g)
            mine = s.identity.relay_admin.public.raw
            rotation = build.rotation(s.log, author=s.identity, keys=s.keys, seed=os.urandom(32),
                                      ephemeral_secret=os.urandom(32), nonce=os.urandom(24),
                                      auth_nonce=os.urandom(24), items_cutoff={}, sealer=OsSealer())
            attempts = [None, admins.admin_claim(s.identity, s.record["mailbox"], rotation, None),
                        admins.admin_claim(s.identity, s.record["mailbox"], rotation, [mine])]
            role = build.entry(s.log, "role", {"member": s.identity.public.id, "role": "admin"},
                               author=s.identity, keys=s.keys, nonce=os.urandom(24))
            for claim in attempts:
                refused = await _refused(hanna, s, rotation, claim)
                assert refused.status == 403 and refused.code == "not_admin", refused
            refused = await _refused(hanna, s, role, admins.admin_claim(s.identity, s.record["mailbox"],
                                                                        role, [mine]))
            assert refused.status == 403 and refused.code == "not_admin", refused
            assert await _head(hanna, s) == s.log.head  # nothing was stored

            await _all_fine((ales, g), (hanna, g), (mikola, g))
            await hanna.post(g, "still here")
            await bring_in(ales, oksana, g)
            rotated = await ales.rotate(g)
            await ales.post(g, "after the rotation")
            for reader in (hanna, mikola, oksana):
                [info] = await reader.sync(g)
                assert info.status == "active" and info.alarm is None and info.generation == rotated["generation"]
            assert await _texts(mikola, g) == ["after the rotation", "still here"]
        finally:
            await _close(ales, hanna, mikola, oksana)
    asyncio.run(go())


def test_a_demoted_admin_can_no_longer_rotate_the_relay_capability(relay_process, bring_in,
                                                                   tmp_path: Path) -> None:
    """Made admin, Hanna rotates (her relay-admin key came with her join request, and
    the promotion registered it); demoted, she cannot, from the demoting entry on."""
    relay = relay_process()

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna")
        try:
            g = (await ales.create_group("Circle", relay.url)).group
            await bring_in(ales, hanna, g)
            await ales.set_role(g, "Hanna", "admin")
            generation = ales._find(g).log.generation
            assert (await hanna.rotate(g))["generation"] == generation + 1  # a promoted admin rotates
            await ales.set_role(g, "Hanna", "member")
            await hanna.sync(g)
            s = hanna._find(g)
            assert s.me.role == "member"
            rotation = _rotation_at(s, s.log.head)
            refused = await _refused(hanna, s, rotation,
                                     admins.admin_claim(s.identity, s.record["mailbox"], rotation, None))
            assert refused.status == 403 and refused.code == "not_admin", refused
            await _all_fine((ales, g), (hanna, g))
            assert (await ales.rotate(g))["generation"] == generation + 2
            await _all_fine((hanna, g))
        finally:
            await _close(ales, hanna)
    asyncio.run(go())


def test_an_admin_who_left_or_was_removed_can_no_longer_rotate_the_relay_capability(
        relay_process, bring_in, tmp_path: Path) -> None:
    """Hanna, an admin, leaves: until the next rotation she still holds the capability,
    but her leaving took her key out of the relay's admin set, so she cannot rotate it.
    Mikola, an admin, is removed: his capability is retired with the removal."""
    relay = relay_process()

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna")
        mikola = Hramada.init(tmp_path / "mikola", PASSPHRASE, "Mikola")
        try:
            g = (await ales.create_group("Circle", relay.url)).group
            await bring_in(ales, hanna, g)
            await bring_in(ales, mikola, g)
            await ales.set_role(g, "Hanna", "admin")
            await ales.set_role(g, "Mikola", "admin")
            await hanna.sync(g)
            await mikola.sync(g)
            left = hanna._find(g)  # her keys, kept after she leaves
            await hanna.leave(g)
            rotation = _rotation_at(left, await _head(hanna, left))
            refused = await _refused(hanna, left, rotation,
                                     admins.admin_claim(left.identity, left.record["mailbox"], rotation, None))
            assert refused.status == 403 and refused.code == "not_admin", refused

            removed = mikola._find(g)
            await ales.remove(g, "Mikola")
            rotation = _rotation_at(removed, await _head(ales, ales._find(g)))
            refused = await _refused(mikola, removed, rotation,
                                     admins.admin_claim(removed.identity, removed.record["mailbox"],
                                                        rotation, None))
            assert refused.status == 403, refused  # retired with the removal, or not an admin
            await _all_fine((ales, g))
            assert [m.name for m in await ales.members(g)] == ["Ales"]
            await ales.rotate(g)
            await _all_fine((ales, g))
        finally:
            await _close(ales, hanna, mikola)
    asyncio.run(go())
