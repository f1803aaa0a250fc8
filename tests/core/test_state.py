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
from hramada.core import invitation as inv
from hramada.core.encoding import decode, encode
from hramada.core.entries import Envelope, open_entry, seal_entry
from hramada.core.identity import Identity
from hramada.core.keys import Generation, KeyBlock, make_key_block, open_key_block
from hramada.core.state import GroupLog, Keyring, walk_back_generations
from hramada.errors import (DecryptionError, EncodingError, ForgeryError, ForkError,
                            KeyWithheldError, VerificationError)

from .world import World, summary


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
    seq, text = log.warnings[-1]
    assert seq == new.seq and kind in text and reason in text
    assert state_without_position(log) == before


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
    w = World.create("create", vouches=3, group_name="  Vilnius union ")
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
    common = {"creator": me, "creator_name": "alice", "seed": bytes(32),
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
    ct = seal_entry(group=b"", seq=1, prev=wire.GENESIS_PREV, kind="invite", body={},
                    author=w.person("alice").signing, generation=gen0, nonce=bytes(24))
    with pytest.raises(VerificationError, match="creation"):
        GroupLog(w.mailbox).apply(1, wire.GENESIS_PREV, ct, Keyring(None, {0: gen0}))


def test_create_signed_by_someone_else_than_its_creator_is_a_forgery():
    w = World.create("creator")
    gen0 = w.keys("alice").generations[0]
    alice, mallory = w.person("alice"), w.person("mallory")
    body = {"name": "g", "nonce": bytes(16), "vouches": 1, "commit": gen0.commitment,
            "cap": wire.cap_hash(gen0.relay_cap),
            "member": {"name": "alice", "sign": alice.public.sign.raw,
                       "box": alice.public.box.raw}}
    ct = seal_entry(group=b"", seq=1, prev=wire.GENESIS_PREV, kind="create", body=body,
                    author=mallory.signing, generation=gen0, nonce=bytes(24))
    with pytest.raises(ForgeryError, match="creator"):
        GroupLog(w.mailbox).apply(1, wire.GENESIS_PREV, ct, Keyring(None, {0: gen0}))


def test_create_whose_seed_does_not_match_its_commitment_is_a_forgery():
    w = World.create("commit")
    gen0 = w.keys("alice").generations[0]
    alice = w.person("alice")
    body = {"name": "g", "nonce": bytes(16), "vouches": 1,
            "commit": crypto.hash32("hramada:v1:seed-commit", bytes(32)),
            "cap": wire.cap_hash(gen0.relay_cap),
            "member": {"name": "alice", "sign": alice.public.sign.raw,
                       "box": alice.public.box.raw}}
    ct = seal_entry(group=b"", seq=1, prev=wire.GENESIS_PREV, kind="create", body=body,
                    author=alice.signing, generation=gen0, nonce=bytes(24))
    with pytest.raises(ForgeryError, match="commitment"):
        GroupLog(w.mailbox).apply(1, wire.GENESIS_PREV, ct, Keyring(None, {0: gen0}))


@pytest.mark.parametrize("change", [
    {"vouches": 0}, {"name": " "}, {"cap": bytes(5)}, {"extra": 1},
    {"member": {"name": "a", "sign": bytes(32)}},
])
def test_malformed_create_is_an_encoding_error(change):
    w = World.create("malformed-create")
    gen0 = w.keys("alice").generations[0]
    alice = w.person("alice")
    body = {"name": "g", "nonce": bytes(16), "vouches": 1, "commit": gen0.commitment,
            "cap": wire.cap_hash(gen0.relay_cap),
            "member": {"name": "alice", "sign": alice.public.sign.raw,
                       "box": alice.public.box.raw}, **change}
    ct = seal_entry(group=b"", seq=1, prev=wire.GENESIS_PREV, kind="create", body=body,
                    author=alice.signing, generation=gen0, nonce=bytes(24))
    with pytest.raises(EncodingError):
        GroupLog(w.mailbox).apply(1, wire.GENESIS_PREV, ct, Keyring(None, {0: gen0}))


def test_create_with_a_key_block_is_refused():
    w = World.create("create-block")
    env = Envelope.parse(w.relay[0][2])
    block = KeyBlock(bytes(32), (), b"")
    ct = Envelope(env.nonce, env.sealed, block).to_bytes()
    with pytest.raises(VerificationError):
        GroupLog(w.mailbox).apply(1, wire.GENESIS_PREV, ct, w.keys("alice"))


def test_a_log_of_another_group_is_refused_by_an_invitee():
    """A relay that serves a different group (even a copy with the same name) to
    someone holding an invitation code is caught at the very first entry."""
    real, fake = World.create("real"), World.create("fake")
    log = GroupLog(real.mailbox, real.group)
    with pytest.raises(ForgeryError, match="different group"):
        log.apply(*fake.relay[0], fake.keys("alice"))


def test_no_key_for_generation_zero_is_a_decryption_error():
    w = World.create("nokey")
    with pytest.raises(DecryptionError):
        GroupLog(w.mailbox).apply(*w.relay[0], Keyring(None, {}))


def test_a_second_create_is_ignored(w):
    assert_ignored(w, "bob", "create", {"name": "hijack"}, "created already")


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
                   "newcomers cannot invite")


def test_the_same_invitation_twice_is_ignored(w):
    secret = w.invite("alice", "x")
    assert_ignored(w, "bob", "invite", secret.log_body(), "already exists")


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
    assert_ignored(w, "bob", "request", {"request": signed}, "no such invitation")


def test_request_without_the_code_is_ignored(w):
    """Someone who knows the invitation id but not its secret cannot use it."""
    secret = w.invite("alice", "x")
    signed = inv.make_join_request(w.group, secret, w.person("eve"), "eve")
    inner, sig_id, _ = decode(signed)
    forged = encode([inner, sig_id, crypto.sign(w.person("eve").signing,
                                                "hramada:v1:invite-proof", inner)])
    assert_ignored(w, "bob", "request", {"request": forged}, "invalid join request")


def test_request_for_another_group_is_ignored(w):
    secret = w.invite("alice", "x")
    signed = inv.make_join_request(bytes(16), secret, w.person("eve"), "eve")
    assert_ignored(w, "bob", "request", {"request": signed}, "another group")


def test_the_same_request_twice_is_ignored(w):
    w.invite("alice", "x")
    signed = w.join_request("dana", "x")
    w.post("alice", "request", {"request": signed})
    assert_ignored(w, "bob", "request", {"request": signed}, "already posted")


def test_a_request_reusing_a_members_box_key_is_ignored(w):
    """Box keys label each member's share of a new key: two members must not share one."""
    secret = w.invite("alice", "x")
    copycat = Identity(w.person("eve").signing, w.person("bob").boxing)
    signed = inv.make_join_request(w.group, secret, copycat, "eve")
    assert_ignored(w, "bob", "request", {"request": signed}, "box key belongs to someone else")


def test_an_invitation_is_used_once(w):
    w.invite("alice", "x")
    w.request("dana", "x", by="alice")
    assert_ignored(w, "bob", "request", {"request": w.join_request("eve", "x")},
                   "already used")


def test_a_member_cannot_request_to_join_again(w):
    w.invite("alice", "x")
    signed = inv.make_join_request(w.group, w.secrets["x"], w.person("bob"), "bob2")
    assert_ignored(w, "alice", "request", {"request": signed}, "already a member")


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
    assert_ignored(w, "bob", "vouch", {"request": rid}, "already vouched")


def test_vouch_for_an_unknown_request_is_ignored(w):
    assert_ignored(w, "bob", "vouch", {"request": bytes(8)}, "no such pending request")


def test_vouch_after_admission_is_ignored(w):
    assert_ignored(w, "bob", "vouch", {"request": w.requests["bob"]}, "no such pending")


def test_newcomers_cannot_vouch(w):
    w.join("carol", invited_by="alice", vouchers=["alice", "bob"], admitted_by="alice",
           role="newcomer")
    w.invite("alice", "x")
    rid = w.request("dana", "x", by="alice")
    assert_ignored(w, "carol", "vouch", {"request": rid}, "newcomers cannot vouch")


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
    assert_ignored(w, "alice", "admit", {"request": rid, "role": "member"}, "1 of 2 vouches")
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
    assert_ignored(w, "alice", "admit", {"request": rid, "role": "member"}, "0 of 1 vouches")


def test_only_admins_admit(w):
    w.invite("alice", "x")
    rid = w.request("dana", "x", by="alice")
    w.vouch("alice", "dana")
    w.vouch("bob", "dana")
    assert_ignored(w, "bob", "admit", {"request": rid, "role": "member"}, "only admins")


def test_admit_as_admin_is_not_a_choice(w):
    w.invite("alice", "x")
    rid = w.request("dana", "x", by="alice")
    w.vouch("alice", "dana")
    w.vouch("bob", "dana")
    assert_ignored(w, "alice", "admit", {"request": rid, "role": "admin"}, "bad role")


def test_admit_of_an_unknown_or_already_admitted_request_is_ignored(w):
    assert_ignored(w, "alice", "admit", {"request": bytes(8), "role": "member"}, "no such")
    assert_ignored(w, "alice", "admit", {"request": w.requests["bob"], "role": "member"},
                   "no such pending")


def test_a_removed_identity_cannot_be_admitted_again(w):
    w.rotate("alice", remove="bob")
    w.invite("alice", "again")
    signed = inv.make_join_request(w.group, w.secrets["again"], w.person("bob"), "bob")
    assert_ignored(w, "alice", "request", {"request": signed}, "was a member already")


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
    assert_ignored(w, "alice", "leave", {}, "last admin")


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
    ("bob", "bob", "admin", "only admins"),
    ("alice", "zed", "member", "no such member"),
    ("alice", "bob", "owner", "no such member or role"),
    ("alice", "alice", "member", "must keep an admin"),
])
def test_role_changes_that_are_ignored(w, author, target, role, reason):
    assert_ignored(w, author, "role", {"member": w.person(target).public.id, "role": role},
                   reason)


def test_policy_changes_the_vouches_required(w):
    w.post("alice", "policy", {"vouches": 5})
    assert w.log("alice").vouches_required == 5
    assert w.log("alice").vouches_needed() == 2


@pytest.mark.parametrize(("author", "vouches", "reason"), [
    ("bob", 1, "only admins"), ("alice", 0, "at least one vouch"), ("alice", -3, "at least one"),
])
def test_policy_changes_that_are_ignored(w, author, vouches, reason):
    assert_ignored(w, author, "policy", {"vouches": vouches}, reason)


# -- remove and rotate ---------------------------------------------------------------

def test_removal_rotates_and_the_removed_member_cannot_follow(w):
    bob = w.person("bob")
    bob_keys = w.keys("bob")
    w.post_item("bob", "before removal")
    c = {bob.public.id: 1}
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
    env = Envelope.parse(new.ciphertext)
    with pytest.raises(KeyWithheldError):
        open_key_block(env.key_block, bob_keys.generations[0], bob.boxing)
    with pytest.raises(KeyWithheldError):  # folding the log from scratch as bob
        w.fold("alice", keys=Keyring(bob.boxing, {0: bob_keys.generations[0]}))
    # and nothing written after the removal opens with his keys
    after = w.post("alice", "policy", {"vouches": 1})
    with pytest.raises(DecryptionError):
        open_entry(Envelope.parse(after.ciphertext), after.seq, bob_keys.generations[0])


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
    letter = inv.make_welcome(w.person("carol").public.box, bytes(32), w.group,
                              w.requests["carol"], Generation(1, bytes(range(32))))
    with pytest.raises((ForgeryError, DecryptionError)):
        w.fold_as_newcomer("carol", letter)


def test_a_welcome_from_the_future_is_refused(w):
    w.invite("alice", "x")
    w.request("carol", "x", by="alice")
    letter = inv.make_welcome(w.person("carol").public.box, bytes(32), w.group,
                              w.requests["carol"], Generation(4, bytes(32)))
    with pytest.raises(VerificationError, match="missing key rotations"):
        w.fold_as_newcomer("carol", letter)


def test_rotation_by_a_non_admin_is_a_forgery(w):
    view = w.views["bob"]
    new = build.rotation(view.log, author=view.identity, keys=view.keys, seed=bytes(32),
                         ephemeral_secret=bytes(range(32)), nonce=bytes(24), auth_nonce=bytes(24),
                         items_cutoff={})
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"),
                                   (new.seq, new.prev, new.ciphertext), ForgeryError)


def test_removal_by_a_non_admin_is_a_forgery(w):
    view = w.views["bob"]
    new = build.rotation(view.log, author=view.identity, keys=view.keys, seed=bytes(32),
                         ephemeral_secret=bytes(range(32)), nonce=bytes(24), auth_nonce=bytes(24),
                         items_cutoff={}, remove=w.person("alice").public.id)
    # alice was left out and cannot read the entry, but she can tell that no admin
    # authorised the key block: an alarm, not "you were removed"
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"),
                                   (new.seq, new.prev, new.ciphertext), ForgeryError)
    with pytest.raises(ForgeryError, match="not signed by an admin"):
        w.log("alice").apply(new.seq, new.prev, new.ciphertext, w.keys("alice"))
    w.join("carol", invited_by="alice", vouchers=["alice", "bob"], admitted_by="alice")
    view = w.views["bob"]
    new = build.rotation(view.log, author=view.identity, keys=view.keys, seed=bytes(32),
                         ephemeral_secret=bytes(range(32)), nonce=bytes(24), auth_nonce=bytes(24),
                         items_cutoff={}, remove=w.person("alice").public.id)
    assert_unchanged_after_failure(w.log("carol"), w.keys("carol"),
                                   (new.seq, new.prev, new.ciphertext), ForgeryError)


def _rotation_with(w: World, *, body_change=None, recipients=None, block_change=None,
                   kind="rotate"):
    """A rotation by alice, built by hand so that one part of it can be wrong. Its key
    block is authorised for the removal of the body's ``member`` (if a 32-byte one)."""
    log, keys = w.log("alice"), w.keys("alice")
    old = keys.generations[log.generation]
    new = Generation(old.number + 1, bytes(range(32)))
    if recipients is None:
        recipients = [m.key.box for m in log.members.values()]
    seq, prev = log.head
    removed = (body_change or {}).get("member", b"") if kind == "remove" else b""
    block = make_key_block(old, new, recipients, bytes(range(1, 33)),
                           author=w.person("alice").signing, group=log.group, seq=seq + 1,
                           auth_nonce=bytes(range(2, 26)), removed=removed)
    if block_change:
        block = block_change(block)
    body = {"commit": new.commitment, "cap": wire.cap_hash(new.relay_cap),
            "keys": block.digest, "items": [], **(body_change or {})}
    ct = seal_entry(group=log.group, seq=seq + 1, prev=prev, kind=kind, body=body,
                    author=w.person("alice").signing, generation=new, nonce=bytes(24),
                    key_block=block)
    return seq + 1, prev, ct


def test_a_correct_hand_made_rotation_applies(w):
    entry = _rotation_with(w)
    w.log("alice").apply(*entry, w.keys("alice"))
    assert w.log("alice").generation == 1


def test_a_tampered_key_block_is_a_forgery(w):
    def swap_back(block):
        return KeyBlock(block.ephemeral, block.boxes, block.back[:-1] + bytes([block.back[-1] ^ 1]),
                        block.auth)
    seq, prev, ct = _rotation_with(w)
    env = Envelope.parse(ct)
    tampered = Envelope(env.nonce, env.sealed, swap_back(env.key_block)).to_bytes()
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"), (seq, prev, tampered),
                                   ForgeryError)


def test_a_key_block_that_skips_a_member_is_refused(w):
    entry = _rotation_with(w, recipients=[w.person("alice").public.box])
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"), entry, VerificationError)


def test_a_rotation_whose_seed_does_not_match_its_commitment_is_a_forgery(w):
    entry = _rotation_with(w, body_change={"commit": bytes(32)})
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"), entry, ForgeryError)


@pytest.mark.parametrize(("change", "error", "why"), [
    ({"member": bytes(32)}, VerificationError, "not a member"),
    ({}, EncodingError, "malformed remove entry"),  # names nobody
])
def test_removing_someone_who_is_not_a_member_is_refused(w, change, error, why):
    entry = _rotation_with(w, kind="remove", body_change=change)
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"), entry, error, why)


def test_removing_oneself_is_refused(w):
    alice = w.person("alice").public.id
    entry = _rotation_with(w, kind="remove", body_change={"member": alice},
                           recipients=[w.person("bob").public.box])
    assert_unchanged_after_failure(w.log("bob"), w.keys("bob"), entry, VerificationError,
                                   "not a member")


@pytest.mark.parametrize(("cutoff", "error"), [
    (lambda w: 5, EncodingError),                                           # a bare cursor
    (lambda w: [[w.person("bob").public.id, -1]], EncodingError),           # a negative number
    (lambda w: [[w.person("bob").public.id, 0]], EncodingError),            # zero (leave it out)
    (lambda w: [[w.person("bob").public.id, 2**32]], EncodingError),        # out of range
    (lambda w: sorted([[w.person("bob").public.id, 1], [w.person("alice").public.id, 1]],
                      reverse=True), EncodingError),                       # not in author order
    (lambda w: [[w.person("bob").public.id, 1]] * 2, EncodingError),        # an author twice
    (lambda w: [[w.person("mallory").public.id, 3]], VerificationError),    # not a member
], ids=["cursor", "negative", "zero", "too-large", "unsorted", "twice", "stranger"])
def test_a_rotation_with_a_malformed_item_cut_off_is_refused(w, cutoff, error):
    entry = _rotation_with(w, body_change={"items": cutoff(w)})
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"), entry, error)


def test_a_rotation_without_its_key_block_is_refused(w):
    log, keys = w.log("alice"), w.keys("alice")
    seq, prev = log.head
    ct = seal_entry(group=log.group, seq=seq + 1, prev=prev, kind="rotate",
                    body={"commit": bytes(32), "cap": bytes(32), "keys": bytes(32), "items": []},
                    author=w.person("alice").signing, generation=keys.generations[0],
                    nonce=bytes(24))
    assert_unchanged_after_failure(log, keys, (seq + 1, prev, ct), VerificationError)


def test_a_key_block_on_an_ordinary_entry_is_refused(w):
    log, keys = w.log("alice"), w.keys("alice")
    old = keys.generations[0]
    new = Generation(1, bytes(range(32)))
    block = make_key_block(old, new, [m.key.box for m in log.members.values()], bytes(32),
                           author=w.person("alice").signing, group=log.group,
                           seq=log.head[0] + 1, auth_nonce=bytes(24))
    entry = w.forge(w.person("alice"), "policy", {"vouches": 1}, generation=new,
                    key_block=block)
    assert_unchanged_after_failure(log, keys, entry, VerificationError)


# -- verification failures -------------------------------------------------------------

def test_an_entry_by_a_non_member_is_a_forgery(w):
    """Bob left but still holds the log key (no rotation yet): his entries are forged."""
    w.post("bob", "leave", {})
    entry = w.forge(w.person("bob"), "policy", {"vouches": 1})
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"), entry, ForgeryError)
    outsider = w.forge(w.person("mallory"), "vouch", {"request": bytes(8)})
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"), outsider, ForgeryError)


def test_an_entry_whose_signature_is_not_its_authors_is_a_forgery(w):
    log, keys = w.log("alice"), w.keys("alice")
    seq, prev = log.head
    inner = encode({"v": 1, "group": log.group, "seq": seq + 1, "prev": prev, "kind": "policy",
                    "author": w.person("alice").public.id, "body": {"vouches": 1}})
    signed = encode([inner, crypto.sign(w.person("bob").signing, "hramada:v1:log-entry", inner)])
    nonce = bytes(24)
    ct = Envelope(nonce, crypto.encrypt(keys.generations[0].log_key, nonce, signed,
                                        encode(["hramada:v1:log-entry", seq + 1])), None)
    assert_unchanged_after_failure(log, keys, (seq + 1, prev, ct.to_bytes()), ForgeryError)


def test_an_entry_of_another_group_is_a_forgery(w):
    entry = w.forge(w.person("bob"), "policy", {"vouches": 1}, group=bytes(16))
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"), entry, ForgeryError)


def test_a_broken_chain_is_refused(w):
    seq, _, ct = w.forge(w.person("bob"), "vouch", {"request": bytes(8)})
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"), (seq, bytes(32), ct),
                                   VerificationError)


def test_an_entry_signed_for_another_prev_is_refused(w):
    """Served where it chains, but signed (inside) for another history."""
    seq, prev = w.log("alice").head
    _, _, ct = w.forge(w.person("bob"), "vouch", {"request": bytes(8)}, prev=bytes(32))
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"), (seq + 1, prev, ct),
                                   VerificationError)


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
                                   DecryptionError)


def test_a_log_moved_to_another_mailbox_breaks_the_chain(w):
    log = GroupLog(bytes(16))
    keys = Keyring(w.person("alice").boxing, {0: w.keys("alice").generations[0]})
    log.apply(*w.relay[0], keys)
    with pytest.raises(VerificationError):
        log.apply(*w.relay[1], keys)


def test_a_tampered_ciphertext_is_a_decryption_error(w):
    seq, prev, ct = w.forge(w.person("bob"), "vouch", {"request": bytes(8)})
    env = Envelope.parse(ct)
    bad = Envelope(env.nonce, env.sealed[:-1] + bytes([env.sealed[-1] ^ 1]), None).to_bytes()
    assert_unchanged_after_failure(w.log("alice"), w.keys("alice"), (seq, prev, bad),
                                   DecryptionError)


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
