"""The recovery kit through the client and a real relay: a member whose only device was
seized exports nothing more — their kit, written earlier, sets up a new device, an admin
re-admits it in one ``device-revoke`` that also revokes the seized device, and the
member is back, the same member for everyone, while the seized device reads nothing
written after the recovery. Every refusal changes nothing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest

from adversarial.lying_proxy import Answer, LyingProxy
from hramada.client import Hramada
from hramada.client.recovery import RECOVERING
from hramada.core import backup, crypto, invitation, items as items_mod, suite2, textcode
from hramada.core.backup import Kit, KitGroup, RecoveryRequest
from hramada.core.encoding import decode, encode
from hramada.core.keys import Generation
from hramada.core.link_answers import GroupRef
from hramada.core.textcode import Refused
from hramada.errors import HramadaError, PolicyError, ProfileError, RelayError
from conftest import PASSPHRASE

KIT_PASSPHRASE = "harbor violet copper listen saddle"
GROUP = "Кола салідарнасці"          # a Belarusian group name
SECRETS = ["Before the seizure", "Back again from the new phone", "After the recovery"]


def code_for(codes: list, group_id: str) -> str:
    return next(c.code for c in codes if c.group == group_id)


def test_a_member_whose_only_device_was_seized_returns_after_an_admin_re_admits_the_recovered_device(
        relay_process, bring_in, tmp_path: Path) -> None:
    relay = relay_process()

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Алесь")
        seized = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna")
        mikola = Hramada.init(tmp_path / "mikola", PASSPHRASE, "Mikola")
        recovered = None
        try:
            g = (await ales.create_group(GROUP, relay.url, history="since-join")).group
            await bring_in(ales, seized, g)
            await bring_in(ales, mikola, g)
            await seized.post(g, "Before the seizure")
            hanna_code = (await mikola.safety_code(g, "Hanna"))["code"]

            kit_path = tmp_path / "usb" / "hanna.kit"
            kit_path.parent.mkdir()
            written = seized.export_kit(kit_path, KIT_PASSPHRASE)
            assert written.groups == [GROUP] and written.left_out == []
            assert stat.S_IMODE(kit_path.stat().st_mode) == 0o600
            data = kit_path.read_bytes()
            for text in (GROUP, "Hanna", "Before the seizure"):
                assert text.encode() not in data
            with pytest.raises(ProfileError, match="exists already"):
                seized.export_kit(kit_path, KIT_PASSPHRASE)          # never overwritten
            assert kit_path.read_bytes() == data

            # the only device is seized; a new one is set up from the kit
            recovered, codes = Hramada.from_kit(tmp_path / "new", kit_path, KIT_PASSPHRASE, PASSPHRASE,
                                                "новы тэлефон")
            assert recovered.name == "Hanna"
            [code] = codes
            assert (code.name, code.member, code.safety_code) == (GROUP, "Hanna", hanna_code)
            assert code.code.startswith("hramada-recover1-") and code.qr == code.code.upper()
            [info] = recovered.groups()
            assert info.status == RECOVERING and "waiting for an admin" in info.warnings[0]
            with pytest.raises(PolicyError, match="waits for an admin"):
                await recovered.read(g)
            [info] = await recovered.sync()              # no admin has acted: still waiting
            assert info.status == RECOVERING

            # the admin sees whom the code names, as the admin's own log says
            preview = await ales.recovery_preview(g, code.code)
            assert (preview.member, preview.safety_code, preview.device) == ("Hanna", hanna_code, "новы тэлефон")
            assert preview.device_fingerprint == code.device_fingerprint
            assert preview.revoked == ["first device"]
            declined = await ales.recover_device(g, code.code, lambda p: False)
            assert declined["recovered"] is False
            head = ales._find(g).log.head
            assert (await ales.recovery_preview(g, code.code)).member == "Hanna"
            assert ales._find(g).log.head == head            # declining changed nothing

            done = await ales.recover_device(g, code.code, lambda p: p.safety_code == hanna_code)
            assert done["recovered"] and done["welcome"] == "sent" and done["revoked"] == ["first device"]
            with pytest.raises(Refused, match="re-admitted already"):
                await ales.recovery_preview(g, code.code)

            [info] = await recovered.sync()
            assert info.status == "active" and info.name == GROUP
            # the history the policy allows (since Hanna's admission), shown as Hanna's
            assert [(b.text, b.author) for b in await recovered.read(g)] == [("Before the seizure", "Hanna")]
            await recovered.post(g, "Back again from the new phone")
            seen = {(b.text, b.author) for b in await mikola.read(g)}
            assert ("Back again from the new phone", "Hanna") in seen
            assert (await mikola.safety_code(g, "Hanna"))["code"] == hanna_code
            assert (await recovered.safety_code(g, "Hanna"))["code"] == hanna_code
            assert [m.name for m in await mikola.members(g)] == ["Алесь", "Hanna", "Mikola"]
            assert [(d.name, d.current) for d in await recovered.devices(g)] == [
                ("first device", False), ("новы тэлефон", True)]

            # the seized device: revoked, and no key it holds opens what came after
            kept = dict(seized._find(g).keys.generations)
            await ales.post(g, "After the recovery")
            [info] = await seized.sync()
            assert info.status == "revoked"
            with pytest.raises(PolicyError):
                await seized.read(g)
            s = ales._find(g)
            assert max(kept) < s.log.generation
            page, _ = await ales._relay(relay.url).read_items(s.record["mailbox"], s.cap, 0)
            late = page[-2:]                             # "Back again…" and "After the recovery"
            for cursor, ct in late:
                assert items_mod.open_item(ct, cursor, s.log, s.keys.generations).body["text"] in SECRETS
                with pytest.raises(HramadaError):
                    items_mod.open_item(ct, cursor, s.log, kept)
            assert {b.text for b in await recovered.read(g)} == set(SECRETS)
        finally:
            for h in (ales, seized, mikola, recovered):
                if h is not None:
                    await h.close()
    asyncio.run(go())
    relay.stop()
    blobs = [p.read_bytes() for p in relay.db_path.parent.glob(relay.db_path.name + "*")]
    for secret in SECRETS + [GROUP, "новы тэлефон"]:
        for blob in blobs:
            assert secret.encode() not in blob
        for path in (tmp_path / "new").rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes()


def _reseal(data: bytes, change) -> bytes:
    """A kit whose body ``change`` altered, with its checksum recomputed."""
    body = change(bytearray(data[:-32]))
    return bytes(body) + hashlib.blake2b(bytes(body), key=backup.KIT_CHECK.encode(), digest_size=32).digest()


def test_a_wrong_passphrase_or_an_altered_kit_is_refused_and_creates_nothing(tmp_path: Path) -> None:
    ref = GroupRef("http://127.0.0.1:1", os.urandom(16), os.urandom(16), "Circle", "Hanna")
    kit = Kit("Hanna", (KitGroup(ref, os.urandom(32), 1),))
    data = backup.export_kit(kit, KIT_PASSPHRASE, os.urandom(16), os.urandom(24), ops=1, mem=8192)
    cases = {
        "wrong": (data, "nope nope nope nope", "kit-passphrase", "wrong passphrase"),
        "damaged": (data[:-1] + bytes([data[-1] ^ 1]), KIT_PASSPHRASE, "kit-damaged", "damaged"),
        "altered": (_reseal(data, lambda b: b[:-1] + bytes([b[-1] ^ 1])), KIT_PASSPHRASE, "kit-altered",
                    "altered"),
        "not a kit": (b"hello", KIT_PASSPHRASE, "kit-not-a-kit", "not a Hramada recovery kit"),
    }
    for name, (blob, secret, reason, words) in cases.items():
        path = tmp_path / name
        path.write_bytes(blob)
        home = tmp_path / f"home-{name}"
        with pytest.raises(Refused, match=words) as caught:
            Hramada.from_kit(home, path, secret, PASSPHRASE, "phone")
        assert caught.value.code == reason
        assert not home.exists()
    path = tmp_path / "good"
    path.write_bytes(data)
    with pytest.raises(ProfileError, match="too easy"):
        Hramada.from_kit(tmp_path / "weak", path, KIT_PASSPHRASE, "hanna1990", "phone")
    assert not (tmp_path / "weak").exists()
    with pytest.raises(ValueError):
        Hramada.from_kit(tmp_path / "badname", path, KIT_PASSPHRASE, PASSPHRASE, "\u202ephone")
    assert not (tmp_path / "badname").exists()


def _bad_cert_code(text: str) -> str:
    """The same recovery code with its cert made by another key (checksum recomputed)."""
    raw = textcode.from_text(text, prefix=backup.RECOVER_PREFIX, purpose=backup.RECOVER_CHECK,
                             max_chars=backup.RECOVER_MAX_CHARS, what="recover")
    v = decode(raw)
    v[7] = backup.device_cert(os.urandom(32), v[1], v[2], v[5], v[6], v[4])
    return textcode.to_text(backup.RECOVER_PREFIX, backup.RECOVER_CHECK, encode(v))


def test_recovery_codes_that_are_tampered_for_another_group_or_shown_to_a_non_admin_change_nothing(
        relay_process, bring_in, tmp_path: Path) -> None:
    relay = relay_process()

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna")
        mikola = Hramada.init(tmp_path / "mikola", PASSPHRASE, "Mikola")
        people = [ales, hanna, mikola]
        try:
            g = (await ales.create_group("Circle", relay.url)).group
            other = (await ales.create_group("Other circle", relay.url)).group
            await bring_in(ales, hanna, g)
            await bring_in(ales, mikola, g)
            hanna.export_kit(tmp_path / "kit", KIT_PASSPHRASE)
            new, codes = Hramada.from_kit(tmp_path / "new", tmp_path / "kit", KIT_PASSPHRASE, PASSPHRASE,
                                          "phone")
            people.append(new)
            code = code_for(codes, g)
            # a stranger's kit: a member key that is not a member of the group
            ref = GroupRef(relay.url, ales._find(g).record["mailbox"], bytes.fromhex(g), "Circle", "Eve")
            stranger = backup.make_recovery_request(KitGroup(ref, os.urandom(32), ales._find(g).log.suite),
                                                    "phone", _sign_key(),
                                                    new._find(g).identity.boxing.public.raw, os.urandom(32))
            for h in (ales, hanna, mikola):
                await h.sync()
            heads = {h: h._find(g).log.head for h in (ales, hanna, mikola)}
            assert len(set(heads.values())) == 1
            flipped = code[:40] + ("a" if code[40] != "a" else "b") + code[41:]
            refusals = [
                (ales, g, flipped, "recover-damaged"),
                (ales, g, _bad_cert_code(code), "recover-cert"),
                (ales, other, code, "recover-other-group"),
                (mikola, g, code, "recover-not-admin"),
                (ales, g, stranger.to_text(), "recover-not-a-member"),
            ]
            for who, group, text, reason in refusals:
                with pytest.raises(Refused) as caught:
                    await who.recover_device(group, text, lambda p: True)
                assert caught.value.code == reason, (reason, caught.value)
            assert "show the code to an admin" in str(
                await _refusal(mikola.recover_device(g, code, lambda p: True)))
            for h, head in heads.items():
                await h.sync()
                assert h._find(g).log.head == head
            [info] = [i for i in await new.sync() if i.group == g]
            assert info.status == RECOVERING
            await hanna.post(g, "Still here")           # the old device goes on
            assert "Still here" in {b.text for b in await mikola.read(g)}
            # a recovery that never comes: the waiting group can be forgotten
            forgotten = new.forget_group(g)
            assert forgotten["status"] == RECOVERING
            assert g not in {i.group for i in new.groups()}
        finally:
            for h in people:
                await h.close()
    asyncio.run(go())


def _sign_key() -> bytes:
    return crypto.SigningKey.from_seed(os.urandom(32)).public.raw


async def _refusal(coro) -> Exception:
    try:
        await coro
    except Exception as exc:
        return exc
    raise AssertionError("not refused")


def test_a_hostile_member_cannot_append_a_recovery(relay_process, bring_in, tmp_path: Path) -> None:
    """Mikola, not an admin, bypasses his client's checks and tries to append the
    device-revoke himself: the relay takes no rotation from him, and nothing changes.
    (A relay that took it anyway would not help him: every member's log voids a
    revocation of another member's devices by a non-admin,
    ``tests/core/test_devices.py::test_a_non_admin_cannot_revoke_another_members_device``.)"""
    relay = relay_process()

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna")
        mikola = Hramada.init(tmp_path / "mikola", PASSPHRASE, "Mikola")
        people = [ales, hanna, mikola]
        try:
            g = (await ales.create_group("Circle", relay.url)).group
            await bring_in(ales, hanna, g)
            await bring_in(ales, mikola, g)
            hanna.export_kit(tmp_path / "kit", KIT_PASSPHRASE)
            new, codes = Hramada.from_kit(tmp_path / "new", tmp_path / "kit", KIT_PASSPHRASE, PASSPHRASE,
                                          "phone")
            people.append(new)
            req = RecoveryRequest.from_text(code_for(codes, g))
            from hramada.core.identity import DeviceRecord
            for h in (ales, hanna):
                await h.sync()
            s = await mikola._synced(g)
            head = s.log.head
            target = s.log.members[req.member]
            with pytest.raises(RelayError, match="only an admin") as caught:
                await mikola._engine(s).rotate(revoke=sorted(target.devices),
                                               add=DeviceRecord.from_value(req.record, req.suite))
            assert caught.value.status == 403
            for h in (ales, hanna, mikola):
                await h.sync()
                assert h._find(g).log.head == head
                assert [d.name for d in h._find(g).log.members[req.member].devices.values()] == ["first device"]
            assert [i.status for i in await new.sync()] == [RECOVERING]
            await hanna.post(g, "Still mine")
            assert "Still mine" in {b.text for b in await ales.read(g)}
        finally:
            for h in people:
                await h.close()
    asyncio.run(go())


def test_a_lying_relay_that_swaps_the_welcome_in_the_drop_is_caught(relay_process, bring_in,
                                                                   tmp_path: Path) -> None:
    """The relay serves the recovered device another welcome in place of the admin's —
    one sealed to its box key (which every member can read in the log) handing over a
    key of its own making. The device adopts nothing, says so, and recovers once the
    genuine welcome is served."""
    relay = relay_process()
    proxy = LyingProxy(relay.url)

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna")
        people = [ales, hanna]
        try:
            g = (await ales.create_group("Circle", relay.url)).group
            await bring_in(ales, hanna, g)
            hanna.export_kit(tmp_path / "kit", KIT_PASSPHRASE)
            unlocked_codes = Hramada.from_kit(tmp_path / "new", tmp_path / "kit", KIT_PASSPHRASE, PASSPHRASE,
                                              "phone")
            await unlocked_codes[0].close()
            new = Hramada.open(tmp_path / "new", PASSPHRASE, transport=proxy.transport())
            people.append(new)
            code = code_for(unlocked_codes[1], g)
            req = RecoveryRequest.from_text(code)
            await ales.recover_device(g, code, lambda p: True)
            s = ales._find(g)
            box = s.log.devices[req.sign].box
            fake_gen = Generation(s.log.generation, os.urandom(32))
            if len(box) == suite2.PUBLIC_BYTES:
                from hramada.client.sealing import OsSealer
                forged = invitation.make_welcome(suite2.HybridPublicKey(box), b"", s.group_id, req.sign,
                                                 fake_gen, admit=s.log.head, sealer=OsSealer(),
                                                 starts=[x.start for x in s.log.generations[1:]])
            else:
                forged = invitation.make_welcome(crypto.BoxPublicKey(box), os.urandom(32), s.group_id,
                                                 req.sign, fake_gen, admit=s.log.head,
                                                 starts=[x.start for x in s.log.generations[1:]])

            def swap(a: Answer) -> None:
                if a.method == "GET" and a.path.startswith("/v1/drops/") and a.status == 200:
                    for m in a.body["messages"]:
                        m["message"] = base64.urlsafe_b64encode(forged).decode().rstrip("=")
            proxy.lie = swap
            [info] = await new.sync()
            assert info.status == RECOVERING
            assert any("did not fit the group's log" in w for w in info.warnings)
            assert new._find(g).log.head[0] == 0         # nothing adopted
            proxy.lie = None
            [info] = await new.sync()
            assert info.status == "active"
            await new.post(g, "Back")
            assert ("Back", "Hanna") in {(b.text, b.author) for b in await ales.read(g)}
        finally:
            for h in people:
                await h.close()
    try:
        asyncio.run(go())
    finally:
        proxy.stop()


def test_every_kit_and_recovery_reason_code_of_the_spec_has_a_sentence_with_its_parameters() -> None:
    import re
    import string

    from hramada.client import notices
    spec = (Path(__file__).parents[2] / "docs" / "spec" / "devices.md").read_text()
    table = spec[spec.index("### 9.1 The clients"):spec.index("## 11. Limits")]   # the client's and §10
    carried: dict[str, set[str]] = {}
    for row in table.splitlines():
        for code, params in re.findall(r"`((?:kit|recover)-[a-z-]+)`(?: \(([^)]*)\))?", row):
            carried[code] = set(re.findall(r"`([a-z_]+)`", params or ""))
    assert set(notices.KIT_REFUSALS) - {"recover-drop-taken"} == set(carried)
    for code, sentence in notices.KIT_REFUSALS.items():
        fields = {f for _, f, _, _ in string.Formatter().parse(sentence) if f}
        assert fields <= carried.get(code, {"device"}), code
        assert "{" not in notices.kit_refusal(code, {p: "x" for p in carried.get(code, {"device"})})
