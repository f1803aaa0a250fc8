"""What a device has seen of each author's numbered items, and what it is missing."""

from __future__ import annotations

from hramada.client.numbering import MAX_MISSING, Numbering
from hramada.core.state import GenerationInfo, GroupLog

A, B = b"a" * 32, b"b" * 32


def test_numbers_in_order_leave_nothing_missing():
    n = Numbering({})
    for number, cursor in ((1, 1), (2, 3), (3, 4)):
        n.saw(A, number, cursor)
    n.saw(B, 1, 5, link=b"l" * 32)
    assert n.cutoff()[B] == (1, b"l" * 32)  # what a rotation binds: the number and its link
    del n.table[B]
    assert n.first_missing() is None and n.refetch_from() is None
    assert n.cutoff() == {A: (3, bytes(32))}


def test_a_skipped_number_is_missing_from_the_previous_items_cursor_until_it_arrives():
    n = Numbering({})
    n.saw(A, 1, 5)
    n.saw(B, 1, 6)
    n.saw(A, 3, 9)
    assert n.first_missing() == (A, 2, 1)
    assert n.refetch_from() == 5  # the missing item lies after A's number 1
    assert n.is_missing(A, 2) and not n.is_missing(A, 3) and not n.is_missing(B, 2)
    n.saw(A, 2, 7)
    assert n.first_missing() is None and n.cutoff() == {A: (3, bytes(32)), B: (1, bytes(32))}


def test_the_same_number_twice_is_one_item():
    n = Numbering({})
    n.saw(A, 1, 1)
    n.saw(A, 1, 8)  # re-served, or sent again under a new key
    assert n.first_missing() is None and n.cutoff() == {A: (1, bytes(32))}


def test_a_rotations_bound_is_expected_but_never_counted_as_verified():
    """A bound says the rotating admin verified those numbers: a reader that has not
    received them reports them missing, and never signs them into its own cut-off."""
    log = GroupLog(b"m" * 16)
    log.generations = [GenerationInfo(0, b"", b"", start=1, end=9, items_cutoff={A: 3}),
                       GenerationInfo(1, b"", b"", start=9)]
    n = Numbering({})
    n.saw(A, 1, 2)
    n.expect_bounds(log, {0: None, 1: None})
    assert n.first_missing() == (A, 2, 2)
    assert n.cutoff() == {A: (1, bytes(32))}
    n.expect_bounds(log, {0: None, 1: None})  # again: nothing new
    assert n.first_missing() == (A, 2, 2)
    n.saw(A, 2, 3)
    n.saw(A, 3, 4)
    assert n.first_missing() is None and n.cutoff() == {A: (3, bytes(32))}


def test_bounds_are_not_expected_by_a_device_that_does_not_read_from_the_start():
    log = GroupLog(b"m" * 16)
    log.generations = [GenerationInfo(0, b"", b"", start=1, end=9, items_cutoff={A: 3}),
                       GenerationInfo(1, b"", b"", start=9)]
    n = Numbering({})
    n.expect_bounds(log, {1: None})
    assert n.first_missing() is None


def test_a_huge_jump_keeps_a_bounded_list():
    n = Numbering({})
    n.saw(A, 1, 1)
    n.saw(A, 2**32 - 1, 2)
    assert len(n.table[A][3]) == MAX_MISSING
    assert n.first_missing() == (A, 2, MAX_MISSING)
    assert n.cutoff() == {A: (2**32 - 1, bytes(32))}


def test_a_device_that_does_not_read_from_the_start_expects_nothing_below_the_first_number():
    n = Numbering({}, from_start=False)
    n.saw(A, 40, 7)
    n.saw(A, 42, 9)
    assert n.first_missing() == (A, 41, 1)
    assert n.cutoff() == {A: (42, bytes(32))}
