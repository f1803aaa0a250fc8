"""Key rotations as each member's device sees them: who authorised the key block, whom
it was given to, and what a relay — or a member — that damages it can make a member
believe.

Whatever the relay changes in an entry breaks its append signature: every device
raises the alarm (``ForgeryError``). What a member appends is signed, so a bad key
block from a member is *void* on every device alike: every member holds the old
generation, and with it checks the key block's authorisation before opening any box —
a current admin signed exactly this block for this group and position, for the
removal of no one or of one current member, and its boxes are labelled for exactly
the members who remain (keys.md §4, log.md §5.9). A member who finds no box for
itself concludes "I was removed" (``KeyWithheldError``) only after those checks, and
only if the block removes this very member.
"""

from __future__ import annotations

import pytest

from hramada.core import wire
from hramada.core.entries import Envelope, envelope_bytes, seal_entry
from hramada.core.keys import Generation, KeyBlock, box_label, key_block_author, make_key_block
from hramada.errors import (DecryptionError, ForgeryError, KeyWithheldError,
                            VerificationError)

from .world import World, authorised, signed_again, summary, with_key_block

MEMBERS = ("alice", "bob", "carol", "dave")


@pytest.fixture
def w() -> World:
    """alice (admin), bob and carol (members), dave (newcomer); one vouch each."""
    world = World.create("rotations", vouches=1)
    for name, role in (("bob", "member"), ("carol", "member"), ("dave", "newcomer")):
        world.join(name, invited_by="alice", vouchers=["alice"], admitted_by="alice", role=role)
    return world


def refused(w: World, name: str, entry, error: type[Exception]) -> Exception:
    """``name``'s device refuses ``entry`` with ``error`` and changes nothing."""
    log, keys = w.log(name), w.keys(name)
    before, generations = summary(log), dict(keys.generations)
    with pytest.raises(error) as caught:
        log.apply(*entry, keys)
    assert summary(log) == before and keys.generations == generations
    return caught.value


def relay_form(new) -> tuple[int, bytes, bytes]:
    return new.seq, new.prev, new.ciphertext


def key_block_of(new) -> KeyBlock:
    return Envelope.parse(envelope_bytes(new.ciphertext)).key_block


def key_block_of_entry(entry) -> KeyBlock:
    return Envelope.parse(envelope_bytes(entry[2])).key_block


def appended_by_a_member(w: World, entry) -> tuple[int, bytes, bytes]:
    """``entry`` (perhaps changed by hand) as a member holding the group's key appends
    it: with a valid append signature."""
    log = w.log("alice")
    return signed_again(entry, envelope_bytes(entry[2]), w.keys("alice").generations[log.generation],
                        w.mailbox)


def void_everywhere(w: World, entry, reason: str, names=MEMBERS) -> None:
    """Every one of ``names`` finds ``entry`` void for ``reason`` and goes on."""
    for name in names:
        log, keys = w.log(name), w.keys(name)
        before, generations = summary(log), dict(keys.generations)
        assert log.apply(*entry, keys) is None
        code, params = log.warnings[-1]
        assert (code, params["seq"], params["reason"]) == ("void-entry", entry[0], reason)
        assert keys.generations == generations and log.generation == before["generation"]
        assert {k: m for k, m in summary(log)["members"].items()} == before["members"]


def label(w: World, name: str) -> bytes:
    """``name``'s box label in the next key block (computable by every member)."""
    log = w.log("alice")
    return box_label(w.keys("alice").generations[log.generation], w.person(name).boxing.public)


def flip(data: bytes, i: int = -1) -> bytes:
    i %= len(data)
    return data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1:]


def by_hand(w: World, recipients: list[str], *, remove: str | None = None,
            by: str = "alice") -> tuple[int, bytes, bytes]:
    """A rotation (or removal) by ``by``, correctly signed and authorised (for the
    removal of ``remove``), whose new key is sealed to ``recipients`` — right or wrong."""
    log, keys = w.log(by), w.keys(by)
    old = keys.generations[log.generation]
    new = Generation(old.number + 1, w.rand.bytes(32))
    seq, prev = log.head
    block = make_key_block(old, new, [w.person(n).boxing.public for n in recipients],
                           w.rand.bytes(32), author=w.person(by).signing, group=log.group,
                           seq=seq + 1, auth_nonce=w.rand.bytes(24),
                           removed=b"" if remove is None else w.person(remove).public.id)
    body = {"commit": new.commitment, "cap": wire.cap_hash(new.relay_cap),
            "keys": block.digest, "items": []}
    if remove is not None:
        body["member"] = w.person(remove).public.id
    ct = seal_entry(mailbox=w.mailbox, group=log.group, seq=seq + 1, prev=prev,
                    kind="rotate" if remove is None else "remove", body=body,
                    author=w.person(by).member_id, device=w.person(by).signing, generation=new, nonce=w.rand.bytes(24),
                    key_block=block, in_force=old)
    return seq + 1, prev, ct


# -- a relay cannot make a member believe they were removed ----------------------------

def _damage(what: str, block: KeyBlock, mine: int) -> KeyBlock:
    boxes = list(block.boxes)
    lab, box = boxes[mine]
    if what == "my label":
        boxes[mine] = (flip(lab), box)
    elif what == "my box":
        boxes[mine] = (lab, flip(box, 5))
    elif what == "my box dropped":
        del boxes[mine]
    elif what == "ephemeral key":
        return KeyBlock(flip(block.ephemeral), block.boxes, block.back, block.auth)
    elif what == "authorisation":
        return KeyBlock(block.ephemeral, block.boxes, block.back, flip(block.auth, 30))
    elif what == "authorisation dropped":
        return KeyBlock(block.ephemeral, block.boxes, block.back, b"")
    return KeyBlock(block.ephemeral, tuple(boxes), block.back, block.auth)


DAMAGE = ("my label", "my box", "my box dropped", "ephemeral key", "authorisation",
          "authorisation dropped")


@pytest.mark.parametrize("remove", [None, "carol"], ids=["rotate", "remove carol"])
@pytest.mark.parametrize("damage", DAMAGE)
def test_a_relay_that_damages_a_members_key_box_raises_the_alarm(w, damage, remove):
    """Before key blocks carried an authorisation, a flipped label made bob's device
    say "you were removed". Now every device raises the alarm, bob's included."""
    new = w.build_rotation("alice", remove=remove)
    mine = [lab for lab, _ in key_block_of(new).boxes].index(label(w, "bob"))
    entry = with_key_block(relay_form(new), lambda block: _damage(damage, block, mine))
    error = refused(w, "bob", entry, ForgeryError)
    assert not isinstance(error, DecryptionError)  # not "removed", not "cannot read"
    for name in ("alice", "carol", "dave"):
        # the member being removed is not told "removed" by a damaged block either
        refused(w, name, entry, ForgeryError)
    # a member who appends the same damaged block (signed) makes a void entry, the same
    # for everyone: the block is no longer the one the admin authorised
    void_everywhere(w, appended_by_a_member(w, entry), "rotation-not-authorised")
    # the genuine entry still applies after it: bob follows, only a removed carol stops
    w.relay.append(appended_by_a_member(w, entry))
    new = w.build_rotation("alice", remove=remove)
    w.publish(new)
    assert w.log("bob").generation == w.log("alice").generation == 1
    assert ("carol" in w.views) == (remove is None)


def test_a_relay_cannot_hand_a_remaining_members_box_to_the_one_removed(w):
    """The relay relabels bob's box with carol's label as carol is removed: bob finds
    no box, carol finds one that is not hers; both raise the alarm."""
    new = w.build_rotation("alice", remove="carol")

    def relabel(block: KeyBlock) -> KeyBlock:
        boxes = tuple((label(w, "carol") if lab == label(w, "bob") else lab, box)
                      for lab, box in block.boxes)
        return KeyBlock(block.ephemeral, boxes, block.back, block.auth)

    entry = with_key_block(relay_form(new), relabel)
    for name in MEMBERS:
        refused(w, name, entry, ForgeryError)


def test_a_relay_cannot_replay_an_admins_removal_at_another_position(w):
    """alice built a removal of bob that never made it into the log (something else
    was written at its position). The relay keeps its key block and serves it with a
    later rotation, still under the same generation: the authorisation names the
    position it was made for, so bob's device raises the alarm."""
    unsent = w.build_rotation("alice", remove="bob")
    w.post("alice", "policy", {"vouches": 1})  # what really took that position
    later = w.build_rotation("alice")
    entry = with_key_block(relay_form(later), lambda _: key_block_of(unsent))
    error = refused(w, "bob", entry, ForgeryError)
    assert f"entry {later.seq}" in str(error)
    for name in ("alice", "carol", "dave"):  # their boxes open to a seed that is not the entry's
        refused(w, name, entry, (VerificationError, DecryptionError))


# -- a genuine removal -----------------------------------------------------------------

@pytest.mark.parametrize("removed", ["bob", "dave"])
def test_a_genuine_removal_tells_the_removed_member_so(w, removed):
    new = w.build_rotation("alice", remove=removed)
    # the authorisation, which the removed member can open, names alice and them
    previous = w.keys(removed).generations[w.log(removed).generation]
    assert key_block_author(key_block_of(new), previous, w.group, new.seq) == \
        (w.person("alice").device_id, w.person(removed).public.id)
    error = refused(w, removed, relay_form(new), KeyWithheldError)
    assert "removed" in str(error)
    # a fresh device of theirs, folding from generation 0, comes to the same answer
    with pytest.raises(KeyWithheldError):
        w.fold(removed, relay=[*w.relay, relay_form(new)])
    w.publish(new)
    assert removed not in w.views
    assert all(w.log(n).generation == 1 for n in w.views)


def test_a_removal_by_a_second_admin_is_genuine_too(w):
    w.post("alice", "role", {"member": w.person("carol").public.id, "role": "admin"})
    new = w.build_rotation("carol", remove="bob")
    refused(w, "bob", relay_form(new), KeyWithheldError)
    w.publish(new)
    assert set(w.views) == {"alice", "carol", "dave"}


def test_a_removal_by_a_demoted_admin_is_void_for_everyone(w):
    carol = w.person("carol").public.id
    w.post("alice", "role", {"member": carol, "role": "admin"})
    w.post("alice", "role", {"member": carol, "role": "member"})
    new = w.build_rotation("carol", remove="bob")
    void_everywhere(w, relay_form(new), "rotation-not-authorised")
    assert w.log("alice").warnings[-1][1]["by"] == carol


# -- authorisations that do not belong to the block ------------------------------------

def _reauthorise(w: World, new, *, removes: str | None, **change) -> tuple[int, bytes, bytes]:
    """``new`` with its authorisation made again — by default alice's, for the removal
    of ``removes`` (no one if None) — with ``change``, appended by a member (who holds
    the old generation, so can seal an authorisation; a relay cannot)."""
    log = w.log("alice")
    previous = w.keys("alice").generations[log.generation]
    args = {"signer": w.person("alice"), "group": log.group, "seq": new.seq,
            "removed": b"" if removes is None else w.person(removes).public.id, **change}
    return appended_by_a_member(w, with_key_block(relay_form(new), lambda block: authorised(
        block, previous, nonce=w.rand.bytes(24), **args)))


# case → (the change, given the world and the entry's seq; who the warning names)
AUTHORISATIONS = {
    "the genuine one, made again": (lambda w, seq: {}, None),
    "signed by a member who is not an admin": (lambda w, seq: {"signer": w.person("carol")}, "carol"),
    "signed by a newcomer": (lambda w, seq: {"signer": w.person("dave")}, "dave"),
    "signed by someone outside the group": (lambda w, seq: {"signer": w.person("mallory")}, None),
    "signed by the admin for the next position": (lambda w, seq: {"seq": seq + 1, "sealed_seq": seq}, None),
    "signed by the admin for the previous position": (lambda w, seq: {"seq": seq - 1, "sealed_seq": seq}, None),
    "signed by the admin for another group": (lambda w, seq: {"group": bytes(16)}, None),
    "signed by the admin over another block digest": (lambda w, seq: {"digest": bytes(32)}, None),
    "sealed for another position": (lambda w, seq: {"sealed_seq": seq + 1}, None),
    "sealed garbage": (lambda w, seq: {"plaintext": b"\xff"}, None),
    "sealed a malformed authorisation": (lambda w, seq: {"plaintext": b"\x80"}, None),
}


@pytest.mark.parametrize("case", AUTHORISATIONS)
def test_a_key_block_authorised_by_the_wrong_person_or_for_the_wrong_place_is_void(w, case):
    change, by = AUTHORISATIONS[case]
    new = w.build_rotation("alice", remove="bob")
    entry = _reauthorise(w, new, removes="bob", **change(w, new.seq))
    if case == "the genuine one, made again":
        refused(w, "bob", entry, KeyWithheldError)
        for name in ("alice", "carol", "dave"):
            w.log(name).apply(*entry, w.keys(name))
        return
    # bob, left out, cannot read the entry: he is not told that he is out, and no one
    # stops; everyone, bob included, finds it void for the same reason
    void_everywhere(w, entry, "rotation-not-authorised")
    assert w.log("bob").warnings[-1][1]["by"] == (None if by is None else w.person(by).public.id)


def test_an_authorisation_by_another_admin_than_the_entrys_author_is_void(w):
    """Members who can read the entry see who wrote it; the authorisation must be theirs."""
    w.post("alice", "role", {"member": w.person("carol").public.id, "role": "admin"})
    new = w.build_rotation("alice", remove="bob")
    entry = _reauthorise(w, new, removes="bob", signer=w.person("carol"))
    void_everywhere(w, entry, "rotation-not-authorised", names=("alice", "carol", "dave"))


def test_an_authorisation_moved_from_another_key_block_is_refused(w):
    """alice's genuine authorisation of one block, attached to another of her blocks
    for the same position."""
    removal = w.build_rotation("alice", remove="bob")
    rotation = w.build_rotation("alice")
    auth = key_block_of(rotation).auth
    entry = with_key_block(relay_form(removal), lambda b: KeyBlock(b.ephemeral, b.boxes, b.back, auth))
    for name in MEMBERS:
        refused(w, name, entry, ForgeryError)


# -- the boxes go to exactly the members who remain -----------------------------------

@pytest.mark.parametrize(("recipients", "remove", "reason"), [
    (["alice", "carol", "mallory"], "bob", "rotation-invalid"),       # to an outsider instead of dave
    (["alice", "alice", "carol"], "bob", "malformed"),                # alice twice: a label repeats
    (["alice", "bob", "carol", "dave"], "bob", "rotation-invalid"),   # to everyone: bob not removed
    (["alice", "carol"], "bob", "rotation-invalid"),                  # dave left out
    (["alice", "carol", "dave", "mallory"], None, "rotation-invalid"),  # bob left out of a rotation
])
def test_a_key_block_not_for_exactly_the_remaining_members_is_void(w, recipients, remove, reason):
    """Every member checks the labels with the old generation before opening a box, so
    those who got one, those left out and the member removed all find it void (a
    repeated label breaks the strict label order, so that block is malformed)."""
    entry = by_hand(w, recipients, remove=remove)
    void_everywhere(w, entry, reason)


def test_key_block_boxes_are_in_strict_label_order():
    from hramada.core.keys import KeyBlock
    from hramada.errors import EncodingError
    a, b = bytes(8), bytes([1]) + bytes(7)
    value = {"e": bytes(32), "p": b"", "q": b"", "a": b""}
    assert KeyBlock.from_value({**value, "b": [[a, b"x"], [b, b"y"]]}).labels == {a, b}
    for boxes in ([[b, b"y"], [a, b"x"]], [[a, b"x"], [a, b"y"]]):
        with pytest.raises(EncodingError, match="label order"):
            KeyBlock.from_value({**value, "b": boxes})


def test_boxes_for_the_removed_member_in_place_of_a_remaining_one(w):
    """Same number of boxes, wrong labels: dave, left out, is not told he was removed,
    and bob, whom the entry removes but who got a box, is not removed either."""
    entry = by_hand(w, ["alice", "bob", "carol"], remove="bob")
    void_everywhere(w, entry, "rotation-invalid")


def test_boxes_for_someone_who_left_in_place_of_a_remaining_one(w):
    w.post("bob", "leave", {})
    entry = by_hand(w, ["alice", "bob", "carol"])
    void_everywhere(w, entry, "rotation-invalid")


# -- a member left out by mistake is not removed, and no one stops ---------------------

def test_a_plain_rotation_that_leaves_a_member_out_is_void_for_everyone(w):
    """An admin's faulty client seals the new key to everyone but dave, removing no
    one. dave cannot read the entry, but with the old generation he sees what everyone
    sees: the boxes are not for exactly the remaining members. Void for all, the same
    way (before, dave raised the alarm and stopped)."""
    entry = by_hand(w, ["alice", "bob", "carol"])
    void_everywhere(w, entry, "rotation-invalid")
    assert w.fold("dave", relay=[*w.relay, entry]).head[0] == entry[0]  # a fresh fold too


# (the entry removes, the authorisation names)
NAMED = {
    "a removal of bob, authorised as a plain rotation": ("bob", None),
    "a removal of bob, authorised as the removal of carol": ("bob", "carol"),
    "a removal of bob, authorised as the removal of alice": ("bob", "alice"),
    "a plain rotation, authorised as the removal of bob": (None, "bob"),
    "a plain rotation, authorised as the removal of an outsider": (None, "mallory"),
}


@pytest.mark.parametrize("case", NAMED)
def test_an_authorisation_naming_another_removal_than_the_entry_is_void(w, case):
    """alice signed the key block, but for another removal than the entry's (a faulty
    client; a relay cannot reseal it). Its labels are not those of the members who
    remain after the removal it names: void for everyone, and the member the entry
    removes, left out, is not told "removed"."""
    removes, named = NAMED[case]
    new = w.build_rotation("alice", remove=removes)
    entry = _reauthorise(w, new, removes=named)
    void_everywhere(w, entry, "rotation-invalid")
    # the genuine entry, for the next position, still applies
    w.relay.append(entry)
    new = w.build_rotation("alice", remove=removes)
    w.publish(new)
    assert set(w.views) == set(MEMBERS) - {removes}
    assert all(w.log(n).generation == 1 for n in w.views)


def test_a_member_who_left_is_left_out_of_the_next_rotation_without_an_alarm(w):
    """bob left; alice's next rotation removes no one and gives him no key. In his own
    state he is no longer a member, so his device stops there: no alarm. It still
    checks that an admin authorised the block."""
    w.post("bob", "leave", {})
    new = w.build_rotation("alice")
    forged = _reauthorise(w, new, removes=None, signer=w.person("carol"))
    unsigned = with_key_block(relay_form(new), lambda b: key_block_of_entry(forged))
    refused(w, "bob", unsigned, ForgeryError)  # the same block put there by the relay: alarm
    void_everywhere(w, forged, "rotation-not-authorised", names=("bob",))  # by a member: void
    w.relay.append(forged)
    for name in ("alice", "carol", "dave"):
        w.log(name).apply(*forged, w.keys(name))
    new = w.build_rotation("alice")
    error = refused(w, "bob", relay_form(new), KeyWithheldError)
    assert "left the group" in str(error)
    with pytest.raises(KeyWithheldError):  # a fresh fold of his comes to the same answer
        w.fold("bob", relay=[*w.relay, relay_form(new)])
    w.publish(new)
    assert set(w.views) == {"alice", "carol", "dave"}


def test_the_order_of_the_boxes_does_not_matter(w):
    entry = by_hand(w, ["dave", "carol", "alice"], remove="bob")
    for name in ("alice", "carol", "dave"):
        w.log(name).apply(*entry, w.keys(name))
        assert w.log(name).generation == 1
    refused(w, "bob", entry, KeyWithheldError)
