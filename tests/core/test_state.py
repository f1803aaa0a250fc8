"""Folding the log into group state: every kind's rule, every way a log can be wrong.

Two outcomes are told apart on purpose:

* an entry correctly signed by a current member but not allowed by the rules is
  **ignored** the same way on every device, with a warning (a rogue member cannot
  brick the log with it);
* anything that is not what a member wrote at that position — forged, tampered,
  out of place, unopenable — is a **verification failure** and stops the group.
"""

from __future__ import annotations

import pytest

from hramada.core import build, crypto, wire
from hramada.core.crypto import BoxPublicKey
from hramada.core import invitation as inv
from hramada.core.state import IGNORED_REASONS
from hramada.core.encoding import decode, encode
from hramada.core.entries import Envelope, envelope_bytes, open_entry, seal_entry
from hramada.core.identity import Identity, make_device_record
from hramada.core.keys import Generation, KeyBlock, make_key_block, open_key_block
from hramada.core.joining import WelcomeMismatch, walk_back_generations
from hramada.core.state import GroupLog, Keyring
from hramada.errors import (DecryptionError, EncodingError, ForgeryError, ForkError,
                            KeyWithheldError, VerificationError)

from .world import World, signed_again, summary


def state_without_position(log: GroupLog) -> dict:
    s = summary(log)
    for key in ("head", "hashes", "warnings"):
        del s[key]
    return s


def assert_ignored(w: World, author: str, kind: str, body: dict, reason: str) -> None:
    """The entry is accepted into the chain but changes nothing except a warning."""
    log = w.log("alice")
    before = state_without_position(log)
    n = len(log.warnings)
    new = w.post(author, kind, body)
    assert log.head[0] == new.seq, "an ignored entry still extends the chain"
    assert len(log.warnings) == n + 1
    code, params = log.warnings[-1]
    assert code == "ignored-entry" and params["seq"] == new.seq and params["kind"] == kind
    assert params["by"] == w.person(author).public.id and params["reason"] == reason
    assert reason in IGNORED_REASONS
    assert state_without_position(log) == before


def assert_void(log: GroupLog, keys: Keyring, entry, reason: str, by: bytes | None = None) -> None:
    """A holder of the group's key appended it, so it is no relay's doing: it stays in
    the chain, changes nothing, and the warning says who (if anyone) signed it and why."""
    before, gens, n = state_without_position(log), dict(keys.generations), len(log.warnings)
    assert log.apply(*entry, keys) is None
    assert log.head[0] == entry[0] and len(log.warnings) == n + 1
    assert log.warnings[-1] == ("void-entry", {"seq": entry[0], "by": by, "reason": reason})
    assert state_without_position(log) == before and keys.generations == gens


def assert_unchanged_after_failure(log: GroupLog, keys: Keyring, entry, error,
                                   match: str | None = None) -> None:
    before, gens = summary(log), dict(keys.generations)
    with pytest.raises(error, match=match):
        log.apply(*entry, keys)
    assert summary(log) == before and keys.generations == gens


@pytest.fixture
def w() -> World:
    """Alice (admin) and Bob (member) in a group that wants two vouches."""
    world = World.create("state", vouches=2)
    world.join("bob", invited_by="alice", vouchers=["alice"], admitted_by="alice")
    return world


# -- create --------------------------------------------------------------------------

def test_create_makes_the_creator_admin_and_fixes_the_group_id():
    with pytest.raises(ValueError, match="space"):  # the client trims typed names; records never
        World.create("create", vouches=3, group_name="  Vilnius union ")
    w = World.create("create", vouches=3, group_name="Vilnius union")
    log = w.log("alice")
    alice = w.person("alice").public
    assert log.name == "Vilnius union" and log.vouches_required == 3
    assert list(log.members) == [alice.id]
    m = log.members[alice.id]
    assert (m.name, m.role, m.since, m.until, m.key) == ("alice", "admin", 1, None, alice)
    assert len(log.group) == 16 and log.generation == 0
    gen0 = w.keys("alice").generations[0]
    info = log.generations[0]
    assert (info.commitment, info.cap_hash, info.start, info.end) == \
           (gen0.commitment, wire.cap_hash(gen0.relay_cap), 1, None)
    assert log.head == (1, wire.entry_hash(w.mailbox, *w.relay[0]))
    assert log.warnings == []


def test_create_refuses_bad_arguments():
    me = World.create("args").person("alice")
    common = {"mailbox": bytes(16), "creator": me, "creator_name": "alice", "seed": bytes(32),
              "group_nonce": bytes(16), "nonce": bytes(24)}
    for bad in ({"name": "ok", "vouches": 0}, {"name": "", "vouches": 1},
                {"name": "ok", "vouches": 1.5}):
        with pytest.raises(ValueError):
            build.create_group(**bad, **common)


def test_two_creations_with_the_same_name_are_different_groups():
    a, b = World.create("a"), World.create("b")
    assert a.log("alice").group != b.log("alice").group


def test_the_log_must_start_with_create():
    w = World.create("start")
    gen0 = w.keys("alice").generations[0]
    ct = seal_entry(mailbox=w.mailbox, group=b"", seq=1, prev=wire.GENESIS_PREV, kind="invite", body={},
                    author=w.person("alice").member_id, device=w.person("alice").signing, generation=gen0, nonce=bytes(24))
    with pytest.raises(VerificationError, match="creation"):
        GroupLog(w.mailbox).apply(1, wire.GENESIS_PREV, ct, Keyring(None, {0: gen0}))


def test_create_signed_by_someone_else_than_its_creator_is_a_forgery():
    w = World.create("creator")
    gen0 = w.keys("alice").generations[0]
    alice, mallory = w.person("alice"), w.person("mallory")
    body = {"name": "g", "nonce": bytes(16), "vouches": 1, "commit": gen0.commitment,
            "cap": wire.cap_hash(gen0.relay_cap),
            "member": {"name": "alice", "sign": alice.public.sign.raw, "relay": alice.relay_admin.public.raw,
                       "device": alice.device_record(b"").to_value()}}
    ct = seal_entry(mailbox=w.mailbox, group=b"", seq=1, prev=wire.GENESIS_PREV, kind="create", body=body,
                    author=mallory.member_id, device=mallory.signing, generation=gen0, nonce=bytes(24))
    with pytest.raises(ForgeryError, match="creator"):
        GroupLog(w.mailbox).apply(1, wire.GENESIS_PREV, ct, Keyring(None, {0: gen0}))


def test_create_whose_seed_does_not_match_its_commitment_is_a_forgery():
    w = World.create("commit")
    gen0 = w.keys("alice").generations[0]
    alice = w.person("alice")
    body = {"name": "g", "nonce": bytes(16), "vouches": 1,
            "commit": crypto.hash32("hramada:v1:seed-commit", bytes(32)),
            "cap": wire.cap_hash(gen0.relay_cap),
            "member": {"name": "alice", "sign": alice.public.sign.raw, "relay": alice.relay_admin.public.raw,
                       "device": alice.device_record(b"").to_value()}}
    ct = seal_entry(mailbox=w.mailbox, group=b"", seq=1, prev=wire.GENESIS_PREV, kind="create", body=body,
                    author=alice.member_id, device=alice.signing, generation=gen0, nonce=bytes(24))
    with pytest.raises(ForgeryError, match="commitment"):
        GroupLog(w.mailbox).apply(1, wire.GENESIS_PREV, ct, Keyring(None, {0: gen0}))


@pytest.mark.parametrize("change", [
    {"vouches": 0}, {"name": " "}, {"cap": bytes(5)}, {"extra": 1},
    {"member": {"name": "a", "sign": bytes(32)}},
    {"member": {"name": "a", "sign": bytes(32), "relay": bytes(32), "device": {"name": "x"}}},
])
def test_malformed_create_is_an_encoding_error(change):
    w = World.create("malformed-create")
    gen0 = w.keys("alice").generations[0]
    alice = w.person("alice")
    body = {"name": "g", "nonce": bytes(16), "vouches": 1, "commit": gen0.commitment,
            "cap": wire.cap_hash(gen0.relay_cap),
            "member": {"name": "alice", "sign": alice.public.sign.raw, "relay": alice.relay_admin.public.raw,
                       "device": alice.device_record(b"").to_value()}, **change}
    ct = seal_entry(mailbox=w.mailbox, group=b"", seq=1, prev=wire.GENESIS_PREV, kind="create", body=body,
                    author=alice.member_id, device=alice.signing, generation=gen0, nonce=bytes(24))
    with pytest.raises(EncodingError):
        GroupLog(w.mailbox).apply(1, wire.GENESIS_PREV, ct, Keyring(None, {0: gen0}))


def test_create_with_a_key_block_is_refused():
    w = World.create("create-block")
    env = Envelope.parse(envelope_bytes(w.relay[0][2]))
    block = KeyBlock(bytes(32), (), b"")
    gen0 = w.keys("alice").generations[0]
    entry = signed_again(w.relay[0], Envelope(env.nonce, env.sealed, block).to_bytes(), gen0, w.mailbox)
    with pytest.raises(VerificationError, match="key rotation"):
        GroupLog(w.mailbox).apply(*entry, w.keys("alice"))


def test_a_log_of_another_group_is_refused_by_an_invitee():
    """A relay that serves a different group (even a copy with the same name, made for
    the same mailbox) to someone holding an invitation code is caught at the very
    first entry."""
    real = World.create("real")
    fake = World.create("fake", mailbox=real.mailbox)
    log = GroupLog(real.mailbox, real.group)
    with pytest.raises(ForgeryError, match="different group"):
        log.apply(*fake.relay[0], fake.keys("alice"))


def test_the_first_entry_is_bound_to_its_mailbox():
    w = World.create("first-entry")
    with pytest.raises(ForgeryError, match="relay changed it"):
        GroupLog(bytes(16)).apply(*w.relay[0], w.keys("alice"))


def test_no_key_for_generation_zero_is_a_decryption_error():
    w = World.create("nokey")
    with pytest.raises(DecryptionError):
        GroupLog(w.mailbox).apply(*w.relay[0], Keyring(None, {}))


def test_a_second_create_is_ignored(w):
    assert_ignored(w, "bob", "create", {"name": "hijack"}, "created-already")


# -- invite --------------------------------------------------------------------------

def test_invite_records_the_commitments(w):
    secret = w.invite("bob", "x")
    invite = w.log("alice").invites[secret.invite_id]
    assert (invite.sign, invite.box_key, invite.drop, invite.by, invite.request) == \
           (secret.signing.public, secret.box_key, secret.drop_id,
            w.person("bob").public.id, None)


def test_newcomers_cannot_invite(w):
    w.join("carol", invited_by="alice", vouchers=["alice", "bob"], admitted_by="alice",
           role="newcomer")
    assert_ignored(w, "carol", "invite", inv.InvitationSecret(bytes(32)).log_body(),
                   "newcomer-cannot-invite")


def test_the_same_invitation_twice_is_ignored(w):
    secret = w.invite("alice", "x")
    assert_ignored(w, "bob", "invite", secret.log_body(), "invite-exists")


@pytest.mark.parametrize("body", [{}, {"invite": bytes(16)},
                                  {"invite": bytes(15), "sign": bytes(32), "key": bytes(32),
                                   "drop": bytes(16)}])
def test_a_malformed_invite_by_a_member_is_ignored(w, body):
    assert_ignored(w, "bob", "invite", body, "malformed")


# -- request -------------------------------------------------------------------------

def test_request_records_the_pending_newcomer(w):
    w.invite("alice", "x")
    rid = w.request("dana", "x", by="bob")
    req = w.log("alice").requests[rid]
    assert (req.name, req.key, req.invite, req.posted_by, req.vouches, req.status) == \
           ("dana", w.person("dana").public, w.secrets["x"].invite_id,
            w.person("bob").public.id, [], "pending")
    assert w.log("alice").invites[w.secrets["x"].invite_id].request == rid
    assert w.person("dana").public.id not in w.log("alice").members


def test_request_for_an_unknown_invitation_is_ignored(w):
    signed = inv.make_join_request(w.group, inv.InvitationSecret(bytes(32)),
                                   w.person("eve"), "eve")
    assert_ignored(w, "bob", "request", {"request": signed}, "no-such-invite")


def test_request_without_the_code_is_ignored(w):
    """Someone who knows the invitation id but not its secret cannot use it."""
    secret = w.invite("alice", "x")
    signed = inv.make_join_request(w.group, secret, w.person("eve"), "eve")
    inner, sig_id, _ = decode(signed)
    forged = encode([inner, sig_id, crypto.sign(w.person("eve").signing,
                                                "hramada:v1:invite-proof", inner)])
    assert_ignored(w, "bob", "request", {"request": forged}, "request-invalid")


def test_request_for_another_group_is_ignored(w):
    secret = w.invite("alice", "x")
    signed = inv.make_join_request(bytes(16), secret, w.person("eve"), "eve")
    assert_ignored(w, "bob", "request", {"request": signed}, "request-invalid")


def test_the_same_request_twice_is_ignored(w):
    w.invite("alice", "x")
    signed = w.join_request("dana", "x")
    w.post("alice", "request", {"request": signed})
    assert_ignored(w, "bob", "request", {"request": signed}, "request-exists")


def test_a_request_reusing_a_members_box_key_is_ignored(w):
    """Box keys label each device's share of a new key: two devices must not share one."""
    secret = w.invite("alice", "x")
    copycat = Identity(w.person("eve").member, w.person("eve").signing, w.person("bob").boxing)
    signed = inv.make_join_request(w.group, secret, copycat, "eve")
    assert_ignored(w, "bob", "request", {"request": signed}, "box-key-taken")


def test_a_request_reusing_a_members_device_key_is_ignored(w):
    """Device keys name a device's entries and items: two devices must not share one."""
    secret = w.invite("alice", "x")
    copycat = Identity(w.person("eve").member, w.person("bob").signing, w.person("eve").boxing)
    signed = inv.make_join_request(w.group, secret, copycat, "eve")
    assert_ignored(w, "bob", "request", {"request": signed}, "device-key-taken")


def test_an_invitation_is_used_once(w):
    w.invite("alice", "x")
    w.request("dana", "x", by="alice")
    assert_ignored(w, "bob", "request", {"request": w.join_request("eve", "x")},
                   "invite-used")


def test_a_member_cannot_request_to_join_again(w):
    w.invite("alice", "x")
    signed = inv.make_join_request(w.group, w.secrets["x"], w.person("bob"), "bob2")
    assert_ignored(w, "alice", "request", {"request": signed}, "already-member")


@pytest.mark.parametrize("request_bytes", [b"", b"\xff", encode([b"x", b"y", b"z"])])
def test_a_malformed_request_is_ignored(w, request_bytes):
    assert_ignored(w, "bob", "request", {"request": request_bytes}, "malformed")


# -- vouch ---------------------------------------------------------------------------

def test_vouches_are_recorded_in_order(w):
    w.invite("alice", "x")
    rid = w.request("dana", "x", by="alice")
    w.vouch("bob", "dana")
    w.vouch("alice", "dana")
    assert w.log("alice").requests[rid].vouches == [w.person("bob").public.id,
                                                    w.person("alice").public.id]


def test_vouching_twice_is_ignored(w):
    w.invite("alice", "x")
    rid = w.request("dana", "x", by="alice")
    w.vouch("bob", "dana")
    assert_ignored(w, "bob", "vouch", {"request": rid}, "already-vouched")


def test_vouch_for_an_unknown_request_is_ignored(w):
    assert_ignored(w, "bob", "vouch", {"request": bytes(8)}, "no-such-request")


def test_vouch_after_admission_is_ignored(w):
    assert_ignored(w, "bob", "vouch", {"request": w.requests["bob"]}, "no-such-request")


def test_newcomers_cannot_vouch(w):
    w.join("carol", invited_by="alice", vouchers=["alice", "bob"], admitted_by="alice",
           role="newcomer")
    w.invite("alice", "x")
    rid = w.request("dana", "x", by="alice")
    assert_ignored(w, "carol", "vouch", {"request": rid}, "newcomer-cannot-vouch")


# -- admit ---------------------------------------------------------------------------

def test_admit_makes_a_member_and_records_who_vouched(w):
    w.invite("alice", "x")
    rid = w.request("dana", "x", by="alice")
    w.vouch("alice", "dana")
    w.vouch("bob", "dana")
    new = w.post("alice", "admit", {"request": rid, "role": "newcomer"})
    log = w.log("alice")
    m = log.members[w.person("dana").public.id]
    assert (m.name, m.role, m.since, m.request) == ("dana", "newcomer", new.seq, rid)
    assert set(m.vouchers) == {w.person("alice").public.id, w.person("bob").public.id}
    assert log.requests[rid].status == "admitted"


def test_admit_is_refused_with_fewer_vouches_than_needed(w):
    w.invite("alice", "x")
    rid = w.request("dana", "x", by="alice")
    w.vouch("bob", "dana")
    assert_ignored(w, "alice", "admit", {"request": rid, "role": "member"}, "vouches-missing")
    w.vouch("alice", "dana")
    w.admit("alice", "dana")
    assert w.person("dana").public.id in w.log("alice").members


def test_vouches_needed_is_k_capped_by_the_members_who_can_vouch():
    w = World.create("needed", vouches=3)
    log = w.log("alice")
    assert log.vouches_needed() == 1  # min(3, 1 admin)
    w.join("bob", invited_by="alice", vouchers=["alice"], admitted_by="alice")
    assert log.vouches_needed() == 2  # min(3, admin + member)
    w.join("carol", invited_by="alice", vouchers=["alice", "bob"], admitted_by="alice",
           role="newcomer")
    assert log.vouches_needed() == 2  # newcomers do not count
    w.join("dana", invited_by="alice", vouchers=["alice", "bob"], admitted_by="alice")
    assert log.vouches_needed() == 3
    w.join("erik", invited_by="alice", vouchers=["alice", "bob", "dana"], admitted_by="alice")
    assert log.vouches_needed() == 3  # K caps it


def test_vouches_of_people_who_are_gone_or_demoted_do_not_count(w):
    w.join("carol", invited_by="alice", vouchers=["alice", "bob"], admitted_by="alice")
    w.invite("alice", "x")
    rid = w.request("dana", "x", by="alice")
    w.vouch("bob", "dana")
    w.vouch("carol", "dana")
    w.post("alice", "role", {"member": w.person("bob").public.id, "role": "newcomer"})
    w.post("carol", "leave", {})
    assert w.log("alice").valid_vouches(w.log("alice").requests[rid]) == []
    assert_ignored(w, "alice", "admit", {"request": rid, "role": "member"}, "vouches-missing")


def test_only_admins_admit(w):
    w.invite("alice", "x")
    rid = w.request("dana", "x", by="alice")
    w.vouch("alice", "dana")
    w.vouch("bob", "dana")
    assert_ignored(w, "bob", "admit", {"request": rid, "role": "member"}, "not-admin")


def test_admit_as_admin_is_not_a_choice(w):
    w.invite("alice", "x")
    rid = w.request("dana", "x", by="alice")
    w.vouch("alice", "dana")
    w.vouch("bob", "dana")
    assert_ignored(w, "alice", "admit", {"request": rid, "role": "admin"}, "bad-role")


def test_admit_of_an_unknown_or_already_admitted_request_is_ignored(w):
    assert_ignored(w, "alice", "admit", {"request": bytes(8), "role": "member"}, "no-such-request")
    assert_ignored(w, "alice", "admit", {"request": w.requests["bob"], "role": "member"},
                   "no-such-request")


def test_a_removed_identity_cannot_be_admitted_again(w):
    w.rotate("alice", remove="bob")
    w.invite("alice", "again")
    signed = inv.make_join_request(w.group, w.secrets["again"], w.person("bob"), "bob")
    assert_ignored(w, "alice", "request", {"request": signed}, "former-member")


def test_a_newcomer_is_welcomed_into_the_same_state(w):
    w.join("carol", invited_by="bob", vouchers=["alice", "bob"], admitted_by="alice")
    assert summary(w.log("carol")) == summary(w.log("alice")) == summary(w.log("bob"))


# -- leave, role, policy ---------------------------------------------------------------

def test_leave_moves_the_member_out_and_asks_for_a_rotation(w):
    new = w.post("bob", "leave", {})
    log = w.log("alice")
    bob = w.person("bob").public.id
    assert bob not in log.members and log.former[bob].until == new.seq
    assert log.rotation_due
    w.rotate("alice")
    assert not log.rotation_due


def test_the_last_admin_cannot_leave_while_others_remain(w):
    assert_ignored(w, "alice", "leave", {}, "last-admin")


def test_the_last_member_may_leave():
    w = World.create("alone")
    w.post("alice", "leave", {})
    assert w.log("alice").members == {}


def test_a_malformed_leave_is_ignored(w):
    assert_ignored(w, "bob", "leave", {"why": "x"}, "malformed")


def test_role_changes(w):
    bob = w.person("bob").public.id
    w.post("alice", "role", {"member": bob, "role": "admin"})
    assert w.log("alice").members[bob].role == "admin"
    w.post("bob", "role", {"member": w.person("alice").public.id, "role": "member"})
    assert w.log("alice").members[w.person("alice").public.id].role == "member"


@pytest.mark.parametrize(("author", "target", "role", "reason"), [
    ("bob", "bob", "admin", "not-admin"),
    ("alice", "zed", "member", "no-such-member"),
    ("alice", "bob", "owner", "no-such-member"),
    ("alice", "alice", "member", "last-admin"),
])
def test_role_changes_that_are_ignored(w, author, target, role, reason):
    assert_ignored(w, author, "role", {"member": w.person(target).public.id, "role": role},
                   reason)


def test_policy_changes_the_vouches_required(w):
    w.post("alice", "policy", {"vouches": 5})
    assert w.log("alice").vouches_required == 5
    assert w.log("alice").vouches_needed() == 2


@pytest.mark.parametrize(("author", "vouches", "reason"), [
    ("bob", 1, "not-admin"), ("alice", 0, "vouches-below-one"), ("alice", -3, "vouches-below-one"),
])
def test_policy_changes_that_are_ignored(w, author, vouches, reason):
    assert_ignored(w, author, "policy", {"vouches": vouches}, reason)


# -- remove and rotate ---------------------------------------------------------------

def test_removal_rotates_and_the_removed_member_cannot_follow(w):
    bob = w.person("bob")
    bob_keys = w.keys("bob")
    w.post_item("bob", "before removal")
    c = {bob.device_id: 1}
    new = w.rotate("alice", remove="bob", items_cutoff=c)
    log = w.log("alice")
    assert bob.public.id not in log.members and log.former[bob.public.id].until == new.seq
    assert log.generation == 1
    info0, info1 = log.generations
    assert (info0.end, info0.items_cutoff) == (new.seq, c)
    assert (info1.number, info1.start, info1.end) == (1, new.seq, None)
    assert info1.cap_hash == wire.cap_hash(new.new_generation.relay_cap) == new.new_cap_hash
    assert "bob" not in w.views  # bob's own device could not apply the removal
    # with everything bob ever held, the new generation stays closed to him
    env = Envelope.parse(envelope_bytes(new.ciphertext))
    with pytest.raises(KeyWithheldError):
        open_key_block(env.key_block, bob_keys.generations[0], bob.boxing)
    with pytest.raises(KeyWithheldError):  # folding the log from scratch as bob
        w.fold("alice", keys=Keyring(bob.boxing, {0: bob_keys.generations[0]}))
    # and nothing written after the removal opens with his keys
    after = w.post("alice", "policy", {"vouches": 1})
    with pytest.raises(DecryptionError):
        open_entry(Envelope.parse(envelope_bytes(after.ciphertext)), after.seq, bob_keys.generations[0])


def test_remaining_members_follow_a_rotation(w):
    w.join("carol", invited_by="alice", vouchers=["alice", "bob"], admitted_by="alice")
    w.rotate("alice", remove="bob")
    w.rotate("alice")
    assert w.keys("carol").generations.keys() == {0, 1, 2}
    assert w.keys("carol").generations[2].seed == w.keys("alice").generations[2].seed
    assert summary(w.log("carol")) == summary(w.log("alice"))


def test_a_newcomer_walks_back_to_every_generation(w):
    w.rotate("alice")
    w.rotate("alice", remove="bob")
    w.join("carol", invited_by="alice", vouchers=["alice"], admitted_by="alice")
    assert {n: g.seed for n, g in w.keys("carol").generations.items()} == \
           {n: g.seed for n, g in w.keys("alice").generations.items()}
    assert summary(w.log("carol")) == summary(w.log("alice"))


def test_a_welcome_with_a_wrong_seed_is_caught_by_the_commitment(w):
    w.rotate("alice")
    w.invite("alice", "x")
    w.request("carol", "x", by="alice")
    w.vouch("alice", "carol")
    w.vouch("bob", "carol")
    w.admit("alice", "carol")
    seq = w.log("alice").head[0]
    letter = inv.make_welcome(w.person("carol").boxing.public, bytes(32), w.group,
                              w.requests["carol"], Generation(1, bytes(range(32))),
                              admit=(seq, w.log("alice").hash_at(seq)), starts=[w.log("alice").generations[1].start])
    with pytest.raises(WelcomeMismatch):
        w.fold_as_newcomer("carol", letter)


def test_a_welcome_from_the_future_is_refused(w):
    w.invite("alice", "x")
    w.request("carol", "x", by="alice")
    letter = inv.make_welcome(w.person("carol").boxing.public, bytes(32), w.group,
                              w.requests["carol"], Generation(4, bytes(32)),
                              admit=(3, bytes(32)), starts=[2, 3, 4, 5])
    with pytest.raises(WelcomeMismatch, match="missing key rotations"):
        w.fold_as_newcomer("carol", letter)


def _admit_carol_after_a_rotation(w: World) -> None:
    w.rotate("alice")
    w.invite("alice", "x")
    w.request("carol", "x", by="alice")
    w.vouch("alice", "carol")
    w.vouch("bob", "carol")
    w.admit("alice", "carol")


def test_a_stale_welcome_from_a_hostile_member_does_not_fit_and_the_real_one_does(w):
    """bob holds every old key and sees carol's box key in the log: he seals her a
    welcome with generation 0 (before the rotation that preceded her admission),
    naming her real admission. Folding with it, carol's device would meet a rotation
    that gives her no key and conclude she was removed; now the welcome just does not
    fit, and the real one, found next, does."""
    old_gen = w.keys("bob").generations[0]
    _admit_carol_after_a_rotation(w)
    log = w.log("bob")
    seq = log.head[0]
    stale = inv.make_welcome(w.person("carol").boxing.public, bytes(32), w.group, w.requests["carol"],
                             old_gen, admit=(seq, log.hash_at(seq)), starts=[])
    with pytest.raises(WelcomeMismatch) as caught:
        w.fold_as_newcomer("carol", stale)
    assert not isinstance(caught.value, DecryptionError)  # never "removed"
    view = w.fold_as_newcomer("carol", w.welcome_for("carol", by="alice"))
    assert summary(view.log) == summary(w.log("alice"))


def test_a_welcome_naming_another_admission_does_not_fit(w):
    _admit_carol_after_a_rotation(w)
    log, gen = w.log("alice"), w.keys("alice").generations[1]
    seq = log.head[0]
    starts = [log.generations[1].start]
    for admit, request in (((seq - 1, log.hash_at(seq - 1)), w.requests["carol"]),
                           ((seq, bytes(32)), w.requests["carol"]),
                           ((seq + 5, log.hash_at(seq)), w.requests["carol"]),
                           ((seq, log.hash_at(seq)), bytes(8))):
        letter = inv.make_welcome(w.person("carol").boxing.public, bytes(32), w.group, request, gen,
                                  admit=admit, starts=starts)
        with pytest.raises(WelcomeMismatch):
            w.fold_as_newcomer("carol", letter)


def test_rotation_by_a_non_admin_is_void(w):
    view = w.views["bob"]
    new = build.rotation(view.log, author=view.identity, keys=view.keys, seed=bytes(32),
                         ephemeral_secret=bytes(range(32)), nonce=bytes(24), auth_nonce=bytes(24),
                         items_cutoff={})
    bob = w.person("bob").public.id
    for name in ("alice", "bob"):
        assert_void(w.log(name), w.keys(name), (new.seq, new.prev, new.ciphertext),
                    "rotation-not-authorised", bob)


def test_removal_by_a_non_admin_is_void_for_the_one_left_out_too(w):
    view = w.views["bob"]
    new = build.rotation(view.log, author=view.identity, keys=view.keys, seed=bytes(32),
                         ephemeral_secret=bytes(range(32)), nonce=bytes(24), auth_nonce=bytes(24),
                         items_cutoff={}, remove=w.person("alice").public.id)
    # alice was left out and cannot read the entry, but she can tell that no admin
    # authorised the key block: void, not "you were removed", and not an alarm
    bob = w.person("bob").public.id
    assert_void(w.log("alice"), w.keys("alice"), (new.seq, new.prev, new.ciphertext),
                "rotation-not-authorised", bob)
    w.relay.append((new.seq, new.prev, new.ciphertext))
    w.log("bob").apply(new.seq, new.prev, new.ciphertext, w.keys("bob"))
    w.join("carol", invited_by="alice", vouchers=["alice", "bob"], admitted_by="alice")
    view = w.views["bob"]
    new = build.rotation(view.log, author=view.identity, keys=view.keys, seed=bytes(32),
                         ephemeral_secret=bytes(range(32)), nonce=bytes(24), auth_nonce=bytes(24),
                         items_cutoff={}, remove=w.person("alice").public.id)
    assert_void(w.log("carol"), w.keys("carol"), (new.seq, new.prev, new.ciphertext),
                "rotation-not-authorised", bob)
    assert w.log("carol").members.keys() == w.log("alice").members.keys()


def _rotation_with(w: World, *, body_change=None, recipients=None, block_change=None,
                   kind="rotate"):
    """A rotation by alice, built by hand so that one part of it can be wrong. Its key
    block is authorised for the removal of the body's ``member`` (if a 32-byte one)."""
    log, keys = w.log("alice"), w.keys("alice")
    old = keys.generations[log.generation]
    new = Generation(old.number + 1, bytes(range(32)))
    if recipients is None:
        recipients = [BoxPublicKey(d.box) for m in log.members.values() for d in m.devices.values()]
    seq, prev = log.head
    removed = (body_change or {}).get("member", b"") if kind == "remove" else b""
    block = make_key_block(old, new, recipients, bytes(range(1, 33)),
                           author=w.person("alice").signing, group=log.group, seq=seq + 1,
                           auth_nonce=bytes(range(2, 26)), removed=removed)
    if block_change:
        block = block_change(block)
    body = {"commit": new.commitment, "cap": wire.cap_hash(new.relay_cap),
            "keys": block.digest, "items": [], **(body_change or {})}
    ct = seal_entry(mailbox=w.mailbox, group=log.group, seq=seq + 1, prev=prev, kind=kind, body=body,
                    author=w.person("alice").member_id, device=w.person("alice").signing, generation=new, nonce=bytes(24),
                    key_block=block, in_force=old)
    return seq + 1, prev, ct


ALICE = World.create("state").person("alice").public.id  # the same seed as the fixture


def test_a_correct_hand_made_rotation_applies(w):
    entry = _rotation_with(w)
    w.log("alice").apply(*entry, w.keys("alice"))
    assert w.log("alice").generation == 1


def _flip_back(block):
    return KeyBlock(block.ephemeral, block.boxes, block.back[:-1] + bytes([block.back[-1] ^ 1]),
                    block.auth)


def test_a_key_block_tampered_with_by_the_relay_is_a_forgery(w):
    seq, prev, ct = _rotation_with(w)
    env = Envelope.parse(envelope_bytes(ct))
    tampered = Envelope(env.nonce, env.sealed, _flip_back(env.key_block)).to_bytes() + ct[-64:]
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"), (seq, prev, tampered),
                                   ForgeryError, "relay changed it")


def test_a_key_block_changed_by_a_member_after_an_admin_signed_it_is_void(w):
    """Bob holds the group's key, so he can append alice's key block changed: no admin
    authorised what he appends, and every member sees that with the old generation."""
    entry = _rotation_with(w)
    env = Envelope.parse(envelope_bytes(entry[2]))
    changed = Envelope(env.nonce, env.sealed, _flip_back(env.key_block)).to_bytes()
    entry = signed_again(entry, changed, w.keys("alice").generations[0], w.mailbox)
    for name in ("alice", "bob"):
        assert_void(w.log(name), w.keys(name), entry, "rotation-not-authorised")


def test_a_key_block_that_skips_a_member_is_void(w):
    entry = _rotation_with(w, recipients=[w.person("alice").boxing.public])
    for name in ("alice", "bob"):  # bob, left out, knows it does not remove him
        assert_void(w.log(name), w.keys(name), entry, "rotation-invalid", ALICE)


def test_a_rotation_whose_seed_does_not_match_its_commitment_is_void(w):
    entry = _rotation_with(w, body_change={"commit": bytes(32)})
    assert_void(w.log("alice"), w.keys("alice"), entry, "rotation-invalid", ALICE)


@pytest.mark.parametrize("change", [{"member": bytes(32)}, {}])  # a stranger; nobody
def test_removing_someone_who_is_not_a_member_is_void(w, change):
    entry = _rotation_with(w, kind="remove", body_change=change)
    assert_void(w.log("alice"), w.keys("alice"), entry, "rotation-invalid", ALICE)


def test_removing_oneself_is_void(w):
    alice = w.person("alice").public.id
    entry = _rotation_with(w, kind="remove", body_change={"member": alice},
                           recipients=[w.person("bob").boxing.public])
    assert_void(w.log("bob"), w.keys("bob"), entry, "rotation-invalid", ALICE)


L = bytes(range(32))  # a link (items.md §1)


@pytest.mark.parametrize(("cutoff", "error"), [
    (lambda w: 5, EncodingError),                                           # a bare cursor
    (lambda w: [[w.person("bob").public.id, -1, L]], EncodingError),        # a negative number
    (lambda w: [[w.person("bob").public.id, 0, L]], EncodingError),         # zero (leave it out)
    (lambda w: [[w.person("bob").public.id, 2**32, L]], EncodingError),     # out of range
    (lambda w: sorted([[w.person("bob").public.id, 1, L], [w.person("alice").public.id, 1, L]],
                      reverse=True), EncodingError),                       # not in author order
    (lambda w: [[w.person("bob").public.id, 1, L]] * 2, EncodingError),     # an author twice
    (lambda w: [[w.person("mallory").public.id, 3, L]], VerificationError), # not a member
    (lambda w: [[w.person("bob").public.id, 1]], EncodingError),            # no link
    (lambda w: [[w.person("bob").public.id, 1, L[:31]]], EncodingError),    # a short link
], ids=["cursor", "negative", "zero", "too-large", "unsorted", "twice", "stranger", "no-link", "short-link"])
def test_a_rotation_with_a_malformed_item_cut_off_is_void(w, cutoff, error):
    """An admin signed it (a member could not), so it is void, not an alarm."""
    entry = _rotation_with(w, body_change={"items": cutoff(w)})
    assert_void(w.log("alice"), w.keys("alice"), entry, "rotation-invalid", ALICE)


def test_an_entry_that_claims_a_rotation_without_its_key_block_is_void(w):
    log, keys = w.log("alice"), w.keys("alice")
    seq, prev = log.head
    ct = seal_entry(mailbox=w.mailbox, group=log.group, seq=seq + 1, prev=prev, kind="rotate",
                    body={"commit": bytes(32), "cap": bytes(32), "keys": bytes(32), "items": []},
                    author=w.person("alice").member_id, device=w.person("alice").signing, generation=keys.generations[0],
                    nonce=bytes(24))
    assert_void(log, keys, (seq + 1, prev, ct), "rotation-without-keys", ALICE)


def test_a_key_block_on_an_ordinary_entry_is_void(w):
    log, keys = w.log("alice"), w.keys("alice")
    old = keys.generations[0]
    new = Generation(1, bytes(range(32)))
    block = make_key_block(old, new, [BoxPublicKey(d.box) for m in log.members.values() for d in m.devices.values()], bytes(32),
                           author=w.person("alice").signing, group=log.group,
                           seq=log.head[0] + 1, auth_nonce=bytes(24))
    entry = w.forge(w.person("alice"), "policy", {"vouches": 1}, generation=new,
                    key_block=block, in_force=old)
    assert_void(log, keys, entry, "keys-on-ordinary-entry", ALICE)


# -- verification failures -------------------------------------------------------------

def test_an_entry_by_a_non_member_is_void(w):
    """Bob left but still holds the log key (no rotation yet): his entries are void,
    and say that he wrote them; an outsider's signature names no one."""
    w.post("bob", "leave", {})
    entry = w.forge(w.person("bob"), "policy", {"vouches": 1})
    assert_void(w.log("alice"), w.keys("alice"), entry, "not-a-member", w.person("bob").public.id)
    outsider = w.forge(w.person("mallory"), "vouch", {"request": bytes(8)})
    assert_void(w.log("alice"), w.keys("alice"), outsider, "not-a-member")


def _hand_sealed(w: World, plaintext: bytes, seq: int, prev: bytes) -> tuple[int, bytes, bytes]:
    """An entry whose AEAD plaintext is made by hand, appended by a holder of the key."""
    gen0 = w.keys("alice").generations[0]
    nonce = bytes(24)
    env = Envelope(nonce, crypto.encrypt(gen0.log_key, nonce, plaintext,
                                         encode(["hramada:v1:log-entry", 1, seq])), None)
    return signed_again((seq, prev, b""), env.to_bytes(), gen0, w.mailbox)


def test_an_entry_whose_signature_is_not_its_authors_is_void(w):
    log, keys = w.log("alice"), w.keys("alice")
    seq, prev = log.head
    inner = encode({"v": 2, "s": 1, "group": log.group, "seq": seq + 1, "prev": prev,
                    "kind": "policy", "author": w.person("alice").public.id,
                    "device": w.person("alice").device_id, "body": {"vouches": 1}})
    signed = encode([inner, crypto.sign(w.person("bob").signing, "hramada:v1:log-entry", inner)])
    assert_void(log, keys, _hand_sealed(w, crypto.pad(signed), seq + 1, prev), "bad-signature")


@pytest.mark.parametrize("plaintext", [b"", b"\x80" + bytes(255), crypto.pad(b"garbage"),
                                       crypto.pad(encode({"v": 1}))])
def test_garbage_inside_an_entry_a_member_appended_is_void(w, plaintext):
    seq, prev = w.log("alice").head
    assert_void(w.log("alice"), w.keys("alice"), _hand_sealed(w, plaintext, seq + 1, prev), "malformed")


def test_an_entry_a_member_appended_that_does_not_decrypt_is_void(w):
    seq, prev = w.log("alice").head
    gen0 = w.keys("alice").generations[0]
    for envelope in (encode({"s": 1, "n": bytes(24), "c": b"x" * 100}), b"not even an envelope"):
        reason = "undecryptable" if envelope[0] == 0xA3 else "malformed"
        assert_void(w.log("alice"), w.keys("alice"), signed_again((seq + 1, prev, b""), envelope, gen0, w.mailbox),
                    reason)
        seq, prev = w.log("alice").head


def test_an_entry_of_another_group_is_void(w):
    entry = w.forge(w.person("bob"), "policy", {"vouches": 1}, group=bytes(16))
    assert_void(w.log("alice"), w.keys("alice"), entry, "other-group", w.person("bob").public.id)


def test_after_void_entries_the_group_goes_on(w):
    """Void entries still chain: the next honest entry applies on every device."""
    for name in ("alice", "bob"):
        seq, prev = w.log(name).head
        gen0 = w.keys(name).generations[0]
    junk = signed_again((seq + 1, prev, b""), b"junk", gen0, w.mailbox)
    w.relay.append(junk)
    for name in ("alice", "bob"):
        assert w.log(name).apply(*junk, w.keys(name)) is None
    w.rotate("alice", remove="bob")
    assert w.log("alice").generation == 1 and "bob" not in w.views
    assert w.fold("alice").head == w.log("alice").head


def test_a_broken_chain_is_refused(w):
    seq, _, ct = w.forge(w.person("bob"), "vouch", {"request": bytes(8)})
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"), (seq, bytes(32), ct),
                                   VerificationError)


def test_an_entry_moved_by_the_relay_to_another_history_is_a_forgery(w):
    """Served where it chains, but appended for another history."""
    seq, prev = w.log("alice").head
    _, _, ct = w.forge(w.person("bob"), "vouch", {"request": bytes(8)}, prev=bytes(32))
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"), (seq + 1, prev, ct),
                                   ForgeryError)


def test_an_entry_a_member_signed_for_another_position_is_void(w):
    seq, prev = w.log("alice").head
    _, _, ct = w.forge(w.person("bob"), "vouch", {"request": bytes(8)}, prev=bytes(32))
    entry = signed_again((seq + 1, prev, ct), envelope_bytes(ct), w.keys("alice").generations[0],
                         w.mailbox)
    assert_void(w.log("alice"), w.keys("alice"), entry, "misplaced", w.person("bob").public.id)


@pytest.mark.parametrize("offset", [-2, -1, 1, 100])
def test_an_entry_at_the_wrong_seq_is_a_fork(w, offset):
    seq, prev, ct = w.forge(w.person("bob"), "vouch", {"request": bytes(8)})
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"), (seq + offset, prev, ct),
                                   ForkError)


def test_a_replayed_entry_is_refused(w):
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"), w.relay[-1], ForkError)
    seq, prev = w.log("alice").head
    _, _, ct = w.relay[-1]
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"), (seq + 1, prev, ct),
                                   ForgeryError)


def test_a_log_moved_to_another_mailbox_is_refused(w):
    log = GroupLog(bytes(16))
    keys = Keyring(w.person("alice").boxing, {0: w.keys("alice").generations[0]})
    with pytest.raises(ForgeryError):
        log.apply(*w.relay[0], keys)


def test_a_ciphertext_tampered_with_by_the_relay_is_a_forgery(w):
    seq, prev, ct = w.forge(w.person("bob"), "vouch", {"request": bytes(8)})
    env = Envelope.parse(envelope_bytes(ct))
    bad = Envelope(env.nonce, env.sealed[:-1] + bytes([env.sealed[-1] ^ 1]), None).to_bytes() + ct[-64:]
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"), (seq, prev, bad), ForgeryError)


def test_a_missing_generation_key_is_a_decryption_error(w):
    w.rotate("alice")
    log = GroupLog(w.mailbox)
    keys = Keyring(None, {0: w.keys("alice").generations[0]})
    for entry in w.relay[:-1]:
        log.apply(*entry, keys)
    with pytest.raises(DecryptionError):
        log.apply(*w.relay[-1], keys)


def test_after_a_refused_entry_the_right_one_still_applies(w):
    seq, prev, ct = w.forge(w.person("bob"), "policy", {"vouches": 1})
    with pytest.raises(VerificationError):
        w.log("alice").apply(seq, bytes(32), ct, w.keys("alice"))
    w.log("alice").apply(seq, prev, ct, w.keys("alice"))
    assert w.log("alice").head[0] == seq


def test_walk_back_needs_every_key_block():
    w = World.create("walk")
    gen0 = w.keys("alice").generations[0]
    w.rotate("alice")
    w.rotate("alice")
    newest = w.keys("alice").generations[2]
    envelopes = [(s, c) for s, _, c in w.relay]
    found = walk_back_generations(envelopes, newest)
    assert {n: g.seed for n, g in found.items()} == \
           {n: g.seed for n, g in w.keys("alice").generations.items()}
    assert found[0].seed == gen0.seed
    with pytest.raises(VerificationError):
        walk_back_generations(envelopes[:-1], newest)


def test_a_request_with_a_low_order_box_key_is_ignored(w):
    """The issue's attack: a join request whose box key is all zero, correctly signed
    by the joiner and with the invitation's key. It is not a valid join request, so it
    never becomes a pending request, and no rotation can ever try to seal to it."""
    secret = w.invite("alice", "zero")
    me = w.person("zero")
    record = make_device_record(me.member, me.signing, bytes(32), "laptop", group=w.group)
    inner = encode({"group": w.group, "invite": secret.invite_id, "name": "zero",
                    "sign": me.public.sign.raw, "relay": me.relay_admin.public.raw,
                    "device": record.to_value()})
    signed = encode([inner, crypto.sign(me.member, "hramada:v1:join-request", inner),
                     crypto.sign(secret.signing, "hramada:v1:invite-proof", inner)])
    with pytest.raises(EncodingError, match="low-order"):
        inv.verify_join_request(signed, w.group, secret.signing.public)
    assert_ignored(w, "bob", "request", {"request": signed}, "request-invalid")
    w.rotate("alice")  # and rotations go on
    assert w.log("bob").generation == 1
