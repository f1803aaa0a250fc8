"""The SQLite backend on its own: every storage operation, its refusals, atomicity,
and the single writer's group commit under concurrency."""

from __future__ import annotations

import asyncio
import os
import sqlite3

import pytest

from hramada.core.crypto import SigningKey
from hramada.core.wire import GENESIS_PREV, entry_hash, sign_admin_append
from hramada.relay.storage import open_storage
from hramada.relay.storage.base import (
    EMPTY_HEAD,
    AdminProof,
    CapabilityReused,
    DropNotFound,
    Exists,
    Grant,
    GuestLimitReached,
    Head,
    Heads,
    LogConflict,
    NotAdmin,
    RetiredCapability,
    Unauthorized,
    position_pad,
)
from hramada.relay.storage.schema import schema_scripts, split_statements
from hramada.relay.storage.sqlite import SQLiteStorage, sqlite_path

from .conftest import db_dump

pytestmark = pytest.mark.anyio
BIG = 1 << 30


@pytest.fixture
async def store(tmp_path):
    async with SQLiteStorage(tmp_path / "s.sqlite3") as s:
        yield s


def pad(cap_hash: bytes) -> bytes:
    """The position pad, derived here from the hash in place of the capability
    (these tests hand the storage hashes directly)."""
    return position_pad(cap_hash)


ADMIN = SigningKey.from_seed(bytes(range(32)))  # the relay-admin key mailboxes are created with


def proof(mb: bytes, seq: int, prev: bytes, ct: bytes, new_cap_hash: bytes | None = None,
          admins: list[bytes] | None = None, key: SigningKey = ADMIN) -> AdminProof:
    """An admin's signature over an append (relay-api-v1.md §5)."""
    return AdminProof(key.public.raw, sign_admin_append(key, mb, seq, prev, ct, new_cap_hash, admins))


def ids() -> tuple[bytes, bytes]:
    return os.urandom(16), os.urandom(32)


async def test_mailbox_and_capability_lookup(store):
    mb, ch = ids()
    await store.create_mailbox(mb, ch, ADMIN.public.raw)
    assert await store.lookup_cap(mb, ch, pad(ch)) == Grant(None)
    with pytest.raises(Exists):
        await store.create_mailbox(mb, os.urandom(32), ADMIN.public.raw)
    with pytest.raises(Unauthorized):
        await store.lookup_cap(mb, os.urandom(32), pad(os.urandom(32)))
    with pytest.raises(Unauthorized):
        await store.lookup_cap(os.urandom(16), ch, pad(ch))
    assert await store.heads(mb, ch, pad(ch)) == Heads(0, 0, 0)


async def test_log_appends_only_at_head_plus_one_with_prev(store):
    mb, ch = ids()
    await store.create_mailbox(mb, ch, ADMIN.public.raw)
    head = await store.append_entry(mb, ch, 1, GENESIS_PREV, b"one")
    assert head == Head(1, entry_hash(mb, 1, GENESIS_PREV, b"one"))
    for seq, prev in [(1, GENESIS_PREV), (3, head.hash), (2, GENESIS_PREV), (0, GENESIS_PREV)]:
        with pytest.raises(LogConflict) as info:
            await store.append_entry(mb, ch, seq, prev, b"x")
        assert info.value.head == head
    head2 = await store.append_entry(mb, ch, 2, head.hash, b"two")
    page = await store.read_log(mb, ch, 0, 10, BIG, pad(ch))
    assert [(e.seq, e.ciphertext) for e in page.entries] == [(1, b"one"), (2, b"two")]
    assert page.entries[1].prev == head.hash and page.head == head2
    assert (await store.read_log(mb, ch, 1, 10, BIG, pad(ch))).entries[0].seq == 2
    assert (await store.read_log(mb, ch, 0, 1, BIG, pad(ch))).entries[0].seq == 1
    assert (await store.read_log(mb, ch, 2, 10, BIG, pad(ch))).entries == []


async def test_rotation_retires_every_capability_in_the_same_transaction(store):
    mb, old = ids()
    await store.create_mailbox(mb, old, ADMIN.public.raw)
    h1 = await store.append_entry(mb, old, 1, GENESIS_PREV, b"create")
    new = os.urandom(32)
    h2 = await store.append_entry(mb, old, 2, h1.hash, b"rotate", new_cap_hash=new, pad=pad(old),
                                  proof=proof(mb, 2, h1.hash, b"rotate", new))
    assert await store.lookup_cap(mb, old, pad(old)) == Grant(2)
    assert await store.lookup_cap(mb, new, pad(new)) == Grant(None)
    h3 = await store.append_entry(mb, new, 3, h2.hash, b"after")
    with pytest.raises(RetiredCapability):
        await store.append_entry(mb, old, 4, h3.hash, b"x")
    with pytest.raises(RetiredCapability):
        await store.append_items(mb, old, [b"i"])
    # The retired capability reads the log up to its retirement, and that as its head.
    page = await store.read_log(mb, old, 0, 10, BIG, pad(old))
    assert [e.seq for e in page.entries] == [1, 2] and page.head == h2
    assert await store.heads(mb, old, pad(old)) == Heads(2, 0, 0)
    # A capability hash used once can never come back.
    with pytest.raises(CapabilityReused):
        await store.append_entry(mb, new, 4, h3.hash, b"x", new_cap_hash=old, pad=pad(new),
                                 proof=proof(mb, 4, h3.hash, b"x", old))
    assert (await store.read_log(mb, new, 0, 10, BIG, pad(new))).head == h3


async def test_items_get_gapless_cursors_per_mailbox(store):
    a, ca = ids()
    b, cb = ids()
    await store.create_mailbox(a, ca, ADMIN.public.raw)
    await store.create_mailbox(b, cb, ADMIN.public.raw)
    assert await store.append_items(a, ca, [b"1", b"2", b"3"]) == (1, 3)
    assert await store.append_items(b, cb, [b"x"]) == (1, 1)
    assert await store.append_items(a, ca, [b"4"]) == (4, 4)
    page = await store.read_items(a, ca, 1, 2, BIG)
    assert page.items == [(2, b"2"), (3, b"3")] and page.head == 4
    with pytest.raises(Unauthorized):
        await store.read_items(a, cb, 0, 10, BIG)


async def test_read_pages_stop_at_max_bytes_but_return_at_least_one(store):
    mb, ch = ids()
    await store.create_mailbox(mb, ch, ADMIN.public.raw)
    await store.append_items(mb, ch, [b"a" * 100] * 5)
    assert [c for c, _ in (await store.read_items(mb, ch, 0, 10, 250)).items] == [1, 2]
    assert [c for c, _ in (await store.read_items(mb, ch, 0, 10, 10)).items] == [1]


async def test_drops(store):
    mb, ch = ids()
    drop, dch = ids()
    await store.create_mailbox(mb, ch, ADMIN.public.raw)
    await store.open_drop(mb, ch, drop, dch)
    with pytest.raises(Exists):
        await store.open_drop(mb, ch, drop, dch)
    assert await store.post_guest_message(drop, dch, b"hello", 2) == 1
    assert await store.post_member_message(mb, ch, drop, b"welcome") == 2
    assert await store.post_guest_message(drop, dch, b"thanks", 2) == 3
    with pytest.raises(GuestLimitReached):
        await store.post_guest_message(drop, dch, b"more", 2)
    assert await store.guest_message_count(drop, dch) == 2
    with pytest.raises(Unauthorized):
        await store.post_guest_message(drop, os.urandom(32), b"x", 2)
    page = await store.read_drop_messages(drop, dch, 1, 10, BIG)
    assert [(m.cursor, m.from_guest, m.message) for m in page.messages] == [
        (2, False, b"welcome"), (3, True, b"thanks")]
    assert page.head == 3
    all_msgs = await store.read_mailbox_messages(mb, ch, 0, 10, BIG)
    assert [m.drop for m in all_msgs.messages] == [drop] * 3 and all_msgs.head == 3
    assert await store.heads(mb, ch, pad(ch)) == Heads(0, 0, 3)
    await store.close_drop(mb, ch, drop)
    for call in (store.close_drop(mb, ch, drop), store.post_member_message(mb, ch, drop, b"x"),
                 store.post_guest_message(drop, dch, b"x", 99),
                 store.read_drop_messages(drop, dch, 0, 10, BIG)):
        with pytest.raises(DropNotFound):
            await call
    # Closed drops' messages stay readable by the members.
    assert len((await store.read_mailbox_messages(mb, ch, 0, 10, BIG)).messages) == 3


async def test_a_drop_belongs_to_one_mailbox(store):
    a, ca = ids()
    b, cb = ids()
    drop, dch = ids()
    await store.create_mailbox(a, ca, ADMIN.public.raw)
    await store.create_mailbox(b, cb, ADMIN.public.raw)
    await store.open_drop(a, ca, drop, dch)
    with pytest.raises(DropNotFound):
        await store.post_member_message(b, cb, drop, b"x")
    with pytest.raises(DropNotFound):
        await store.close_drop(b, cb, drop)


async def test_racing_appends_exactly_one_wins(store):
    mb, ch = ids()
    await store.create_mailbox(mb, ch, ADMIN.public.raw)
    head = await store.append_entry(mb, ch, 1, GENESIS_PREV, b"1")
    results = await asyncio.gather(
        *(store.append_entry(mb, ch, 2, head.hash, f"racer {i}".encode()) for i in range(50)),
        return_exceptions=True)
    winners = [r for r in results if isinstance(r, Head)]
    assert len(winners) == 1
    assert all(isinstance(r, LogConflict) and r.head == winners[0] for r in results
               if not isinstance(r, Head))


async def test_group_commit_keeps_cursors_gapless_under_concurrency(store):
    mb, ch = ids()
    await store.create_mailbox(mb, ch, ADMIN.public.raw)
    ranges = await asyncio.gather(*(store.append_items(mb, ch, [b"x"] * (1 + i % 3))
                                    for i in range(300)))
    cursors = sorted(c for first, last in ranges for c in range(first, last + 1))
    assert cursors == list(range(1, len(cursors) + 1))
    assert (await store.heads(mb, ch, pad(ch))).items == len(cursors)


async def test_a_refused_job_does_not_spoil_its_group(store, tmp_path):
    mb, ch = ids()
    await store.create_mailbox(mb, ch, ADMIN.public.raw)
    # Interleave valid appends with refused ones; all share transactions.
    jobs = []
    for i in range(100):
        jobs.append(store.append_items(mb, ch, [b"ok"]))
        jobs.append(store.append_items(mb, os.urandom(32), [b"bad"]))
    results = await asyncio.gather(*jobs, return_exceptions=True)
    assert sum(isinstance(r, Unauthorized) for r in results) == 100
    page = await store.read_items(mb, ch, 0, 1000, BIG)
    assert len(page.items) == 100 and {ct for _, ct in page.items} == {b"ok"}


async def test_state_survives_reopen_and_schema_is_versioned(tmp_path):
    path = tmp_path / "r.sqlite3"
    mb, ch = ids()
    async with SQLiteStorage(path) as s:
        await s.create_mailbox(mb, ch, ADMIN.public.raw)
        await s.append_items(mb, ch, [b"kept"])
    before = db_dump(path)
    async with SQLiteStorage(path) as s:  # opening again applies nothing twice
        assert (await s.read_items(mb, ch, 0, 10, BIG)).items == [(1, b"kept")]
    assert db_dump(path) == before
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(schema_scripts("sqlite"))
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_closed_storage_refuses_work(tmp_path):
    s = SQLiteStorage(tmp_path / "c.sqlite3")
    await s.open()
    await s.close()
    await s.close()  # idempotent
    with pytest.raises(RuntimeError):
        await s.heads(os.urandom(16), os.urandom(32), pad(os.urandom(32)))
    with pytest.raises(RuntimeError):
        await s.create_mailbox(os.urandom(16), os.urandom(32), ADMIN.public.raw)


async def test_open_reports_an_unusable_database(tmp_path):
    path = tmp_path / "not-a-db.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        await SQLiteStorage(path).open()


async def test_heads_of_unknown_mailbox_are_unauthorized(store):
    with pytest.raises(Unauthorized):
        await store.heads(os.urandom(16), os.urandom(32), pad(os.urandom(32)))
    assert EMPTY_HEAD == Head(0, bytes(32))


def test_database_urls():
    assert str(sqlite_path("sqlite:////var/lib/r.db")) == "/var/lib/r.db"
    assert str(sqlite_path("sqlite:///rel/r.db")) == "rel/r.db"
    for bad in ("sqlite:///", "sqlite:///:memory:", "sqlite:///file:x?mode=memory",
                "sqlite://host/x", "mysql://x"):
        with pytest.raises(ValueError):
            sqlite_path(bad)
    with pytest.raises(ValueError, match="PostgreSQL"):
        open_storage("postgresql://relay@db/relay")
    with pytest.raises(ValueError):
        open_storage("redis://x")
    with pytest.raises(ValueError):
        SQLiteStorage("x.db", synchronous="off")


def test_schema_files_split_into_statements():
    scripts = schema_scripts("sqlite")
    assert [v for v, _ in scripts] == list(range(1, len(scripts) + 1))
    statements = split_statements(scripts[0][1])
    assert all(s.rstrip().endswith(";") for s in statements)
    assert any(s.startswith("CREATE TABLE entries") for s in statements)
    assert split_statements("-- only a comment\nSELECT 1 -- trailing\n") == ["SELECT 1"]


async def test_an_unexpected_failure_fails_only_its_own_job(store):
    mb, ch = ids()
    await store.create_mailbox(mb, ch, ADMIN.public.raw)
    # The second item cannot be bound by SQLite: the job fails after its first insert.
    # Whether or not it shares a transaction with the good jobs, only it fails, and
    # nothing of it is kept.
    results = await asyncio.gather(
        store.append_items(mb, ch, [b"good 1"]),
        store.append_items(mb, ch, [b"half", object()]),  # type: ignore[list-item]
        store.append_items(mb, ch, [b"good 2"]),
        return_exceptions=True)
    assert isinstance(results[1], sqlite3.Error)
    assert sorted(r for r in results if isinstance(r, tuple)) == [(1, 1), (2, 2)]
    page = await store.read_items(mb, ch, 0, 10, BIG)
    assert sorted(ct for _, ct in page.items) == [b"good 1", b"good 2"] and page.head == 2
