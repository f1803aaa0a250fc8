"""The history policy, enforced by keys: under ``since-join`` an admission rotates the
group key with no link from the new generation back to older content, so a newcomer's
device holds only the log half of every earlier generation — it verifies the whole log
and opens nothing written before its admission, even given the ciphertext."""

from __future__ import annotations

import pytest

from hramada.core import build, items
from hramada.core.keys import HistoryNotShared, make_key_block
from hramada.core.state import GroupLog
from hramada.errors import VerificationError

from .world import World


def admit_rotating(w: World, by: str, name: str, role: str = "member") -> build.NewEntry:
    view = w.views[by]
    new = build.rotation(view.log, author=view.identity, keys=view.keys, seed=w.rand.bytes(32),
                         ephemeral_secret=w.rand.bytes(32), nonce=w.rand.bytes(24),
                         auth_nonce=w.rand.bytes(24), items_cutoff={w.person(n).device_id: (k, w.item_links[(n, k)]) for n, k in w.item_seqs.items()},
                         admit=(w.requests[name], role))
    w.publish(new)
    return new


def bring_in(w: World, name: str) -> None:
    w.invite("alice", f"for-{name}")
    w.request(name, f"for-{name}", by="alice")
    w.vouch("alice", name)
    admit_rotating(w, "alice", name)
    w.welcome(name, by="alice")


@pytest.fixture
def world() -> World:
    return World.create("history", vouches=1, history="since-join")


def test_a_newcomer_holds_no_generation_from_before_its_admission(world):
    bring_in(world, "bob")
    cursor, _, old_item = world.post_item("alice", "before carol")
    before = world.log("alice").generation
    bring_in(world, "carol")
    carol = world.views["carol"]
    admitted = carol.log.members[world.person("carol").public.id].since
    assert carol.log.generation_at(admitted) == before + 1
    held_in_full = sorted(n for n, g in carol.keys.generations.items() if g.full)
    assert held_in_full == [before + 1]  # only the generation her admission made
    assert all(not carol.keys.generations[n].full for n in range(before + 1))
    with pytest.raises(HistoryNotShared):
        items.open_item(old_item, cursor, carol.log, carol.keys.generations)
    # yet she verified the whole log: the same state as a founding member's
    assert carol.log.head == world.log("alice").head and set(carol.log.members) == set(world.log("alice").members)
    cursor, _, new_item = world.post_item("alice", "after carol")
    assert items.open_item(new_item, cursor, carol.log, carol.keys.generations).body["text"] == "after carol"


def test_under_all_a_newcomer_opens_earlier_items():
    w = World.create("history-all", vouches=1, history="all")
    w.join("bob", invited_by="alice", vouchers=["alice"], admitted_by="alice")
    cursor, _, old_item = w.post_item("alice", "before carol")
    w.join("carol", invited_by="alice", vouchers=["alice"], admitted_by="alice")
    carol = w.views["carol"]
    assert all(g.full for g in carol.keys.generations.values())
    assert items.open_item(old_item, cursor, carol.log, carol.keys.generations).body["text"] == "before carol"


def test_under_since_join_an_admission_that_does_not_rotate_is_ignored(world):
    world.invite("alice", "x")
    world.request("bob", "x", by="alice")
    world.vouch("alice", "bob")
    world.admit("alice", "bob")
    log = world.log("alice")
    assert world.person("bob").public.id not in log.members
    assert log.warnings[-1][1]["reason"] == "admit-needs-rotation"


def test_an_admission_under_since_join_that_links_back_to_older_content_is_void(world, monkeypatch):
    world.invite("alice", "x")
    world.request("bob", "x", by="alice")
    world.vouch("alice", "bob")

    def linking(*args, **kw):
        kw["cut"] = False
        return make_key_block(*args, **kw)
    monkeypatch.setattr(build, "make_key_block", linking)
    view = world.views["alice"]
    new = build.rotation(view.log, author=view.identity, keys=view.keys, seed=world.rand.bytes(32),
                         ephemeral_secret=world.rand.bytes(32), nonce=world.rand.bytes(24),
                         auth_nonce=world.rand.bytes(24), items_cutoff={}, admit=(world.requests["bob"], "member"))
    fresh = world.fold("alice")
    generation = fresh.generation
    assert fresh.apply(new.seq, new.prev, new.ciphertext, world.keys("alice")) is None  # void
    assert fresh.warnings[-1] == ("void-entry", {"seq": new.seq, "by": view.identity.public.id,
                                                 "reason": "rotation-invalid"})
    assert world.person("bob").public.id not in fresh.members and fresh.generation == generation


def test_only_an_admin_changes_the_history_policy(world):
    bring_in(world, "bob")
    world.post("bob", "policy", {"history": "all"})
    log = world.log("alice")
    assert log.history == "since-join" and log.warnings[-1][1]["reason"] == "not-admin"
    world.post("alice", "policy", {"history": "all"})
    assert log.history == "all" and world.log("bob").history == "all"
    world.post("alice", "policy", {"history": "forever"})
    assert log.history == "all" and log.warnings[-1][1]["reason"] == "bad-history"


def test_a_log_without_a_history_field_is_read_as_all():
    w = World.create("no-history-field", vouches=1)
    assert w.log("alice").history == "all"
    assert isinstance(w.log("alice"), GroupLog)
