"""Delivery order: whatever order and however often the relay delivers, the client
applies the same entries in the same order, and two different things at one
position are a fork."""

from __future__ import annotations

import pytest

from hramada.core.order import in_cursor_order, in_seq_order, next_entries
from hramada.core.state import GroupLog, Keyring
from hramada.errors import ForkError

from .world import World, summary


@pytest.fixture
def w() -> World:
    world = World.create("order", vouches=1)
    world.join("bob", invited_by="alice", vouchers=["alice"], admitted_by="alice")
    world.post("alice", "policy", {"vouches": 2})
    return world


def fresh(w: World) -> tuple[GroupLog, Keyring]:
    return GroupLog(w.mailbox), Keyring(w.person("alice").boxing,
                                        {0: w.keys("alice").generations[0]})


def test_in_seq_order_sorts_and_drops_exact_duplicates(w):
    shuffled = [w.relay[3], w.relay[0], w.relay[3], w.relay[1], w.relay[0], w.relay[2]]
    assert in_seq_order(shuffled) == w.relay[:4]
    assert in_seq_order([]) == []


def test_in_seq_order_keeps_gaps(w):
    assert in_seq_order([w.relay[4], w.relay[1]]) == [w.relay[1], w.relay[4]]


def test_two_different_entries_at_one_seq_are_a_fork(w):
    seq, prev, ct = w.relay[2]
    with pytest.raises(ForkError, match="position 3"):
        in_seq_order([w.relay[2], (seq, prev, ct + b"\x00")])
    with pytest.raises(ForkError):
        in_seq_order([w.relay[2], (seq, bytes(32), ct)])


@pytest.mark.parametrize("bad", [(0, bytes(32), b"x"), (-1, bytes(32), b"x"),
                                 ("1", bytes(32), b"x"), (True, bytes(32), b"x"),
                                 (1, "prev", b"x"), (1, bytes(32), None)])
def test_malformed_entries_are_refused(bad):
    with pytest.raises((TypeError, ValueError)):
        in_seq_order([bad])


def test_next_entries_from_any_delivery_applies_to_the_same_state(w):
    log, keys = fresh(w)
    pile = list(reversed(w.relay)) + w.relay[2:4]
    for entry in next_entries(log, pile):
        log.apply(*entry, keys)
    assert summary(log) == summary(w.log("alice"))


def test_next_entries_stops_at_a_gap_and_resumes_later(w):
    log, keys = fresh(w)
    pile = [w.relay[0], w.relay[1], w.relay[3], w.relay[4]]
    ready = next_entries(log, pile)
    assert ready == w.relay[:2]
    for entry in ready:
        log.apply(*entry, keys)
    assert next_entries(log, pile) == []  # still waiting for entry 3
    pile.append(w.relay[2])
    assert next_entries(log, pile) == w.relay[2:5]


def test_next_entries_skips_what_the_log_already_verified(w):
    log, keys = fresh(w)
    for entry in w.relay[:3]:
        log.apply(*entry, keys)
    assert next_entries(log, w.relay) == w.relay[3:]


def test_a_rewritten_entry_below_the_head_is_a_fork(w):
    """The relay re-serves an already verified position with different content."""
    log, keys = fresh(w)
    for entry in w.relay:
        log.apply(*entry, keys)
    seq, prev, ct = w.relay[1]
    with pytest.raises(ForkError, match="already verified"):
        next_entries(log, [(seq, prev, ct[:-1] + bytes([ct[-1] ^ 1]))])


def test_items_in_cursor_order(w):
    items = [(3, b"c"), (1, b"a"), (3, b"c"), (2, b"b"), (1, b"a")]
    assert in_cursor_order(items) == [(1, b"a"), (2, b"b"), (3, b"c")]
    with pytest.raises(ForkError, match="cursor 2"):
        in_cursor_order([(2, b"b"), (2, b"B")])
    for bad in ((0, b"x"), (1, "x"), (None, b"x")):
        with pytest.raises((TypeError, ValueError)):
            in_cursor_order([bad])
