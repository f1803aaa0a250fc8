"""A seized, locked profile next to a seized relay: can the adversary tell which
mailbox the profile belongs to?

The adversary holds the profile folder (no passphrase) and everything the relay
holds about each mailbox (here read through the relay's API with each group's
capability: entry and item ciphertexts, their sizes, counts and cursors — what a
seized relay database shows). It tries every way of linking the two that the old
local database allowed: row counts, integer positions, exact blob sizes, volume.
Each attempt must leave the profile's mailbox unsingled: either no mailbox matches,
or several do.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from conftest import PASSPHRASE
from hramada.client import Hramada
from hramada.client.store import CHUNK, ROW
from hramada.client.transport import Relay
from conftest import PASSPHRASE

SEAL_OVERHEAD = 24 + 16  # nonce and tag around every stored value


@dataclass
class Mailbox:
    name: str
    entry_sizes: list[int]
    item_sizes: list[int]
    item_cursors: list[int]

    @property
    def volume(self) -> int:
        return sum(self.entry_sizes) + sum(self.item_sizes)


@dataclass
class Profile:
    """What a locked profile's database shows without the keystore."""
    row_counts: list[int]
    integers: set[int]
    blob_sizes: list[int]


def seize_profile(home: Path) -> Profile:
    db = sqlite3.connect(home / "store.db")
    counts: list[int] = []
    integers: set[int] = set()
    sizes: list[int] = []
    tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        rows = db.execute(f"SELECT * FROM {table}").fetchall()
        counts.append(len(rows))
        for column in range(len(rows[0]) if rows else 0):
            values = [r[column] for r in rows]
            ints = [v for v in values if isinstance(v, int)]
            integers.update(ints)
            counts.extend(Counter(ints).values())  # rows per group number, per position, ...
            sizes.extend(len(v) for v in values if isinstance(v, bytes))
    db.close()
    return Profile(counts, integers, sizes)


async def seize_mailbox(h: Hramada, group: str) -> Mailbox:
    s = h._find(group)
    relay = Relay(s.record["relay"])
    try:
        entries, _ = await relay.read_log(s.record["mailbox"], s.cap, 0, 1000)
        items, _ = await relay.read_items(s.record["mailbox"], s.cap, 0, 1000)
    finally:
        await relay.close()
    return Mailbox(s.name, [len(e.ciphertext) for e in entries], [len(ct) for _, ct in items],
                   [c for c, _ in items])


# -- the adversary's attempts: each returns the mailboxes that fit the profile -------

def by_counts(p: Profile, boxes: list[Mailbox]) -> set[str]:
    """A table (or a group of rows sharing a number) with as many rows as the
    mailbox has log entries, and one with as many as it has items."""
    return {b.name for b in boxes if len(b.entry_sizes) in p.row_counts
            and (len(b.item_sizes) in p.row_counts or not b.item_sizes)}


def by_positions(p: Profile, boxes: list[Mailbox]) -> set[str]:
    """The mailbox's log head and its last item cursor stored in clear."""
    return {b.name for b in boxes if len(b.entry_sizes) in p.integers
            and (not b.item_cursors or b.item_cursors[-1] in p.integers)}


def by_sizes(p: Profile, boxes: list[Mailbox]) -> set[str]:
    """Every entry stored as one blob of the relay's size plus a fixed overhead
    (give or take a length header's bytes)."""
    have = set(p.blob_sizes)
    out = set()
    for b in boxes:
        for offset in {size - b.entry_sizes[0] for size in have}:
            if all(any(c + offset + slack in have for slack in range(-2, 3)) for c in b.entry_sizes):
                out.add(b.name)
                break
    return out


def by_volume(p: Profile, boxes: list[Mailbox]) -> set[str]:
    """How much data the profile holds, against each mailbox's volume."""
    stored = sum(size - SEAL_OVERHEAD for size in p.blob_sizes)
    return {b.name for b in boxes if b.volume <= stored < b.volume + 8 * ROW}


def test_a_locked_profile_does_not_single_out_its_mailbox_on_a_seized_relay(
        relay_process, bring_in, tmp_path: Path) -> None:
    relay = relay_process("--rate", "0")

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna")
        mikola = Hramada.init(tmp_path / "mikola", PASSPHRASE, "Mikola Adamovich-Kastus")
        try:
            circle = (await ales.create_group("Circle", relay.url)).group
            await ales.invite(circle)  # one more entry than the decoys
            await bring_in(ales, hanna, circle)
            decoy_a = (await ales.create_group("Decoy network of the western districts", relay.url)).group
            await bring_in(ales, mikola, decoy_a)
            decoy_b = (await ales.create_group("B", relay.url)).group
            for i in range(6):
                await ales.post(circle, f"Circle bulletin {i} " + "x" * (40 * i))
            for i in range(9):
                await ales.post(decoy_a, "Decoy " * (i + 1))
            await ales.post(decoy_b, "Only one post here, of its own length")
            await ales.post(decoy_b, "And another")
            await hanna.sync()
            assert len(await hanna.read(circle)) == 6
            boxes = [await seize_mailbox(ales, g) for g in (circle, decoy_a, decoy_b)]
        finally:
            for h in (ales, hanna, mikola):
                await h.close()

        seized = seize_profile(tmp_path / "hanna")
        assert len({(len(b.entry_sizes), len(b.item_sizes)) for b in boxes}) == 3  # the mailboxes differ
        for attempt in (by_counts, by_positions, by_sizes, by_volume):
            assert attempt(seized, boxes) != {"Circle"}, f"{attempt.__name__} singles out the mailbox"
        # and why: no clear numbers at all; every blob a 16-byte row id or a value
        # padded to 16 KiB or a power of two above
        assert not seized.integers
        values = [size - SEAL_OVERHEAD for size in seized.blob_sizes if size != 16]
        assert values and all(v >= ROW and v & (v - 1) == 0 for v in values)
        assert CHUNK < ROW
    asyncio.run(go())
