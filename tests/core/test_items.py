"""Content items: readable by members, checked against the reader's own log."""

from __future__ import annotations

import copy

import pytest

from hramada.core import items
from hramada.core.crypto import SigningKey
from hramada.core.items import NotYet, Stale, check_body, open_item
from hramada.core.state import GroupLog, Keyring
from hramada.errors import (DecryptionError, EncodingError, ForgeryError, ForkError,
                            HramadaError)

from .world import World


@pytest.fixture
def w() -> World:
    """Alice (admin), Bob and Carol (members); K = 2."""
    world = World.create("items", vouches=2)
    world.join("bob", invited_by="alice", vouchers=["alice"], admitted_by="alice")
    world.join("carol", invited_by="bob", vouchers=["alice", "bob"], admitted_by="alice")
    return world


def read(w: World, reader: str, cursor: int, ct: bytes):
    return open_item(ct, cursor, w.log(reader), w.keys(reader).generations)


def test_every_member_reads_an_item_as_written(w):
    cursor, iid, ct = w.post_item("bob", "Meeting moved to Thursday")
    for reader in ("alice", "bob", "carol"):
        item = read(w, reader, cursor, ct)
        assert item.id == iid and len(iid) == 16
        assert item.kind == "bulletin"
        assert item.author == w.person("bob").public.id
        assert item.body == {"title": "news", "text": "Meeting moved to Thursday"}
        assert item.head == w.log("bob").head
        assert item.generation == 0 and item.time == 1_700_000_000


def test_the_relay_sees_no_author_or_text(w):
    _, _, ct = w.post_item("bob", "Meeting moved to Thursday")
    for secret in (b"Thursday", b"bulletin", w.person("bob").public.id, w.group):
        assert secret not in ct


def test_comments_name_their_parent(w):
    _, parent, _ = w.post_item("bob", "Who can host?")
    cursor, _, ct = w.post_item("carol", "I can", kind="comment",
                                body={"parent": parent, "text": "I can"})
    item = read(w, "alice", cursor, ct)
    assert item.kind == "comment" and item.body["parent"] == parent


def test_the_same_item_twice_has_the_same_id(w):
    cursor, iid, ct = w.post_item("bob", "hello")
    assert read(w, "alice", cursor, ct).id == read(w, "carol", cursor, ct).id == iid


@pytest.mark.parametrize(("kind", "body"), [
    ("bulletin", {"text": ""}),
    ("bulletin", {"text": "   "}),
    ("bulletin", {"text": "x" * 20_001}),
    ("bulletin", {"title": "t" * 201, "text": "x"}),
    ("bulletin", {"title": 5, "text": "x"}),
    ("bulletin", {"text": "x", "pin": True}),
    ("bulletin", {"title": "only a title"}),
    ("comment", {"text": "x"}),
    ("comment", {"parent": b"short", "text": "x"}),
    ("comment", {"parent": bytes(16), "text": "x", "title": "t"}),
    ("poll", {"text": "x"}),
])
def test_invalid_bodies_are_refused_with_a_message(kind, body):
    with pytest.raises(ValueError, match=r"\w+"):
        check_body(kind, body)


def test_bodies_at_the_limits_are_fine():
    check_body("bulletin", {"text": "x" * 20_000, "title": "t" * 200})
    check_body("bulletin", {"text": "no title"})
    check_body("comment", {"parent": bytes(16), "text": "ok"})


def test_an_item_by_someone_who_never_was_a_member_is_a_forgery(w):
    """The content key leaked (say, a seized device); the item still does not pass."""
    mallory = w.person("mallory")
    bob = w.views["bob"]
    _, ct = items.seal_item(group=w.group, kind="bulletin", body={"text": "trust me"},
                            author=mallory.signing, head=bob.log.head, time=1,
                            generation=bob.keys.generations[0], nonce=bytes(24))
    with pytest.raises(ForgeryError, match="not a member"):
        read(w, "alice", 1, ct)


def test_an_item_by_a_member_who_left_is_a_forgery(w):
    w.post("carol", "leave", {})
    # carol still holds generation 0 and writes against the log after her leaving
    _, ct = w.seal_item("carol", "still here", head=w.log("alice").head)
    with pytest.raises(ForgeryError, match="not a member"):
        read(w, "alice", 1, ct)


def test_an_item_by_a_newcomer_before_their_admission_is_a_forgery(w):
    """An item must name a log position at which its author was a member."""
    early_head = (3, w.log("alice").hash_at(3))
    _, ct = w.seal_item("carol", "backdated", head=early_head)
    with pytest.raises(ForgeryError, match="not a member"):
        read(w, "alice", 1, ct)


def test_a_removed_member_cannot_post_after_the_cut_off(w):
    cursor, _, before = w.post_item("carol", "written before removal")
    w.rotate("alice", remove="carol")  # cut-off: the item head at that moment
    assert w.log("alice").generations[0].items_cutoff == cursor
    # what carol wrote before is still readable ...
    assert read(w, "alice", cursor, before).body["text"] == "written before removal"
    # ... anything she manages to place after the cut-off is not
    with pytest.raises(ForgeryError, match="after their removal"):
        read(w, "alice", cursor + 1, before)


def test_a_current_members_item_that_arrived_after_the_cut_off_is_stale(w):
    head_before = w.log("bob").head
    w.rotate("alice", items_cutoff=0)
    _, _, ct = w.post_item("bob", "raced with the rotation",
                           generation=w.keys("bob").generations[0], head=head_before)
    with pytest.raises(Stale):
        read(w, "alice", 1, ct)
    assert not issubclass(Stale, HramadaError)  # not an alarm: readers skip it


def test_an_item_against_a_different_history_is_a_fork(w):
    """The relay shows Alice and Bob different entries at the same position; Bob's
    item names his history, and Alice's client notices."""
    bobs_world = copy.deepcopy(w)
    w.post("alice", "policy", {"vouches": 3})
    bobs_world.post("alice", "policy", {"vouches": 1})
    assert w.log("alice").head[0] == bobs_world.log("bob").head[0]
    _, _, ct = bobs_world.post_item("bob", "from the other branch")
    with pytest.raises(ForkError, match="different group history"):
        read(w, "alice", 1, ct)


def test_an_item_ahead_of_the_readers_log_is_not_yet_readable(w):
    behind = copy.deepcopy(w.views["carol"])
    w.post("alice", "policy", {"vouches": 3})
    _, _, ct = w.post_item("bob", "after the policy change")
    with pytest.raises(NotYet):
        open_item(ct, 1, behind.log, behind.keys.generations)
    assert read(w, "carol", 1, ct).body["text"] == "after the policy change"


def test_an_item_under_a_generation_the_reader_has_not_reached_is_not_yet_readable(w):
    behind = copy.deepcopy(w.views["carol"])
    w.rotate("alice")
    _, _, ct = w.post_item("bob", "under generation 1")
    with pytest.raises(NotYet):
        open_item(ct, 1, behind.log, behind.keys.generations)
    assert read(w, "carol", 1, ct).generation == 1


def test_an_item_under_a_key_not_in_force_at_its_head_is_a_forgery(w):
    w.rotate("alice")
    _, _, ct = w.post_item("bob", "old key, new head",
                           generation=w.keys("bob").generations[0])
    with pytest.raises(ForgeryError, match="not in force"):
        read(w, "alice", 1, ct)


def test_an_item_of_another_group_is_a_forgery(w):
    other = World.create("other-group")
    other_gen = other.keys("alice").generations[0]
    view = w.views["bob"]
    _, ct = items.seal_item(group=other.group, kind="bulletin", body={"text": "x"},
                            author=view.identity.signing, head=view.log.head, time=1,
                            generation=view.keys.generations[0], nonce=bytes(24))
    with pytest.raises(ForgeryError, match="another group"):
        read(w, "alice", 1, ct)
    _, ct2 = items.seal_item(group=w.group, kind="bulletin", body={"text": "x"},
                             author=view.identity.signing, head=view.log.head, time=1,
                             generation=other_gen, nonce=bytes(24))
    with pytest.raises(DecryptionError):
        read(w, "alice", 1, ct2)


def test_an_item_whose_signature_is_not_its_authors_is_a_forgery(w):
    """Carol signs an item that names Bob as its author: it does not pass."""
    bob, carol = w.person("bob").signing, w.person("carol").signing
    impostor = SigningKey(carol.seed, bob.public, carol._expanded)
    view = w.views["carol"]
    _, ct = items.seal_item(group=w.group, kind="bulletin", body={"text": "x"},
                            author=impostor, head=view.log.head, time=1,
                            generation=view.keys.generations[0], nonce=bytes(24))
    with pytest.raises(ForgeryError, match="bad signature"):
        read(w, "alice", 1, ct)


def test_every_flipped_byte_of_an_item_is_refused(w):
    cursor, _, ct = w.post_item("bob", "do not touch")
    for i in range(len(ct)):
        bad = ct[:i] + bytes([ct[i] ^ 0x04]) + ct[i + 1:]
        with pytest.raises((DecryptionError, EncodingError, ForgeryError, NotYet)):
            read(w, "alice", cursor, bad)


@pytest.mark.parametrize("junk", [b"", b"\x00", b"\x01" * 10, bytes(200)])
def test_junk_items_are_refused(w, junk):
    with pytest.raises((EncodingError, DecryptionError, ForgeryError, NotYet)):
        read(w, "alice", 1, junk)


def test_a_raced_item_stays_stale_when_its_author_is_removed_later(w):
    """Whether an item is stale or forged must not depend on when a device reads it:
    an honest item that lost a race with a rotation is not turned into a forgery (an
    alarm on every device that syncs later) by its author's removal afterwards."""
    head_before = w.log("bob").head
    w.rotate("alice", items_cutoff=0)
    cursor, _, ct = w.post_item("bob", "raced with the rotation",
                                generation=w.keys("bob").generations[0], head=head_before)
    with pytest.raises(Stale):
        read(w, "alice", cursor, ct)
    w.rotate("alice", remove="bob")
    with pytest.raises(Stale):
        read(w, "alice", cursor, ct)
    w.join("dana", invited_by="alice", vouchers=["alice", "carol"], admitted_by="alice")
    with pytest.raises(Stale):
        read(w, "dana", cursor, ct)


def test_an_item_that_arrives_before_the_log_is_not_yet_readable(w):
    """A new device may see items before any log entry; that is no forgery."""
    _, _, ct = w.post_item("bob", "early bird")
    empty = GroupLog(w.mailbox, w.group)
    gens = {0: w.keys("bob").generations[0]}
    with pytest.raises(NotYet):
        open_item(ct, 1, empty, gens)
    for entry in w.relay:
        empty.apply(*entry, Keyring(w.person("bob").boxing, gens))
    assert open_item(ct, 1, empty, gens).body["text"] == "early bird"
