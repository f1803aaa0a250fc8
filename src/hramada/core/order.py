"""Putting what a relay delivered into the order the core needs.

A relay (or a flaky network, or a retry) may hand a client log entries and items in
any order and more than once. These helpers turn such a pile into the order that
:meth:`GroupLog.apply <hramada.core.state.GroupLog.apply>` and
:func:`open_item <hramada.core.items.open_item>` expect, and they treat one thing as
an attack rather than noise: **two different things at the same position**. That is
a relay showing different histories, so it raises :class:`ForkError`.

Pure functions: nothing here touches the network, the disk, a clock or randomness.

Shapes used here:

* a log entry is ``(seq, prev, ciphertext)`` — the arguments of ``GroupLog.apply``;
* an item is ``(cursor, ciphertext)`` — as the relay lists them.
"""

from __future__ import annotations

from collections.abc import Iterable

from hramada.core import crypto, wire
from hramada.core.state import GroupLog
from hramada.errors import ForkError

LogEntry = tuple[int, bytes, bytes]
RelayItem = tuple[int, bytes]


def _check_position(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an integer")
    if value < 1:
        raise ValueError(f"{what} must be at least 1")
    return value


def in_seq_order(received: Iterable[LogEntry]) -> list[LogEntry]:
    """``received`` sorted by ``seq``, exact duplicates dropped.

    Raises :class:`ForkError` if two *different* entries claim the same ``seq``
    (the relay is showing two histories); ``TypeError``/``ValueError`` for a malformed
    entry.
    Gaps are kept as they are: see :func:`next_entries` for the part that can be
    applied now.
    """
    by_seq: dict[int, LogEntry] = {}
    for entry in received:
        seq, prev, ciphertext = entry
        _check_position(seq, "an entry's seq")
        if not isinstance(prev, bytes) or not isinstance(ciphertext, bytes):
            raise TypeError("an entry's prev and ciphertext must be bytes")
        seen = by_seq.get(seq)
        if seen is None:
            by_seq[seq] = (seq, prev, ciphertext)
        elif seen[1] != prev or seen[2] != ciphertext:
            raise ForkError(f"the relay served two different entries at position {seq}")
    return [by_seq[seq] for seq in sorted(by_seq)]


def next_entries(log: GroupLog, received: Iterable[LogEntry]) -> list[LogEntry]:
    """The entries of ``received`` to apply to ``log`` next, in order.

    * entries the log already holds are checked against it: a different entry at a
      position already applied raises :class:`ForkError` (a rewritten history);
    * the rest are sorted and de-duplicated as in :func:`in_seq_order`;
    * the result is the run ``head + 1, head + 2, …`` up to the first gap. Keep what
      is left over and call again when more arrives.

    Applying the result with ``GroupLog.apply`` still verifies every entry; this only
    decides the order.
    """
    head, _ = log.head
    ready: list[LogEntry] = []
    for seq, prev, ciphertext in in_seq_order(received):
        if seq <= head:
            if not crypto.equal(wire.entry_hash(log.mailbox, seq, prev, ciphertext),
                                log.hash_at(seq)):
                raise ForkError(f"the relay served a different entry {seq} than the one "
                                f"this device already verified")
        elif seq == head + len(ready) + 1:
            ready.append((seq, prev, ciphertext))
        else:
            break
    return ready


def in_cursor_order(received: Iterable[RelayItem]) -> list[RelayItem]:
    """Items sorted by cursor, exact duplicates dropped.

    Raises :class:`ForkError` if the relay served two different items at one cursor
    (an item's cursor decides whether it came before its generation's cut-off, so a
    relay must not be allowed to change it); ``TypeError``/``ValueError`` for a
    malformed item.
    """
    by_cursor: dict[int, RelayItem] = {}
    for item in received:
        cursor, ciphertext = item
        _check_position(cursor, "an item's cursor")
        if not isinstance(ciphertext, bytes):
            raise TypeError("an item's ciphertext must be bytes")
        seen = by_cursor.get(cursor)
        if seen is None:
            by_cursor[cursor] = (cursor, ciphertext)
        elif seen[1] != ciphertext:
            raise ForkError(f"the relay served two different items at cursor {cursor}")
    return [by_cursor[c] for c in sorted(by_cursor)]
