"""A lying relay, a member colluding with it, a revoked device and a hostile member
against the devices of others. Real clients (the public API) and a real relay process;
some clients reach it through a lying proxy (``lying_proxy.py``).

* A ``device-add`` for someone else's member — signed by a device key the holder of the
  group key made, or certified by a key that is not the member's — is void or ignored
  on every device, with its reason code; the device it names is no device of anyone,
  and an item it signs is refused.
* A relay that withholds a ``device-revoke`` from one member while serving the items
  written after it cannot keep that member posting under the retired key: the items
  whose head is beyond the member's log are a suspicion, and the member's client syncs
  and refuses to post while it stands.
* A revoked device's old capability writes nothing; what a colluding relay serves from
  it anyway is refused (its item void, its entry an alarm: no holder of the key in force
  signed it); it reads nothing written after its revocation.
* A non-admin member cannot revoke another member's device: the relay takes no rotation
  from them, and a revocation appended as a plain entry is void for every reader.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from conftest import PASSPHRASE
from hramada.client import Hramada
from hramada.core import build, crypto, items as items_mod
from hramada.core.entries import seal_entry
from hramada.core.wire import b64d, b64e, entry_hash
from hramada.core.identity import Identity
from hramada.errors import DecryptionError, PolicyError, RelayError
from integration.test_devices import link_by_hand

from .lying_proxy import Answer, add_items, chain, withhold_log_from


def _stranger(name: str) -> Identity:
    """Keys someone made up: a member key and device keys no member certified."""
    return Identity.from_secrets(os.urandom(32), os.urandom(32), os.urandom(32), name)


def _warnings(h: Hramada, g: str, code: str) -> list[dict]:
    return [params for c, params in h._find(g).log.warnings if c == code]


async def _close(*people: Hramada) -> None:
    for p in people:
        await p.close()


def test_a_device_add_for_someone_elses_member_is_refused_by_every_reader(relay_process, bring_in,
                                                                          tmp_path: Path) -> None:
    """Mikola holds the capability and the group key and colludes with the relay. He
    appends a ``device-add`` naming Hanna as its author, signed by a device key he made
    (void ``not-a-device``), and one from his own device whose record claims a member
    key that is not his (ignored ``device-cert-invalid``). Every device — Hanna's too —
    keeps Hanna with her one device; an item signed by the made-up device is refused."""
    relay = relay_process()

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna")
        mikola = Hramada.init(tmp_path / "mikola", PASSPHRASE, "Mikola")
        try:
            g = (await ales.create_group("Circle", relay.url)).group
            await bring_in(ales, hanna, g)
            await bring_in(ales, mikola, g)
            await mikola.sync()
            m = mikola._find(g)
            hanna_id = hanna._find(g).member_id
            fake = _stranger("hanna phone")
            # 1. signed by a device key Mikola made, in Hanna's name
            seq, prev = m.log.head
            ct = seal_entry(mailbox=m.log.mailbox, group=m.group_id, seq=seq + 1, prev=prev, kind="device-add",
                            body={"device": fake.device_record(m.group_id, m.log.suite).to_value()},
                            author=hanna_id, device=fake.signing, generation=m.generation, nonce=os.urandom(24),
                            suite=m.log.suite)
            await mikola._relay(relay.url).append_log(m.record["mailbox"], m.cap, seq + 1, prev, ct)
            await mikola.sync()
            # 2. from Mikola's own device, a record certified by another member key
            other = _stranger("hanna laptop")
            ne = build.device_add(m.log, other.device_record(m.group_id, m.log.suite), author=m.identity,
                                  keys=m.keys, nonce=os.urandom(24))
            await mikola._relay(relay.url).append_log(m.record["mailbox"], m.cap, ne.seq, ne.prev, ne.ciphertext)
            for reader in (ales, hanna, mikola):
                [info] = await reader.sync(g)
                assert info.status == "active" and info.alarm is None
                void = {"seq": seq + 1, "by": hanna_id, "reason": "not-a-device"}
                assert void in _warnings(reader, g, "void-entry")
                [ignored] = [w for w in _warnings(reader, g, "ignored-entry") if w["seq"] == ne.seq]
                assert (ignored["kind"], ignored["reason"], ignored["by"]) == ("device-add", "device-cert-invalid",
                                                                                m.member_id)
                s = reader._find(g)
                assert fake.device_id not in s.log.devices and other.device_id not in s.log.devices
                assert [d.name for d in s.log.members[hanna_id].devices.values()] == ["first device"]
                assert len(info.warnings) >= 2  # rendered for the person
            assert [d.name for d in await hanna.devices(g)] == ["first device"]
            # Hanna goes on as before
            await hanna.post(g, "still mine")
            assert [b.text for b in await ales.read(g)] == ["still mine"]
            # an item signed by the made-up device, sealed under the group key, is refused
            s = mikola._find(g)
            _, forged = items_mod.seal_item_linked(group=s.group_id, kind="bulletin",
                                                   body={"title": "", "text": "Hanna says: meet at noon"},
                                                   author=fake.signing, seq=1, head=s.log.head,
                                                   time=1_767_225_600_000, generation=s.generation,
                                                   nonce=os.urandom(24), prev=items_mod.ZERO_LINK)
            await mikola._relay(relay.url).append_items(s.record["mailbox"], s.cap, [forged])
            [info] = await ales.sync(g)
            assert info.status == "alarm" and "not current at its position" in info.alarm
            stored = [v.get("body") for _, v in ales.store.items(ales._find(g).ref)]
            assert "meet at noon" not in json.dumps(stored)
        finally:
            await _close(ales, hanna, mikola)
    asyncio.run(go())


def _accept_retired_capability(sent: list[bytes], relay_url: str, current_cap: Callable[[], bytes]) -> tuple:
    """A lying relay that keeps up the pretence that a client's retired capability is
    current: it serves the items (as it holds them: read here with ``current_cap()``),
    keeps every item the client sends (answering 201) and shows it no join requests.
    Returns (rewrite recording the item requests, lie)."""
    def rewrite(method: str, path: str, body: bytes) -> bytes:
        if method == "POST" and path.endswith("/items"):
            sent.append(body)
        return body

    def lie(a: Answer) -> None:
        if a.status != 403:
            return
        if a.method == "POST" and a.path.endswith("/items"):
            a.status, a.body = 201, {"first": 1000, "last": 1000}
        elif a.method == "GET" and a.path.endswith("/items"):
            r = httpx.get(relay_url + a.path, params=a.query,
                          headers={"Authorization": f"Bearer {b64e(current_cap())}"})
            a.status, a.body = r.status_code, r.json()
        elif a.method == "GET" and a.path.endswith("/drops/messages"):
            a.status, a.body = 200, {"messages": [], "head": 0}
    return rewrite, lie


def test_a_withheld_revocation_is_suspected_and_nothing_is_posted_under_the_retired_key(
        relay_process, lying_proxy, bring_in, tmp_path: Path) -> None:
    """Ales revokes his phone; the relay hides that ``device-revoke`` from Hanna while
    serving her Ales's later item (and would keep anything she sends under the retired
    capability, for the phone to read). Hanna's client reports the items it cannot place
    as a suspicion, and refuses to post while it stands: nothing leaves her device. Once
    the relay serves the log, she sees the revocation and posts under the new key."""
    relay = relay_process()
    proxy = lying_proxy(relay.url)

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        phone = Hramada.init(tmp_path / "phone", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna", transport=proxy.transport())
        try:
            g = (await ales.create_group("Circle", relay.url, history="all")).group
            await bring_in(ales, hanna, g)
            await link_by_hand(ales, phone, g, "phone")
            await hanna.post(g, "before")
            revoke_at = ales._find(g).log.head[0] + 1
            sent: list[bytes] = []
            rewrite, accept = _accept_retired_capability(sent, relay.url, lambda: ales._find(g).cap)
            proxy.rewrite, proxy.lie = rewrite, chain(withhold_log_from(revoke_at), accept)
            assert (await ales.revoke_devices(g, ["phone"]))["generation"] == 1
            await ales.post(g, "after the phone was revoked")
            [info] = await hanna.sync(g)
            assert info.status == "active" and info.generation == 0
            assert info.suspicion == f"log entries after entry {revoke_at - 1}, which 1 items refer to"
            assert hanna.suspicions() == [("Circle", info.suspicion)]
            # she does not go on silently: nothing is sealed under the retired key, nothing sent
            with pytest.raises(PolicyError, match="may be hiding a key change"):
                await hanna.post(g, "meet at noon")
            assert sent == [] and hanna.queued(g) == []
            assert hanna._find(g).record.get("next_item") == 2  # no number used
            # the relay serves the log again: she sees the revocation and posts under the new key
            proxy.lie = accept
            await hanna.post(g, "meet at noon")
            s = hanna._find(g)
            assert s.log.generation == 1 and s.log.devices[phone._find(g).device_id].until == revoke_at
            assert hanna.info(g).suspicion is None
            assert [json.loads(b)["items"] for b in sent] and all(
                int.from_bytes(b64d(i)[1:5], "big") == 1 for b in sent for i in json.loads(b)["items"])
            assert "meet at noon" in [b.text for b in await ales.read(g)]
            [info] = await phone.sync()
            assert info.status == "revoked"
        finally:
            await _close(ales, phone, hanna)
    asyncio.run(go())


def test_a_revoked_device_writes_nothing_and_reads_nothing_after_its_revocation(
        relay_process, lying_proxy, bring_in, tmp_path: Path) -> None:
    """After the revocation, the phone's keys and capability are those of the retired
    generation. The relay refuses its entry and its item (retired capability). A relay
    colluding with it serves them to Hanna anyway: the item is void (numbered past the
    phone's bound in the revocation), the entry raises the alarm (signed with the retired
    append key: the relay made it up). What is written after the revocation does not
    open with any key the phone holds, and the relay's own capability check serves the
    phone no item."""
    relay = relay_process()
    proxy = lying_proxy(relay.url)

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        phone = Hramada.init(tmp_path / "phone", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna", transport=proxy.transport())
        try:
            g = (await ales.create_group("Circle", relay.url, history="all")).group
            await bring_in(ales, hanna, g)
            await link_by_hand(ales, phone, g, "phone")
            await phone.post(g, "from the phone")
            p = phone._find(g)
            old_head, old_gen, old_cap, old_keys = p.log.head, p.generation, p.cap, dict(p.keys.generations)
            next_item, last_link = p.record["next_item"], p.record["last_link"]
            await ales.revoke_devices(g, ["phone"])
            await ales.post(g, "after the revocation")
            head = ales._find(g).log.head
            mailbox = p.record["mailbox"]
            # an entry and an item with the phone's old keys: the relay refuses both
            entry = seal_entry(mailbox=mailbox, group=p.group_id, seq=head[0] + 1, prev=head[1], kind="role",
                               body={"member": p.member_id, "role": "admin"}, author=p.member_id,
                               device=p.identity.signing, generation=old_gen, nonce=os.urandom(24),
                               suite=p.log.suite)
            _, item = items_mod.seal_item_linked(group=p.group_id, kind="bulletin",
                                                 body={"title": "", "text": "phone after revocation"},
                                                 author=p.identity.signing, seq=next_item, head=old_head,
                                                 time=1_767_225_600_000, generation=old_gen,
                                                 nonce=os.urandom(24), prev=last_link)
            r = phone._relay(relay.url)
            for attempt in (r.append_log(mailbox, old_cap, head[0] + 1, head[1], entry),
                            r.append_items(mailbox, old_cap, [item])):
                with pytest.raises(RelayError) as refused:
                    await attempt
                assert refused.value.status == 403 and refused.value.code == "retired_capability"
            # a colluding relay serves them to Hanna anyway. The item, first: refused
            proxy.lie = add_items(lambda a: [(10**4, item)])
            [info] = await hanna.sync(g)
            assert info.status == "active" and info.generation == 1
            assert hanna._find(g).record["void_items"] == [
                f"item {next_item} of Ales was posted after their removal (the rotation that retired its key "
                f"ends their items at {next_item - 1})"]
            assert [b.text for b in await hanna.read(g)] == ["from the phone", "after the revocation"]

            def serve_entry(a: Answer) -> None:
                if a.method == "GET" and a.path.endswith("/log") and a.status == 200:
                    digest = b64e(entry_hash(mailbox, head[0] + 1, head[1], entry))
                    if int(a.query.get("after", 0)) <= head[0]:
                        a.body["entries"].append({"seq": head[0] + 1, "prev": b64e(head[1]),
                                                  "ciphertext": b64e(entry), "hash": digest})
                    a.body["head"] = {"seq": head[0] + 1, "hash": digest}
            # the entry: signed with the retired generation's append key, which no holder of
            # the key in force would use — the relay made it up or changed it: the alarm
            proxy.lie = serve_entry
            [info] = await hanna.sync(g)
            assert info.status == "alarm" and "the relay changed it or made it up" in info.alarm
            assert hanna._find(g).log.head == head
            # the phone: revoked, and nothing written after opens with its keys
            [info] = await phone.sync()
            assert info.status == "revoked"
            with pytest.raises(RelayError) as refused:  # the relay serves it no item
                await r.read_items(mailbox, old_cap, 0)
            assert refused.value.code == "retired_capability"
            # and every item the relay holds, handed to it anyway, stays closed after the revocation
            page, _ = await r.read_items(mailbox, ales._find(g).cap, 0)
            after = [ct for _, ct in page if int.from_bytes(ct[1:5], "big") == 1]
            assert len(after) == 1 and 1 not in old_keys
            for ct in after:
                with pytest.raises(DecryptionError):
                    crypto.decrypt(old_keys[0].content_key, ct[5:29], ct[29:], b"hramada:v1:item\x00" + ct[:5])
        finally:
            await _close(ales, phone, hanna)
    asyncio.run(go())


def test_a_member_who_is_no_admin_cannot_revoke_another_members_device(relay_process, bring_in,
                                                                       tmp_path: Path) -> None:
    """Mikola (a member, not an admin) crafts a ``device-revoke`` of Hanna's phone. The
    relay takes no rotation from him (``not_admin``); appended as a plain entry, it is
    void for every reader (``rotation-not-authorised``) and Hanna's phone goes on."""
    relay = relay_process()

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna")
        phone = Hramada.init(tmp_path / "phone", PASSPHRASE, "Hanna")
        mikola = Hramada.init(tmp_path / "mikola", PASSPHRASE, "Mikola")
        try:
            g = (await ales.create_group("Circle", relay.url, history="all")).group
            await bring_in(ales, hanna, g)
            await bring_in(ales, mikola, g)
            await link_by_hand(hanna, phone, g, "phone")
            await mikola.sync()
            m = mikola._find(g)
            victim = phone._find(g).device_id
            ne = build.device_revoke(m.log, [victim], author=m.identity, keys=m.keys, seed=os.urandom(32),
                                     ephemeral_secret=os.urandom(32), nonce=os.urandom(24),
                                     auth_nonce=os.urandom(24), items_cutoff={})
            r = mikola._relay(relay.url)
            with pytest.raises(RelayError) as refused:
                await r.append_log(m.record["mailbox"], m.cap, ne.seq, ne.prev, ne.ciphertext, ne.new_cap_hash)
            assert (refused.value.status, refused.value.code) == (403, "not_admin")
            await r.append_log(m.record["mailbox"], m.cap, ne.seq, ne.prev, ne.ciphertext)
            for reader in (ales, hanna, phone, mikola):
                [info] = await reader.sync(g)
                assert info.status == "active" and info.generation == 0
                assert {"seq": ne.seq, "by": m.member_id, "reason": "rotation-not-authorised"} in \
                    _warnings(reader, g, "void-entry")
                assert reader._find(g).log.devices[victim].until is None
            assert [(d.name, d.current) for d in await phone.devices(g)] == [("first device", True),
                                                                              ("phone", True)]
            await phone.post(g, "from Hanna's phone")
            assert "from Hanna's phone" in [b.text for b in await ales.read(g)]
        finally:
            await _close(ales, hanna, phone, mikola)
    asyncio.run(go())
