"""The relay's admin set as the writer computes it from the log (``core.admins``):
the admins' relay-admin keys after the writer's own entry, folded from a copy of its
state — never restated rules — and what an append tells the relay."""

from __future__ import annotations

import pytest

from hramada.core import admins, build, crypto, invitation as inv, wire
from hramada.core.encoding import encode
from hramada.core.identity import Identity

from .world import World


@pytest.fixture
def w() -> World:
    """Alice (admin), Bob and Carol (members)."""
    world = World.create("admins", vouches=1)
    world.join("bob", invited_by="alice", vouchers=["alice"], admitted_by="alice")
    world.join("carol", invited_by="alice", vouchers=["alice"], admitted_by="alice")
    return world


def key(w: World, name: str) -> bytes:
    return w.person(name).relay_admin.public.raw


def next_entry(w: World, by: str, kind: str, body: dict) -> build.NewEntry:
    view = w.views[by]
    return build.entry(view.log, kind, body, author=view.identity, keys=view.keys, nonce=w.rand.bytes(24))


def claim(w: World, by: str, ne: build.NewEntry) -> admins.AdminClaim | None:
    view = w.views[by]
    return admins.claim_for(view.log, view.keys, view.identity, ne)


def test_the_relay_admin_key_is_derived_from_the_identity_for_this_purpose_only():
    me = Identity.from_secrets(bytes(range(32)), bytes(range(32, 64)), bytes(range(64, 96)))
    assert me.relay_admin.public.raw not in (me.public.sign.raw, me.signing.public.raw, me.boxing.public.raw)
    # it derives from the member key alone: every device of the member holds the same one
    assert me.relay_admin.public == Identity.from_secrets(bytes(range(32)), bytes(32), bytes(32)).relay_admin.public


def test_the_log_carries_each_members_relay_admin_key_from_creation_and_join_request(w):
    log = w.log("alice")
    assert {m.name: m.relay for m in log.members.values()} == {n: key(w, n) for n in ("alice", "bob", "carol")}
    assert admins.relay_admins(log) == [key(w, "alice")]


def test_a_promotion_sends_the_new_admin_set_signed_by_its_author(w):
    ne = next_entry(w, "alice", "role", {"member": w.person("bob").public.id, "role": "admin"})
    before = w.log("alice").head
    c = claim(w, "alice", ne)
    assert w.log("alice").head == before and admins.relay_admins(w.log("alice")) == [key(w, "alice")]
    assert c is not None and c.admins == sorted([key(w, "alice"), key(w, "bob")])
    assert c.key == key(w, "alice")
    assert wire.admin_signed(c.key, c.signature, w.mailbox, ne.seq, ne.prev, ne.ciphertext, None, c.admins)
    w.publish(ne)
    assert admins.relay_admins(w.log("carol")) == c.admins  # every member folds the same set


def test_a_demotion_a_departure_and_a_removal_of_an_admin_each_send_the_smaller_set(w):
    for name in ("bob", "carol"):
        w.post("alice", "role", {"member": w.person(name).public.id, "role": "admin"})
    demote = next_entry(w, "alice", "role", {"member": w.person("bob").public.id, "role": "member"})
    assert claim(w, "alice", demote).admins == sorted([key(w, "alice"), key(w, "carol")])
    w.publish(demote)
    leave = next_entry(w, "carol", "leave", {})
    assert claim(w, "carol", leave).admins == [key(w, "alice")]
    w.publish(leave)
    w.post("alice", "role", {"member": w.person("bob").public.id, "role": "admin"})
    removal = w.build_rotation("alice", remove="bob")
    c = claim(w, "alice", removal)
    assert c.admins == [key(w, "alice")] and removal.new_cap_hash is not None
    assert wire.admin_signed(c.key, c.signature, w.mailbox, removal.seq, removal.prev, removal.ciphertext,
                             removal.new_cap_hash, c.admins)


def test_a_rotation_carries_the_unchanged_set_and_ordinary_entries_carry_nothing(w):
    rotation = w.build_rotation("alice")
    c = claim(w, "alice", rotation)
    assert c is not None and c.admins == [key(w, "alice")]
    assert claim(w, "bob", next_entry(w, "bob", "vouch", {"request": bytes(8)})) is None
    # a role entry the rules ignore (a member promoting herself) changes nothing
    assert claim(w, "bob", next_entry(w, "bob", "role", {"member": w.person("bob").public.id,
                                                         "role": "admin"})) is None


def test_admin_sets_are_sorted_bounded_32_byte_keys():
    keys = sorted(bytes([i]) * 32 for i in range(3))
    assert wire.check_admin_set(keys) == keys
    for bad in (keys[::-1], [keys[0], keys[0]], [bytes(31)], [bytes(32)] * (wire.MAX_ADMINS + 1)):
        with pytest.raises(ValueError):
            wire.check_admin_set(bad)


def test_a_join_request_carrying_someone_elses_relay_admin_key_is_ignored(w):
    """Relay-admin keys are unique in the group: a joiner who copied an admin's key
    (public in the log) and were made admin would keep that admin in the relay's admin
    set after a demotion. Such a request is ignored by every device, naming why."""
    secret = w.invite("alice", "copycat")
    me = w.person("copycat")
    inner = encode({"group": w.group, "invite": secret.invite_id, "name": "copycat",
                    "sign": me.public.sign.raw, "relay": key(w, "alice"),
                    "device": me.device_record(w.group).to_value()})
    signed = encode([inner, crypto.sign(me.member, "hramada:v1:join-request", inner),
                     crypto.sign(secret.signing, "hramada:v1:invite-proof", inner)])
    w.post("bob", "request", {"request": signed})
    for name in ("alice", "carol"):
        code, params = w.log(name).warnings[-1]
        assert code == "ignored-entry" and params["reason"] == "relay-key-taken"
        assert inv.request_id(signed) not in w.log(name).requests
