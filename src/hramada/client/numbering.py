"""Which items of each author this device has seen, and which it is missing.

Every author numbers their items 1, 2, 3, … (items.md §1). A device notes each number
it has verified (shown, or stale after a rotation), and expects every number up to
the highest it has seen and up to each author's bound in the rotations that retired
the keys it holds (items.md §3). A number it expects and has not seen is *missing*:
the relay dropped or delays it. Each sync fetches one page again from where the first
missing item must lie, and reports what is still missing as a suspicion.

The table lives in the group record, ``record["item_seqs"]``::

    {author: [high, high_cursor, verified, [[number, from_cursor], ...]]}

``high`` is the highest number expected, ``verified`` the highest number verified,
``high_cursor`` the cursor at which ``high`` was seen, and each missing number keeps
the cursor after which it must lie (``from_cursor``).
"""

from __future__ import annotations

from typing import Callable

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
            entry = self.table[author] = [0, 0, 0, []]
        return entry

    def _expect(self, entry: list, upto: int) -> None:
        high, since, _, missing = entry
        room = MAX_MISSING - len(missing)
        missing.extend([n, since] for n in range(high + 1, min(upto, high + 1 + room)))
        entry[0] = max(high, upto - 1)

    def saw(self, author: bytes, number: int, cursor: int) -> None:
        """A verified item ``number`` of ``author``, served at ``cursor``."""
        if not self.from_start and author not in self.table:
            self.table[author] = [number - 1, cursor, 0, []]
        entry = self._entry(author)
        if number > entry[0]:
            self._expect(entry, number)
            entry[0], entry[1] = number, cursor
        else:
            entry[3] = [m for m in entry[3] if m[0] != number]
        entry[2] = max(entry[2], number)

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

    def cutoff(self) -> dict[bytes, int]:
        """Each author's highest verified number: what a rotation this device signs binds."""
        return {author: entry[2] for author, entry in self.table.items() if entry[2] > 0}


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
