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
        assert item.author == w.person("bob").device_id
        assert item.body == {"title": "news", "text": "Meeting moved to Thursday"}
        assert item.head == w.log("bob").head
        assert item.generation == 0 and item.time == 1_700_000_000_000
        assert item.seq == 1


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
                            author=mallory.signing, seq=1, head=bob.log.head, time=1,
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
    carol, carol_head = w.person("carol").device_id, w.log("carol").head
    w.rotate("alice", remove="carol")  # cut-off: carol's last verified item, number 1
    assert w.log("alice").generations[0].items_cutoff == {carol: 1}
    # what carol wrote before is still readable, wherever the relay places it ...
    assert read(w, "alice", cursor, before).body["text"] == "written before removal"
    assert read(w, "alice", cursor + 1000, before).seq == 1
    # ... anything numbered after the cut-off is not, wherever the relay places it
    _, late = items.seal_item(group=w.group, kind="bulletin", body={"text": "written after removal"},
                              author=w.person("carol").signing, seq=2, head=carol_head, time=1,
                              generation=w.keys("alice").generations[0], nonce=bytes(24))
    for at in (1, cursor, cursor + 1):
        with pytest.raises(ForgeryError, match="after their removal"):
            read(w, "alice", at, late)


def test_a_current_members_item_that_arrived_after_the_cut_off_is_stale(w):
    head_before = w.log("bob").head
    w.rotate("alice", items_cutoff={})
    _, _, ct = w.post_item("bob", "raced with the rotation",
                           generation=w.keys("bob").generations[0], head=head_before)
    with pytest.raises(Stale) as stale:
        read(w, "alice", 1, ct)
    assert stale.value.item.seq == 1
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


def test_an_item_by_no_member_against_a_made_up_history_is_a_forgery_not_a_fork_alarm(w):
    """Anyone holding the content key (a member who has left, until the next rotation)
    could seal an item with a wrong head under a key of their own. It names no member,
    so it must not stop the group with a fork alarm: it is refused as a forgery."""
    outsider = SigningKey.from_seed(bytes(range(32)))
    _, ct = items.seal_item(group=w.group, kind="bulletin", body={"title": "t", "text": "x"},
                            author=outsider, seq=1, head=(1, bytes(32)), time=0,
                            generation=w.keys("alice").generations[0], nonce=bytes(24))
    with pytest.raises(ForgeryError, match="not a member"):
        read(w, "alice", 1, ct)


def test_a_fork_alarm_names_the_member_whose_item_shows_it(w):
    bobs_world = copy.deepcopy(w)
    w.post("alice", "policy", {"vouches": 3})
    bobs_world.post("alice", "policy", {"vouches": 1})
    _, _, ct = bobs_world.post_item("bob", "from the other branch")
    with pytest.raises(ForkError, match="by bob"):
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
                            author=view.identity.signing, seq=1, head=view.log.head, time=1,
                            generation=view.keys.generations[0], nonce=bytes(24))
    with pytest.raises(ForgeryError, match="another group"):
        read(w, "alice", 1, ct)
    _, ct2 = items.seal_item(group=w.group, kind="bulletin", body={"text": "x"},
                             author=view.identity.signing, seq=1, head=view.log.head, time=1,
                             generation=other_gen, nonce=bytes(24))
    with pytest.raises(DecryptionError):
        read(w, "alice", 1, ct2)


def test_an_item_whose_signature_is_not_its_authors_is_a_forgery(w):
    """Carol signs an item that names Bob as its author: it does not pass."""
    bob, carol = w.person("bob").signing, w.person("carol").signing
    impostor = SigningKey(carol.seed, bob.public, carol._expanded)
    view = w.views["carol"]
    _, ct = items.seal_item(group=w.group, kind="bulletin", body={"text": "x"},
                            author=impostor, seq=1, head=view.log.head, time=1,
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
    w.rotate("alice", items_cutoff={})
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


# -- numbering, cut-off by number, time, padding, suite ---------------------------------

def test_each_authors_items_are_numbered_and_the_number_is_signed(w):
    for n in (1, 2, 3):
        cursor, _, ct = w.post_item("bob", f"number {n}")
        assert read(w, "alice", cursor, ct).seq == n
    _, _, ct = w.post_item("carol", "her first")
    assert read(w, "alice", 4, ct).seq == 1


@pytest.mark.parametrize("seq", [0, -1, 2**32, "1"])
def test_an_item_number_out_of_range_is_refused_when_writing(w, seq):
    with pytest.raises(ValueError, match="bad item header"):
        w.seal_item("bob", "x", seq=seq)


def test_a_backdated_item_of_a_removed_member_is_refused_on_a_new_members_device(w):
    """The relay colludes with carol after her removal and shows dana, a newcomer, an
    item carol wrote afterwards, placed at the lowest cursor: its number is past her
    bound in the removal, so it is a forgery wherever it sits."""
    w.post_item("carol", "before removal")
    carol_head = w.log("carol").head
    w.rotate("alice", remove="carol")
    w.join("dana", invited_by="alice", vouchers=["alice", "bob"], admitted_by="alice")
    _, late = items.seal_item(group=w.group, kind="bulletin", body={"text": "backdated"},
                              author=w.person("carol").signing, seq=2, head=carol_head, time=1,
                              generation=w.keys("dana").generations[0], nonce=bytes(24))
    with pytest.raises(ForgeryError, match="after their removal"):
        read(w, "dana", 1, late)


def test_a_current_members_item_numbered_past_their_bound_is_stale_and_within_it_is_not(w):
    bob = w.person("bob").device_id
    head_before = w.log("bob").head
    _, _, first = w.post_item("bob", "seen by the rotating admin")
    w.rotate("alice", items_cutoff={bob: 1})
    _, _, second = w.post_item("bob", "raced", generation=w.keys("bob").generations[0], head=head_before)
    assert read(w, "carol", 50, first).seq == 1
    with pytest.raises(Stale):
        read(w, "carol", 2, second)


@pytest.mark.parametrize("time", [-1, 2**53, 1.5])
def test_an_item_time_out_of_range_is_refused_when_writing(w, time):
    with pytest.raises(ValueError, match="bad item header"):
        w.seal_item("bob", "x", time=time)


def _reseal(w: World, change) -> bytes:
    """An item by bob whose inner array and content array are changed by ``change`` and
    signed again (what a buggy or hostile client could write)."""
    from hramada.core import crypto
    from hramada.core.encoding import decode, encode
    view = w.views["bob"]
    gen = view.keys.generations[0]
    _, ct = w.seal_item("bob", "x")
    signed = items.unpad(crypto.decrypt(gen.content_key, ct[5:29], ct[29:], b"hramada:v1:item\x00" + ct[:5]))
    inner = decode(signed[64:])
    content = decode(inner[4])
    change(inner, content)
    inner[4] = encode(content)
    inner = encode(inner)
    signed = crypto.sign(view.identity.signing, items.SIGN_PURPOSE, inner) + inner
    return ct[:29] + crypto.encrypt(gen.content_key, ct[5:29], items.pad(signed), b"hramada:v1:item\x00" + ct[:5])


# positions: inner = [v, head, time, group, content]; content = [seq, prev, author, kind, body]
@pytest.mark.parametrize(("where", "at", "value"), [
    ("inner", 2, 2**53), ("inner", 2, -1), ("content", 0, 0), ("content", 0, 2**32), ("inner", 0, 2),
    ("content", 1, bytes(range(32))), ("content", 1, bytes(31)), ("content", 0, True)],
    ids=["time-too-late", "time-negative", "seq-zero", "seq-too-large", "version-2",
         "first-item-with-a-prev", "short-prev", "seq-not-an-integer"])
def test_a_reader_refuses_an_item_time_or_number_out_of_range(w, where, at, value):
    """Time is milliseconds since 1970 below 2**53; numbers are 1 … 2**32 - 1; the first
    item of an author links to 32 zero bytes; the version is 3."""
    ct = _reseal(w, lambda inner, content: (inner if where == "inner" else content).__setitem__(at, value))
    with pytest.raises(EncodingError):
        read(w, "alice", 1, ct)
    assert read(w, "alice", 1, _reseal(w, lambda inner, content: None)).body["text"] == "x"  # unchanged: fine


def test_items_are_padded_to_size_buckets(w):
    """Texts of different lengths give envelopes of the same size within one bucket."""
    sizes = {len(w.seal_item("bob", "x" * n)[1]) for n in range(1, 200)}
    assert sizes == {items._HEADER + items.MIN_PADDED + 16}
    for n in (300, 5000, 20_000):
        padded = len(w.seal_item("bob", "y" * n)[1]) - items._HEADER - 16
        assert padded == items.padded_size(padded) > n


@pytest.mark.parametrize(("n", "bucket"), [
    (1, 512), (512, 512), (513, 544), (600, 608), (1000, 1024), (5000, 5120), (65_536, 65_536),
    (65_537, 67_584)])
def test_the_padme_bucket_rule(n, bucket):
    assert items.padded_size(n) == bucket
    assert items.padded_size(n) - n <= max(items.MIN_PADDED, n // 8)


def test_padding_that_is_not_the_rule_is_refused():
    signed = b"s" * 100
    good = items.pad(signed)
    assert items.unpad(good) == signed
    for bad in (good + b"\x00", good[:-1], signed + b"\x80", good.replace(b"\x80", b"\x81")):
        with pytest.raises(EncodingError):
            items.unpad(bad)


def test_the_suite_byte_is_authenticated(w):
    """The suite byte is in the AEAD's associated data: an envelope whose suite byte is
    changed does not open, even for a reader that would accept the other suite."""
    from hramada.core import crypto
    cursor, _, ct = w.post_item("bob", "suite 1")
    flipped = bytes([ct[0] ^ 0x03]) + ct[1:]
    with pytest.raises(EncodingError, match="suite"):
        read(w, "alice", cursor, flipped)
    gen = w.keys("alice").generations[0]
    with pytest.raises(DecryptionError):  # what a suite-3 reader would try: the tag fails
        crypto.decrypt(gen.content_key, ct[5:29], ct[29:], b"hramada:v1:item\x00" + flipped[:5])
    assert crypto.decrypt(gen.content_key, ct[5:29], ct[29:], b"hramada:v1:item\x00" + ct[:5])


def test_a_member_who_left_cannot_backdate_an_item_past_the_last_number_they_signed(w):
    """Leaving names the leaver's last item number. Until an admin rotates, the leaver
    still holds the key and can name a head from before they left; an item numbered
    after their last is refused all the same."""
    head = w.log("carol").head
    cursor, _, before = w.post_item("carol", "written while a member")
    w.post("carol", "leave", {"items": [[w.person("carol").device_id, 1]]})
    assert read(w, "alice", cursor, before).seq == 1
    _, after = w.seal_item("carol", "written after leaving", head=head)
    with pytest.raises(items.PostedAfterRemoval, match="after they left"):
        read(w, "alice", cursor + 1, after)


@pytest.mark.parametrize("bad", ["low", "high", "not-mine", "twice", "flat"])
def test_a_leave_with_an_item_number_out_of_range_is_ignored(w, bad):
    """``leave`` names the last item number of each of the leaver's own devices,
    ascending by device, each 0 … 2**32 - 1; anything else is malformed."""
    carol, bob = w.person("carol").device_id, w.person("bob").device_id
    items_ = {"low": [[carol, -1]], "high": [[carol, 2**32]], "not-mine": [[bob, 1]],
              "twice": [[carol, 1], [carol, 2]], "flat": 1}[bad]
    w.post("carol", "leave", {"items": items_})
    assert w.person("carol").public.id in w.log("alice").members
    assert "malformed" in w.log("alice").warnings[-1][1]["reason"]


def test_an_item_older_than_every_key_a_device_holds_predates_it_not_a_forgery(w):
    """Under a history policy that keeps older content from newcomers, a device holding
    only later generations skips items under earlier ones: no alarm."""
    _, _, old = w.post_item("bob", "before dana")
    w.rotate("alice")
    dana_keys = {1: w.keys("alice").generations[1]}
    with pytest.raises(items.Predates):
        open_item(old, 1, w.log("alice"), dana_keys)
    assert not issubclass(items.Predates, HramadaError)


# -- chains: each author's items link to the previous one, and rotations bind the last link --

def test_each_item_links_to_its_authors_previous_one_and_the_first_to_zero(w):
    items_read = [read(w, "alice", *w.post_item("bob", f"number {n}")[::2]) for n in (1, 2, 3)]
    assert items_read[0].prev == items.ZERO_LINK
    assert [i.prev for i in items_read[1:]] == [i.link for i in items_read[:2]]
    assert all(i.id == i.link[:16] for i in items_read)


def test_an_item_sealed_again_keeps_its_link_and_id(w):
    """What a rotation binds does not depend on the head, time or key an item was sealed
    with: an item sealed again after losing a race links where the first did."""
    bob = w.person("bob")
    first = w.seal_item("bob", "once", seq=1)
    again = w.seal_item("bob", "once", seq=1, time=5, head=(1, w.log("bob").hash_at(1)))
    assert first[0] == again[0]
    other = w.seal_item("bob", "another text", seq=1)
    assert other[0] != first[0] and bob.public.id


def test_the_first_item_must_link_to_zero(w):
    with pytest.raises(ValueError, match="bad item header"):
        w.seal_item("bob", "first", seq=1, prev=bytes(range(32)))


def test_a_removed_members_item_re_signed_at_their_bound_is_refused(w):
    """Carol signs another item with her last number after her removal: it is not the one
    the removal binds, wherever the relay places it (signed by her: void, not an alarm)."""
    cursor, _, genuine = w.post_item("carol", "what I wrote")
    carol_head = w.log("carol").head
    w.rotate("alice", remove="carol")
    resigned = _resign(w, "what I wish I had written", 1, carol_head, items.ZERO_LINK, w.keys("alice"))
    assert read(w, "alice", cursor, genuine).seq == 1
    for at in (cursor, cursor + 1):
        with pytest.raises(items.Unlinked, match="carol signed another item with that number") as refused:
            read(w, "alice", at, resigned)
        assert isinstance(refused.value, items.PostedAfterRemoval)


def _resign(w: World, text: str, seq: int, head, prev: bytes, keys: Keyring) -> bytes:
    """An item carol signs with the key of generation 0, which she kept after her removal."""
    return items.seal_item(group=w.group, kind="bulletin", body={"text": text}, author=w.person("carol").signing,
                           seq=seq, head=head, time=1, generation=keys.generations[0], nonce=bytes(24),
                           prev=prev)[1]


def _held(w: World, reader: str, posted: list[tuple[int, bytes]]) -> list[tuple[bytes, int, bytes, bytes]]:
    out = []
    for cursor, ct in posted:
        i = read(w, reader, cursor, ct)
        out.append((i.author, i.seq, i.link, i.prev))
    return out


def _anchors(log: GroupLog) -> dict[bytes, list[tuple[int, bytes]]]:
    out: dict[bytes, list[tuple[int, bytes]]] = {}
    for g in log.generations:
        for a, n in (g.items_cutoff or {}).items():
            out.setdefault(a, []).append((n, g.items_links[a]))
    return out


def test_a_removed_members_item_re_signed_below_their_bound_links_nowhere(w):
    """The relay shows dana, a newcomer, carol's re-signed number 2 in place of the one she
    wrote before her removal. Dana holds carol's items up to the bound: the chain from the
    bound's link passes through the original number 2, so the re-signed one is refused,
    number 2 is missing, and number 1 waits until it arrives."""
    posted = [w.post_item("carol", f"number {n}")[::2] for n in (1, 2, 3)]
    carol = w.person("carol").device_id
    head = w.log("carol").head
    w.rotate("alice", remove="carol")
    w.join("dana", invited_by="alice", vouchers=["alice", "bob"], admitted_by="alice")
    forged = _resign(w, "re-signed", 2, head, w.item_links[("carol", 1)], w.keys("dana"))
    shown = [posted[0], (posted[1][0], forged), posted[2]]
    chains = items.chain_verdicts(_held(w, "dana", shown), _anchors(w.log("dana")))
    forged_link = read(w, "dana", 2, forged).link
    assert chains.refused == [(carol, 2, forged_link)]
    assert chains.missing == [(carol, 2)]
    assert chains.waiting == {(carol, w.item_links[("carol", 1)])}
    assert chains.shown == {(carol, 3): w.item_links[("carol", 3)]}
    # once the relay serves the original too, everything links and the forgery stays refused
    chains = items.chain_verdicts(_held(w, "dana", shown + [posted[1]]), _anchors(w.log("dana")))
    assert chains.refused == [(carol, 2, forged_link)] and chains.missing == [] and not chains.waiting
    assert {n for _, n in chains.shown} == {1, 2, 3}


def test_two_items_with_one_number_above_every_bound_are_equivocation(w):
    bob = w.person("bob").device_id
    one = w.seal_item("bob", "to some", seq=1)
    other = w.seal_item("bob", "to others", seq=1)
    held = _held(w, "alice", [(1, one[1]), (2, other[1])])
    chains = items.chain_verdicts(held, {})
    assert chains.twice == [(bob, 1)] and chains.shown == {(bob, 1): held[0][2]}


def test_a_huge_bound_costs_nothing_and_a_device_expects_nothing_below_its_floor(w):
    bob = w.person("bob").device_id
    chains = items.chain_verdicts([], {bob: [(2**32 - 1, bytes(32))]})
    assert chains.missing == [(bob, 2**32 - 1)]
    held = _held(w, "alice", [w.post_item("bob", f"n{n}")[::2] for n in (1, 2)])
    chains = items.chain_verdicts(held[1:], {bob: [(2, held[1][2])]}, floors={bob: 1})
    assert chains.missing == [] and chains.shown == {(bob, 2): held[1][2]}


def test_a_bound_that_the_next_item_contradicts_is_named(w):
    """An admin's device binds a link that bob's next item does not name: the rotations
    and bob's items disagree, and readers are told (either bob signed two items with
    that number, or the cut-off is wrong)."""
    bob = w.person("bob").device_id
    held = _held(w, "alice", [w.post_item("bob", f"n{n}")[::2] for n in (1, 2)])
    chains = items.chain_verdicts(held, {bob: [(1, bytes(range(32)))]})
    assert chains.disagree == [(bob, 1)] and chains.refused == [(bob, 1, held[0][2])]
    chains = items.chain_verdicts(held, {bob: [(1, held[0][2])]})
    assert chains.disagree == [] and chains.refused == [] and len(chains.shown) == 2
