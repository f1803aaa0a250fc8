"""Several devices per member (log.md §5.12–5.13, keys.md §2): every device of a member
holds the member key and has its own device keys, certified by the member key; entries
and items are signed by a device and shown as its member. A ``device-add`` records a
device the member key certified; a ``device-revoke`` rotates the key without the
revoked devices. Hostile members try to add devices to others, revoke others' devices,
and keep writing from a revoked device.
"""

from __future__ import annotations

import pytest

from hramada.core import build, items
from hramada.core.crypto import BoxPublicKey
from hramada.core.devices import MAX_DEVICES, encode_revocation
from hramada.core.entries import Envelope, envelope_bytes
from hramada.core.identity import Identity, make_device_record
from hramada.core.keys import box_label, key_block_author, open_key_block
from hramada.core.state import GroupLog, Keyring
from hramada.errors import DeviceRevokedError, ForgeryError, KeyWithheldError

from .world import World, summary


@pytest.fixture
def w() -> World:
    """alice (admin) with her laptop and her phone, bob and carol (members)."""
    world = World.create("devices", vouches=1)
    for name in ("bob", "carol"):
        world.join(name, invited_by="alice", vouchers=["alice"], admitted_by="alice")
    world.link("alice", "alice-phone", "phone")
    return world


def read(w: World, reader: str, cursor: int, ct: bytes) -> items.Item:
    view = w.views[reader]
    return items.open_item(ct, cursor, view.log, view.keys.generations)


def key_block_of(new) -> object:
    return Envelope.parse(envelope_bytes(new.ciphertext)).key_block


def labels_for(w: World, reader: str, names: list[str]) -> set[bytes]:
    log, keys = w.log(reader), w.keys(reader)
    gen = keys.generations[log.generation]
    return {box_label(gen, w.person(n).boxing.public) for n in names}


def last_warning(w: World, reader: str = "carol") -> tuple[str, dict]:
    return w.log(reader).warnings[-1]


# -- a second device ------------------------------------------------------------------------

def test_a_linked_device_writes_entries_and_items_as_its_member(w):
    alice, phone = w.person("alice"), w.person("alice-phone")
    assert alice.member_id == phone.member_id and alice.device_id != phone.device_id
    for reader in ("alice", "bob", "carol", "alice-phone"):
        m = w.log(reader).members[alice.member_id]
        assert set(m.devices) == {alice.device_id, phone.device_id}
        assert m.devices[phone.device_id].name == "phone"
    # an entry from the phone is alice's entry
    secret = w.invite("alice-phone", "from-phone")
    for reader in ("bob", "carol"):
        assert w.log(reader).invites[secret.invite_id].by == alice.member_id
    # an item from the phone: its author is the phone, shown as alice, numbered on its own
    cursor, _, ct = w.post_item("alice-phone", "from my phone")
    _, _, ct2 = w.post_item("alice", "from my laptop")
    item = read(w, "carol", cursor, ct)
    assert item.author == phone.device_id and item.seq == 1
    assert w.log("carol").member_of(item.author).name == "alice"
    assert read(w, "bob", cursor + 1, ct2).seq == 1  # the laptop's own chain starts at 1 too
    # every device computes the same state
    assert summary(w.log("alice")) == summary(w.log("alice-phone")) == summary(w.log("carol"))


def test_a_rotation_seals_to_every_current_device(w):
    new = w.rotate("alice")
    block = key_block_of(new)
    assert len(block.boxes) == 4
    for name in ("alice", "alice-phone", "bob", "carol"):
        assert w.log(name).generation == 1  # each device opened its own box


# -- device-add ---------------------------------------------------------------------------

def test_a_member_cannot_add_a_device_to_another_member(w):
    """Bob copies a record alice's key certified, or certifies one with his own key for
    alice's member: the cert does not verify under the entry's author, so every device
    ignores it."""
    stolen = w.rand.device(w.person("alice"), "spy").device_record(w.group)
    w.post("bob", "device-add", {"device": stolen.to_value()})
    for reader in ("alice", "carol"):
        code, params = last_warning(w, reader)
        assert code == "ignored-entry" and params["reason"] == "device-cert-invalid"
        assert stolen.sign not in w.log(reader).devices


def test_an_entry_in_another_members_name_is_void(w):
    """Bob signs with his device an entry that names alice as its author: his device is
    not one of alice's, so it is void on every device, and names alice (the claimed author)."""
    entry = w.forge(Identity(w.person("alice").member, w.person("bob").signing, w.person("bob").boxing),
                    "policy", {"vouches": 3})
    for reader in ("alice", "carol"):
        before = w.log(reader).vouches_required
        w.log(reader).apply(*entry, w.keys(reader))
        assert w.log(reader).vouches_required == before
        assert last_warning(w, reader) == ("void-entry", {"seq": entry[0], "by": w.person("alice").member_id,
                                                         "reason": "not-a-device"})


def test_a_cert_for_another_group_or_suite_does_not_verify(w):
    bob = w.person("bob")
    other = w.rand.device(bob, "tablet")
    for record in (make_device_record(bob.member, other.signing, other.boxing.public.raw, "tablet",
                                      group=bytes(16)),
                   make_device_record(bob.member, other.signing, other.boxing.public.raw, "tablet",
                                      group=w.group, suite=2)):
        w.post("bob", "device-add", {"device": record.to_value()})
        assert last_warning(w)[1]["reason"] == "device-cert-invalid"


@pytest.mark.parametrize(("change", "reason"), [
    ("name", "device-name-taken"), ("sign", "device-key-taken"), ("box", "box-key-taken"),
])
def test_device_keys_and_names_are_unique(w, change, reason):
    """Device keys and box keys are unique over every device the group ever recorded; a
    member's device names are unique among their current devices."""
    bob = w.person("bob")
    alice_phone = w.person("alice-phone")
    new = w.rand.device(bob, "tablet")
    sign = alice_phone.signing if change == "sign" else new.signing
    box = alice_phone.boxing.public.raw if change == "box" else new.boxing.public.raw
    name = bob.device_name if change == "name" else "tablet"
    record = make_device_record(bob.member, sign, box, name, group=w.group)
    w.post("bob", "device-add", {"device": record.to_value()})
    assert last_warning(w)[1]["reason"] == reason


def test_a_member_has_at_most_eight_devices(w):
    bob = w.person("bob")
    for i in range(MAX_DEVICES - 1):
        d = w.rand.device(bob, f"device {i}")
        w.post("bob", "device-add", {"device": d.device_record(w.group).to_value()})
    assert len(w.log("carol").members[bob.member_id].devices) == MAX_DEVICES
    extra = w.rand.device(bob, "one too many")
    w.post("bob", "device-add", {"device": extra.device_record(w.group).to_value()})
    assert last_warning(w)[1] == {**last_warning(w)[1], "reason": "too-many-devices",
                                  "detail": {"most": MAX_DEVICES}}


def test_a_malformed_device_record_is_ignored(w):
    record = w.rand.device(w.person("bob"), "tablet").device_record(w.group).to_value()
    for bad in ({**record, "box": bytes(32)}, {**record, "cert": bytes(10)}, {**record, "name": " x"},
                {k: v for k, v in record.items() if k != "cert"}):
        w.post("bob", "device-add", {"device": bad})
        assert last_warning(w)[1]["reason"] == "malformed"


# -- device-revoke ---------------------------------------------------------------------------

def test_a_revoked_device_is_not_in_the_next_key_block_and_cannot_open_it(w):
    phone = w.person("alice-phone")
    previous = w.keys("alice").generations[0]
    new = w.build_revocation("alice", ["alice-phone"])
    block = key_block_of(new)
    # the revoked set is named in the authorisation, which the phone can open
    assert key_block_author(block, previous, w.group, new.seq) == (
        w.person("alice").device_id, encode_revocation([phone.device_id]))
    assert block.labels == labels_for(w, "alice", ["alice", "bob", "carol"])
    with pytest.raises(KeyWithheldError):
        open_key_block(block, previous, phone.boxing)
    with pytest.raises(DeviceRevokedError, match="this device was revoked from the group by alice"):
        w.log("alice-phone").apply(new.seq, new.prev, new.ciphertext, w.keys("alice-phone"))
    w.publish(new)
    for reader in ("alice", "bob", "carol"):
        log = w.log(reader)
        assert phone.device_id not in log.members[phone.member_id].devices
        assert log.devices[phone.device_id].until == new.seq and log.generation == 1
    # folding from scratch with everything the phone held stops at the revocation
    with pytest.raises(DeviceRevokedError):
        w.fold("alice-phone" if "alice-phone" in w.views else "alice",
               keys=Keyring(phone.boxing, {0: previous}))


def test_a_revoked_devices_later_entries_are_void(w):
    """Whatever the revoked phone still holds — even the new key, if it leaked — an entry
    it signs is void: it is no longer one of alice's devices."""
    phone = w.person("alice-phone")
    w.views.pop("alice-phone")
    w.publish(w.build_revocation("alice", ["alice-phone"]))
    entry = w.forge(phone, "policy", {"vouches": 2})
    w.log("carol").apply(*entry, w.keys("carol"))
    assert last_warning(w) == ("void-entry", {"seq": entry[0], "by": phone.member_id, "reason": "not-a-device"})
    assert w.log("carol").vouches_required == 1


def test_a_revoked_devices_later_items_are_refused(w):
    phone = w.person("alice-phone")
    head = w.log("alice-phone").head
    cursor, _, before = w.post_item("alice-phone", "before")
    old = w.keys("alice-phone").generations[0]
    w.views.pop("alice-phone")
    w.publish(w.build_revocation("alice", ["alice-phone"]))  # cut-off: the phone's number 1
    assert read(w, "carol", cursor, before).seq == 1
    # under the old key, numbered past the cut-off: posted after its revocation
    _, late = items.seal_item(group=w.group, kind="bulletin", body={"text": "still here"},
                              author=phone.signing, seq=2, head=head, time=1, generation=old,
                              nonce=bytes(24), prev=w.item_links[("alice-phone", 1)])
    with pytest.raises(items.PostedAfterRemoval):
        read(w, "carol", cursor + 1, late)
    # under the new key (leaked) at a head after the revocation: not a current device
    _, leaked = items.seal_item(group=w.group, kind="bulletin", body={"text": "leaked key"},
                                author=phone.signing, seq=3, head=w.log("carol").head, time=1,
                                generation=w.keys("carol").generations[1], nonce=bytes(24))
    with pytest.raises(ForgeryError, match="not current"):
        read(w, "carol", cursor + 2, leaked)


def test_a_non_admin_cannot_revoke_another_members_device(w):
    new = w.build_revocation("bob", ["alice-phone"])
    w.views.pop("alice-phone")
    w.publish(new)
    for reader in ("alice", "carol"):
        assert last_warning(w, reader) == ("void-entry", {"seq": new.seq, "by": w.person("bob").member_id,
                                                         "reason": "rotation-not-authorised"})
        assert w.person("alice-phone").device_id in w.log(reader).members[w.person("alice").member_id].devices
        assert w.log(reader).generation == 0


def test_a_member_revokes_their_own_device_from_another_one(w):
    """Bob (not an admin) links a phone, loses his laptop, and revokes it from the phone."""
    w.link("bob", "bob-phone", "phone")
    laptop = w.person("bob")
    new = w.build_revocation("bob-phone", ["bob"])
    w.views.pop("bob")
    w.publish(new)
    for reader in ("alice", "carol", "bob-phone"):
        assert set(w.log(reader).members[laptop.member_id].devices) == {w.person("bob-phone").device_id}
        assert w.log(reader).generation == 1


def test_revoking_a_members_last_device_is_void(w):
    """An admin revoking bob's only device (or alice's laptop revoking both of alice's
    devices) would leave a member with no device: void on every device."""
    for by, devices, signer in (("alice", ["bob"], "alice"), ("alice-phone", ["alice", "alice-phone"], "alice")):
        new = w.build_revocation(by, devices)
        before = {r: summary(w.log(r))["members"] for r in ("bob", "carol")}
        w.publish(new)
        for reader in ("bob", "carol"):
            assert last_warning(w, reader) == ("void-entry", {"seq": new.seq, "by": w.person(signer).member_id,
                                                             "reason": "rotation-invalid"})
            assert summary(w.log(reader))["members"] == before[reader]


def test_an_admin_readmits_a_recovered_device_in_the_same_step(w):
    """Recovery: bob's only device was seized; from his member key he certifies a new
    device; alice (admin) revokes the old one and adds the new one in one rotation."""
    bob = w.person("bob")
    recovered = w.rand.device(bob, "recovered")
    new = w.build_revocation("alice", ["bob"], add=recovered)
    block = key_block_of(new)
    assert box_label(w.keys("alice").generations[0], recovered.boxing.public) in block.labels
    assert box_label(w.keys("alice").generations[0], bob.boxing.public) not in block.labels
    w.views.pop("bob")
    w.publish(new)
    assert set(w.log("carol").members[bob.member_id].devices) == {recovered.device_id}
    assert open_key_block(block, w.keys("carol").generations[0], recovered.boxing).seed == \
        w.keys("carol").generations[1].seed


def test_an_added_device_not_certified_by_the_member_is_void(w):
    """An admin cannot slip a device of their own making into bob's member: the added
    record must carry bob's cert."""
    fake = w.rand.device(w.person("alice"), "not bob's")
    view = w.views["alice"]
    new = build.device_revoke(view.log, [w.person("bob").device_id], author=view.identity, keys=view.keys,
                              seed=w.rand.bytes(32), ephemeral_secret=w.rand.bytes(32), nonce=w.rand.bytes(24),
                              auth_nonce=w.rand.bytes(24), items_cutoff={},
                              add=fake.device_record(w.group))
    w.publish(new)
    assert last_warning(w)[1]["reason"] == "rotation-invalid"
    assert w.person("bob").device_id in w.log("carol").members[w.person("bob").member_id].devices


# -- remove and leave take every device -------------------------------------------------------

def test_a_removed_members_devices_are_all_gone_from_the_next_key_block(w):
    w.link("bob", "bob-phone", "phone")
    bob, phone = w.person("bob"), w.person("bob-phone")
    previous = w.keys("alice").generations[0]
    new = w.build_rotation("alice", remove="bob")
    block = key_block_of(new)
    assert block.labels == labels_for(w, "alice", ["alice", "alice-phone", "carol"])
    for device in (bob, phone):
        with pytest.raises(KeyWithheldError):
            open_key_block(block, previous, device.boxing)
    w.publish(new)
    assert "bob" not in w.views and "bob-phone" not in w.views  # neither device could follow
    log = w.log("carol")
    assert all(log.devices[d.device_id].until == new.seq for d in (bob, phone))
    assert log.former[bob.member_id].devices == {}


def test_leaving_takes_every_device_along(w):
    w.link("bob", "bob-phone", "phone")
    w.post_item("bob-phone", "one")
    phone = w.person("bob-phone")
    w.post("bob", "leave", {"items": sorted([[w.person("bob").device_id, 0], [phone.device_id, 1]])})
    log = w.log("carol")
    assert w.person("bob").member_id in log.former
    assert log.devices[phone.device_id].last_item == 1 and log.devices[phone.device_id].until is not None
    expected = labels_for(w, "alice", ["alice", "alice-phone", "carol"])
    assert key_block_of(w.rotate("alice")).labels == expected


def test_a_newcomer_folds_a_log_with_devices(w):
    """Device entries fold the same on a newcomer's device, from its welcome."""
    w.publish(w.build_revocation("alice", ["alice-phone"]))
    w.join("dana", invited_by="alice", vouchers=["alice"], admitted_by="alice")
    assert summary(w.log("dana"))["devices"] == summary(w.log("carol"))["devices"]


def test_a_welcome_fold_of_a_revoked_device_stops_at_its_revocation(w):
    phone = w.person("alice-phone")
    gens = dict(w.keys("alice-phone").generations)
    w.views.pop("alice-phone")
    w.publish(w.build_revocation("alice", ["alice-phone"]))
    log = GroupLog(w.mailbox, w.group)
    with pytest.raises(DeviceRevokedError):
        for entry in w.relay:
            log.apply(*entry, Keyring(phone.boxing, dict(gens)))


def test_the_box_key_of_a_device_record_is_a_valid_x25519_point(w):
    me = w.person("bob")
    with pytest.raises(ValueError):
        BoxPublicKey(bytes(32))
    record = make_device_record(me.member, w.rand.device(me, "zero").signing, bytes(32), "zero", group=w.group)
    w.post("bob", "device-add", {"device": record.to_value()})
    assert last_warning(w)[1]["reason"] == "malformed"


def test_the_revocation_the_entry_names_must_be_the_one_its_key_block_authorised(w):
    """The key block's authorisation names the revoked devices for those who cannot open
    the entry; an entry whose body names others (the phone told it is safe, the laptop
    revoked in fact) is void on every device."""
    w.link("bob", "bob-phone", "phone")
    view = w.views["alice"]
    phone, laptop = w.person("bob-phone").device_id, w.person("bob").device_id
    new = build._rotating(view.log, "device-revoke", {"devices": [laptop]}, author=view.identity,
                          keys=view.keys, seed=w.rand.bytes(32), ephemeral_secret=w.rand.bytes(32),
                          nonce=w.rand.bytes(24), auth_nonce=w.rand.bytes(24), items_cutoff={},
                          change=encode_revocation([phone]), gone={phone})
    w.views.pop("bob-phone")
    w.publish(new)
    assert last_warning(w) == ("void-entry", {"seq": new.seq, "by": w.person("alice").member_id,
                                             "reason": "rotation-invalid"})
    assert set(w.log("carol").members[w.person("bob").member_id].devices) == {laptop, phone}
