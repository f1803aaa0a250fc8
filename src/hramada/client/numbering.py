"""Which items of each author this device has seen, and which it is missing.

Every author numbers their items 1, 2, 3, … (items.md §1). A device notes each number
it has verified (shown, or stale after a rotation), and expects every number up to
the highest it has seen and up to each author's bound in the rotations that retired
the keys it holds (items.md §3). A number it expects and has not seen is *missing*:
the relay dropped or delays it. Each sync fetches one page again from where the first
missing item must lie, and reports what is still missing as a suspicion.

The table lives in the group record, ``record["item_seqs"]``::

    {author: [high, high_cursor, verified, [[number, from_cursor], ...], link]}

``high`` is the highest number expected, ``verified`` the highest number verified,
``high_cursor`` the cursor at which ``high`` was seen, each missing number keeps the
cursor after which it must lie (``from_cursor``), and ``link`` is the link of the item
numbered ``verified`` (what a rotation this device signs binds, items.md §3).

Each author's items also form a chain (each names the link of the one before); which
of the items a device holds lie on the chains its rotations bind is
:func:`check_chains` (the core's ``chain_verdicts`` over the stored items).
"""

from __future__ import annotations

from typing import Callable, Iterable

from hramada.core import items as items_mod
from hramada.core.state import GroupLog

MAX_MISSING = 1000  # per author: more than this is reported, not listed


class Numbering:
    """``from_start``: this device reads the group from its first generation. A device
    that does not (its member's history begins at their admission) expects nothing
    below the first number it sees of each author."""

    def __init__(self, table: dict, from_start: bool = True) -> None:
        self.table, self.from_start = table, from_start

    def _entry(self, author: bytes) -> list:
        entry = self.table.get(author)
        if entry is None:
            entry = self.table[author] = [0, 0, 0, [], items_mod.ZERO_LINK]
        return entry

    def _expect(self, entry: list, upto: int) -> None:
        high, since, _, missing = entry[:4]
        room = MAX_MISSING - len(missing)
        missing.extend([n, since] for n in range(high + 1, min(upto, high + 1 + room)))
        entry[0] = max(high, upto - 1)

    def saw(self, author: bytes, number: int, cursor: int, link: bytes = items_mod.ZERO_LINK) -> None:
        """A verified item ``number`` of ``author`` with ``link``, served at ``cursor``."""
        if not self.from_start and author not in self.table:
            self.table[author] = [number - 1, cursor, 0, [], items_mod.ZERO_LINK]
        entry = self._entry(author)
        if number > entry[0]:
            self._expect(entry, number)
            entry[0], entry[1] = number, cursor
        else:
            entry[3] = [m for m in entry[3] if m[0] != number]
        if number > entry[2]:
            entry[2], entry[4] = number, link

    def missing_again(self, author: bytes, number: int, cursor: int) -> None:
        """Item ``number`` of ``author``, which must lie after ``cursor``, is missing after
        all: the one seen with that number is not on the chain a rotation binds."""
        entry = self._entry(author)
        if number > entry[0]:
            self._expect(entry, number + 1)
        elif not self.is_missing(author, number):
            entry[3].append([number, cursor])

    def is_missing(self, author: bytes, number: int) -> bool:
        entry = self.table.get(author)
        return entry is not None and any(m[0] == number for m in entry[3])

    def expect_bounds(self, log: GroupLog, held: set[int] | dict) -> None:
        """Expect every number up to each author's bound in the rotations that retired
        generations this device holds: the rotating admin verified them."""
        if 0 not in held:  # this device does not read the group from its start
            return
        for info in log.generations:
            if info.items_cutoff is None or info.number not in held:
                continue
            for author, bound in info.items_cutoff.items():
                entry = self._entry(author)
                if bound > entry[0]:
                    self._expect(entry, bound + 1)

    def refetch_from(self) -> int | None:
        """The lowest cursor after which a missing number lies."""
        cursors = [m[1] for e in self.table.values() for m in e[3]]
        return min(cursors) if cursors else None

    def first_missing(self) -> tuple[bytes, int, int] | None:
        """(author, number, how many missing in all) of the first missing item, if any."""
        count, first = 0, None
        for author, entry in sorted(self.table.items()):
            count += len(entry[3])
            if entry[3] and first is None:
                first = (author, entry[3][0][0])
        return None if first is None else (*first, count)

    def cutoff(self) -> dict[bytes, tuple[int, bytes]]:
        """Each author's highest verified number and its link: what a rotation this device
        signs binds."""
        return {author: (entry[2], entry[4]) for author, entry in self.table.items() if entry[2] > 0}


def suspicion(record: dict, log_head: int, name_of: Callable[[bytes], str]) -> str | None:
    """What the relay may be withholding from a group's items, if anything: the first
    missing number, or log entries that waiting items cite."""
    first = Numbering(record.get("item_seqs", {})).first_missing()
    if first is not None:
        author, number, count = first
        more = f" (and {count - 1} more items)" if count > 1 else ""
        return f"item {number} of member {name_of(author)}{more}"
    pending = record.get("pending_items", [])
    if pending:
        return f"log entries after entry {log_head}, which {len(pending)} items refer to"
    return None


def reads_from(log: GroupLog, held: set[int]) -> tuple[dict[bytes, list[tuple[int, bytes]]], dict[bytes, int]]:
    """The links the rotations bind for a device that holds the generations ``held``
    in full: ``(anchors, floors)`` for ``chain_verdicts``. A device whose history starts
    at a later generation expects nothing at or below each author's bound in the
    rotation that made its first generation (its floor)."""
    first = min(held, default=0)
    anchors: dict[bytes, list[tuple[int, bytes]]] = {}
    floors: dict[bytes, int] = {}
    for info in log.generations:
        if info.items_cutoff is None or info.items_links is None:
            continue
        if info.number == first - 1:
            floors = dict(info.items_cutoff)
        if info.number in held:
            for author, n in info.items_cutoff.items():
                anchors.setdefault(author, []).append((n, info.items_links[author]))
    return anchors, floors


def top_bounds(log: GroupLog, held: set[int]) -> dict[bytes, int]:
    """Each author's highest bound among the rotations a device reads: an item at or
    below it must be judged against the chain (:func:`judge_chains`)."""
    return {author: max(n for n, _ in bound) for author, bound in reads_from(log, held)[0].items()}


def judge_chains(stored: list[tuple[int, dict]], log: GroupLog, held: set[int], table: dict,
                 name_of: Callable[[bytes], str]) -> tuple[list[str], list[str], dict]:
    """Judge the stored items (cursor, row) against the bound chains; returns (refused
    items, other notes) in words, and the numbering ``table`` with every number a chain
    misses expected again (from the cursor of that author's item before it)."""
    chains = check_chains((v for _, v in stored), log, held)
    numbering = Numbering(table)
    if chains.missing:
        at = {(v["author"], v["seq"]): cursor for cursor, v in stored}
        for author, n in chains.missing:
            numbering.missing_again(author, n, at.get((author, n - 1), 0))
    return (*chain_notes(chains, name_of), numbering.table)


def check_chains(rows: Iterable[dict], log: GroupLog, held: set[int]) -> items_mod.Chains:
    """Which stored items (``{"author", "seq", "link", "prev", ...}``) lie on the chains
    the group's rotations bind (``items.md`` §3)."""
    anchors, floors = reads_from(log, held)
    return items_mod.chain_verdicts(((v["author"], v["seq"], v["link"], v["prev"]) for v in rows),
                                    anchors, floors)


def shown(rows: list[dict], chains: items_mod.Chains) -> list[dict]:
    """One stored item per author and number: the one on the chain where a rotation binds
    it, else the first received; nothing refused, nothing still waiting for its chain, no
    stale item (one that raced a rotation: kept for its place in the chain only)."""
    refused = {(a, link) for a, _, link in chains.refused}
    out: dict[tuple[bytes, int], dict] = {}
    for v in rows:
        key = (v["author"], v["seq"])
        if key in out or v.get("stale") or (v["author"], v["link"]) in chains.waiting \
                or (v["author"], v["link"]) in refused:
            continue
        want = chains.shown.get(key)
        if want is None or want == v["link"]:
            out[key] = v
    return list(out.values())


def chain_notes(chains: items_mod.Chains, name_of: Callable[[bytes], str]) -> tuple[list[str], list[str]]:
    """What :func:`check_chains` found, in words: (refused items, other notes)."""
    refused = [f"item {n} of {name_of(a)} is not the one the group's rotations bind as their item {n}: "
               f"{name_of(a)} signed another item with that number" for a, n, _ in chains.refused]
    notes = [f"{name_of(a)} signed two different items numbered {n} (one is shown): members may have "
             "been shown different texts" for a, n in chains.twice]
    notes += [f"the group's rotations and {name_of(a)}'s items disagree about their item {n}: either "
              f"{name_of(a)} signed two items with that number, or an admin's device signed a wrong cut-off"
              for a, n in chains.disagree]
    return refused, notes
