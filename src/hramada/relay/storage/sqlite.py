"""SQLite backend: WAL, one writer thread with group commit, reader threads.

How it runs
-----------
* **One writer connection, owned by one thread.** Every write is a job on a queue.
  The writer takes all jobs waiting (up to :data:`MAX_GROUP` at a time), runs them
  in one ``BEGIN IMMEDIATE`` transaction and commits once. A job makes all its checks
  before its first write, so a refused job leaves no trace while its neighbours
  commit; should a job fail unexpectedly, the transaction is rolled back and each job
  of the group is run again alone, so that only the faulty one fails.
  Under load, one fsync is shared by many requests ("group commit"); alone, a job
  commits at once. Writes are therefore serialized, which is what makes "append at
  head + 1" and capability rotation atomic without any retry logic.
* **Readers** run on a small thread pool, each thread with its own connection, each
  read inside one snapshot (``BEGIN`` … ``COMMIT``); WAL lets them run while the
  writer writes.
* ``BEGIN IMMEDIATE`` takes SQLite's write lock before any check is made, so several
  relay processes may share one database file (each with its own writer);
  ``busy_timeout`` makes them queue for the lock.

Durability: ``synchronous=FULL`` by default, so a commit acknowledged to a client
survives power loss; a relay that forgot acknowledged log entries would look like a
rollback attack to its clients. ``normal`` is faster and only risks the last
commits on power loss (not on a process crash).
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat
from pathlib import Path
from typing import Any

from hramada.core.wire import entry_hash
from hramada.relay.storage import sqlite_mailbox as mb
from hramada.relay.storage import sqlite_pages as pg
from hramada.relay.storage.base import (
    AdminProof,
    DropMessage,
    DropNotFound,
    DropSealed,
    Exists,
    Grant,
    GuestLimitReached,
    Head,
    Heads,
    ItemsPage,
    LogPage,
    MessagesPage,
    Storage,
    StorageRefusal,
    Unauthorized,
    open_position,
)
from hramada.relay.storage.schema import schema_scripts, split_statements

MAX_GROUP = 256          # jobs committed together at most
READER_THREADS = 3
BUSY_TIMEOUT_MS = 10_000

# A job runs on the writer connection and returns (value, mailbox id that changed or None).
Job = Callable[..., tuple[Any, bytes | None]]


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///PATH`` URL (``sqlite:////abs`` or ``sqlite:///rel``)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError("a SQLite database URL looks like sqlite:///PATH")
    path = url[len(prefix):]
    if path == ":memory:" or path.startswith("file:") or "?" in path:
        raise ValueError("the relay needs a database file (sqlite:///PATH), not a memory or URI database")
    return Path(path)


class SQLiteStorage(Storage):
    """The relay's state in one SQLite file (plus its ``-wal`` and ``-shm`` files)."""

    def __init__(self, path: str | Path, *, synchronous: str = "full") -> None:
        if synchronous not in ("full", "normal"):
            raise ValueError("synchronous must be 'full' or 'normal'")
        super().__init__()
        self.path = Path(path)
        self._synchronous = synchronous.upper()
        self._jobs: queue.SimpleQueue[tuple | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._open = False

    def __repr__(self) -> str:
        return f"SQLiteStorage({str(self.path)!r})"

    # -- lifecycle -----------------------------------------------------------------

    async def open(self) -> None:
        if self._open:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        loop = asyncio.get_running_loop()
        self._writer = threading.Thread(target=self._write_loop, args=(loop, ready),
                                        name="hramada-relay-writer", daemon=True)
        self._writer.start()
        await ready  # schema applied, or the error that stopped it
        self._readers = ThreadPoolExecutor(max_workers=READER_THREADS,
                                           thread_name_prefix="hramada-relay-reader",
                                           initializer=self._start_reader)
        self._open = True

    async def close(self) -> None:
        if not self._open:
            return
        self._open = False
        self._jobs.put(None)
        if self._writer is not None:
            await asyncio.to_thread(self._writer.join)
        if self._readers is not None:
            await asyncio.to_thread(self._readers.shutdown, True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               cached_statements=64)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        return conn

    # -- the writer ----------------------------------------------------------------

    def _open_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise RuntimeError(f"cannot put {self.path} in WAL mode")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.execute("PRAGMA journal_size_limit = 67108864")
        self._migrate(conn)
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        for version, script in schema_scripts("sqlite"):
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute("PRAGMA user_version").fetchone()[0] < version:
                    for statement in split_statements(script):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {version}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _write_loop(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        try:
            conn = self._open_writer()
        except BaseException as exc:  # report to open(), then end the thread
            loop.call_soon_threadsafe(_settle_ready, ready, exc)
            return
        loop.call_soon_threadsafe(_settle_ready, ready, None)
        try:
            stopping = False
            while not stopping:
                first = self._jobs.get()
                if first is None:
                    break
                group = [first]
                stopping = self._drain(group)
                self._run_group(conn, group)
        finally:
            conn.close()

    def _drain(self, group: list[tuple]) -> bool:
        """Add waiting jobs to ``group``; True if the stop sentinel was among them."""
        while len(group) < MAX_GROUP:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return False
            if job is None:
                return True
            group.append(job)
        return False

    def _run_group(self, conn: sqlite3.Connection, group: list[tuple]) -> None:
        try:
            outcomes = _transaction(conn, group)
        except Exception as exc:
            if len(group) == 1:
                outcomes = [(False, exc, None)]
            else:  # find the culprit: run each job alone, so only it fails
                outcomes = []
                for job in group:
                    try:
                        outcomes += _transaction(conn, [job])
                    except Exception as alone:
                        outcomes.append((False, alone, None))
        by_loop: dict[asyncio.AbstractEventLoop, list] = {}
        for (_fn, _args, future, loop), outcome in zip(group, outcomes):
            by_loop.setdefault(loop, []).append((future, outcome))
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(self._deliver, settled)
            except RuntimeError:  # that event loop is gone; nobody waits for these
                pass

    def _deliver(self, settled: list) -> None:
        for future, (ok, value, changed) in settled:
            if ok and changed is not None:
                self._changed(changed)
            if future.cancelled():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _write(self, fn: Job, *args: Any) -> asyncio.Future:
        if not self._open:
            raise RuntimeError("storage is not open")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._jobs.put((fn, args, future, loop))
        return future

    # -- readers -------------------------------------------------------------------

    def _start_reader(self) -> None:
        conn = self._connect()
        conn.execute("PRAGMA query_only = ON")
        self._local.conn = conn
        with self._reader_lock:
            self._reader_conns.append(conn)

    def _run_read(self, fn: Callable[..., Any], args: tuple) -> Any:
        conn: sqlite3.Connection = self._local.conn
        conn.execute("BEGIN")
        try:
            return fn(conn, *args)
        finally:
            conn.execute("COMMIT")

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        if not self._open or self._readers is None:
            raise RuntimeError("storage is not open")
        return await asyncio.get_running_loop().run_in_executor(
            self._readers, self._run_read, fn, args)

    # -- the interface -------------------------------------------------------------

    async def create_mailbox(self, mailbox: bytes, cap_hash: bytes, admin: bytes) -> None:
        await self._write(mb.create_mailbox, mailbox, cap_hash, admin)

    async def lookup_cap(self, mailbox: bytes, cap_hash: bytes, pad: bytes) -> Grant:
        row = await self._read(mb.auth, mailbox, cap_hash)
        return Grant(None if row[1] is None else open_position(row[1], pad))

    async def append_entry(self, mailbox: bytes, cap_hash: bytes, seq: int, prev: bytes,
                           ciphertext: bytes, new_cap_hash: bytes | None = None,
                           pad: bytes | None = None, admins: list[bytes] | None = None,
                           proof: AdminProof | None = None, pages: list[bytes] | None = None) -> Head:
        if new_cap_hash is not None and pad is None:
            raise ValueError("a rotation needs the pad of the capability it retires")
        digest = entry_hash(mailbox, seq, prev, ciphertext)
        return await self._write(mb.append_entry, mailbox, cap_hash, seq, prev, ciphertext,
                                 digest, new_cap_hash, pad, admins, proof, pages)

    async def put_page(self, mailbox: bytes, cap_hash: bytes, digest: bytes, page: bytes,
                       max_pending_bytes: int) -> bool:
        return await self._write(pg.put_page, mailbox, cap_hash, digest, page, max_pending_bytes)

    async def get_page(self, mailbox: bytes, cap_hash: bytes, digest: bytes) -> bytes:
        return await self._read(pg.get_page, mailbox, cap_hash, digest)

    async def read_log(self, mailbox: bytes, cap_hash: bytes, after: int, limit: int,
                       max_bytes: int, pad: bytes) -> LogPage:
        return await self._read(mb.read_log, mailbox, cap_hash, after, limit, max_bytes, pad)

    async def append_items(self, mailbox: bytes, cap_hash: bytes,
                           items: list[bytes]) -> tuple[int, int]:
        if not items:
            raise ValueError("append at least one item")
        return await self._write(_append_items, mailbox, cap_hash, items)

    async def read_items(self, mailbox: bytes, cap_hash: bytes, after: int, limit: int,
                         max_bytes: int) -> ItemsPage:
        return await self._read(_read_items, mailbox, cap_hash, after, limit, max_bytes)

    async def open_drop(self, mailbox: bytes, cap_hash: bytes, drop: bytes,
                        drop_cap_hash: bytes, expires: int = 0) -> None:
        await self._write(_open_drop, mailbox, cap_hash, drop, drop_cap_hash, expires)

    async def close_drop(self, mailbox: bytes, cap_hash: bytes, drop: bytes) -> None:
        await self._write(_close_drop, mailbox, cap_hash, drop)

    async def mark_drop_used(self, mailbox: bytes, cap_hash: bytes, drop: bytes) -> None:
        await self._write(_mark_drop_used, mailbox, cap_hash, drop)

    async def post_member_message(self, mailbox: bytes, cap_hash: bytes, drop: bytes,
                                  message: bytes) -> int:
        return await self._write(_post_member_message, mailbox, cap_hash, drop, message)

    async def post_guest_message(self, drop: bytes, drop_cap_hash: bytes, message: bytes,
                                 max_guest_messages: int, now: int = 0) -> int:
        return await self._write(_post_guest_message, drop, drop_cap_hash, message,
                                 max_guest_messages, now)

    async def guest_message_count(self, drop: bytes, drop_cap_hash: bytes) -> int:
        return await self._read(_guest_message_count, drop, drop_cap_hash)

    async def read_mailbox_messages(self, mailbox: bytes, cap_hash: bytes, after: int,
                                    limit: int, max_bytes: int) -> MessagesPage:
        return await self._read(_read_mailbox_messages, mailbox, cap_hash, after, limit,
                                max_bytes)

    async def read_drop_messages(self, drop: bytes, drop_cap_hash: bytes, after: int,
                                 limit: int, max_bytes: int) -> MessagesPage:
        return await self._read(_read_drop_messages, drop, drop_cap_hash, after, limit,
                                max_bytes)

    async def heads(self, mailbox: bytes, cap_hash: bytes, pad: bytes) -> Heads:
        return await self._read(mb.heads, mailbox, cap_hash, pad)


def _transaction(conn: sqlite3.Connection, group: list[tuple]) -> list[tuple[bool, Any, bytes | None]]:
    """Run jobs in one transaction. A job that raises a :class:`StorageRefusal` before
    writing anything is refused alone; any other failure (or a refusal after a write)
    rolls the whole transaction back and is raised."""
    outcomes: list[tuple[bool, Any, bytes | None]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for fn, args, _future, _loop in group:
            before = conn.total_changes
            try:
                value, changed = fn(conn, *args)
            except StorageRefusal as refusal:
                if conn.total_changes != before:
                    raise RuntimeError("a storage job refused after writing") from refusal
                outcomes.append((False, refusal, None))
            else:
                outcomes.append((True, value, changed))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return outcomes


def _settle_ready(ready: asyncio.Future[None], exc: BaseException | None) -> None:
    if ready.cancelled():
        return
    if exc is None:
        ready.set_result(None)
    else:
        ready.set_exception(exc)


# -- jobs and reads: plain functions of a connection ------------------------------
# Mailboxes, capabilities, admin sets and the log are in ``sqlite_mailbox``.

def _append_items(conn: sqlite3.Connection, mailbox: bytes, cap_hash: bytes,
                  items: list[bytes]) -> tuple:
    row = mb.current(conn, mailbox, cap_hash)
    mid, head = row[0], row[4]
    first, last = head + 1, head + len(items)
    conn.executemany("INSERT INTO items (mid, cursor, ciphertext) VALUES (?, ?, ?)",
                     zip(repeat(mid), range(first, last + 1), items))
    conn.execute("UPDATE mailboxes SET item_head = ? WHERE mid = ?", (last, mid))
    return (first, last), mailbox


def _read_items(conn: sqlite3.Connection, mailbox: bytes, cap_hash: bytes, after: int,
                limit: int, max_bytes: int) -> ItemsPage:
    row = mb.current(conn, mailbox, cap_hash)
    mid, head = row[0], row[4]
    items: list[tuple[int, bytes]] = []
    total = 0
    rows = conn.execute("SELECT cursor, ciphertext FROM items WHERE mid = ? AND cursor > ? "
                        "ORDER BY cursor LIMIT ?", (mid, after, limit))
    for row in rows:
        total += len(row[1])
        if items and total > max_bytes:
            break
        items.append(row)
    return ItemsPage(items, head)


def _open_drop(conn: sqlite3.Connection, mailbox: bytes, cap_hash: bytes, drop: bytes,
               drop_cap_hash: bytes, expires: int) -> tuple:
    mid = mb.current(conn, mailbox, cap_hash)[0]
    if conn.execute("SELECT 1 FROM drops WHERE id = ?", (drop,)).fetchone():
        raise Exists("drop id already taken")
    conn.execute("INSERT INTO drops (id, mid, cap_hash, expires) VALUES (?, ?, ?, ?)",
                 (drop, mid, drop_cap_hash, expires))
    return None, mailbox


def _open_drop_of(conn: sqlite3.Connection, mid: int, drop: bytes) -> None:
    row = conn.execute("SELECT closed FROM drops WHERE id = ? AND mid = ?", (drop, mid)).fetchone()
    if row is None or row[0]:
        raise DropNotFound("no such open drop in this mailbox")


def _close_drop(conn: sqlite3.Connection, mailbox: bytes, cap_hash: bytes, drop: bytes) -> tuple:
    mid = mb.current(conn, mailbox, cap_hash)[0]
    _open_drop_of(conn, mid, drop)
    conn.execute("UPDATE drops SET closed = 1 WHERE id = ?", (drop,))
    return None, mailbox


def _mark_drop_used(conn: sqlite3.Connection, mailbox: bytes, cap_hash: bytes, drop: bytes) -> tuple:
    mid = mb.current(conn, mailbox, cap_hash)[0]
    _open_drop_of(conn, mid, drop)
    conn.execute("UPDATE drops SET used = 1 WHERE id = ?", (drop,))
    return None, mailbox


def _insert_message(conn: sqlite3.Connection, mid: int, cursor: int, drop: bytes,
                    from_guest: bool, message: bytes) -> None:
    conn.execute("INSERT INTO drop_messages (mid, cursor, drop_id, from_guest, message) "
                 "VALUES (?, ?, ?, ?, ?)", (mid, cursor, drop, int(from_guest), message))
    conn.execute("UPDATE mailboxes SET drop_head = ? WHERE mid = ?", (cursor, mid))


def _post_member_message(conn: sqlite3.Connection, mailbox: bytes, cap_hash: bytes,
                         drop: bytes, message: bytes) -> tuple:
    row = mb.current(conn, mailbox, cap_hash)
    mid, cursor = row[0], row[5] + 1
    _open_drop_of(conn, mid, drop)
    _insert_message(conn, mid, cursor, drop, False, message)
    return cursor, mailbox


def _guest_drop(conn: sqlite3.Connection, drop: bytes, drop_cap_hash: bytes) -> tuple:
    row = conn.execute(
        "SELECT d.mid, d.closed, d.guest_messages, m.drop_head, m.id FROM drops d "
        "JOIN mailboxes m ON m.mid = d.mid WHERE d.id = ? AND d.cap_hash = ?",
        (drop, drop_cap_hash)).fetchone()
    if row is None:
        raise Unauthorized("unknown drop or capability")
    if row[1]:
        raise DropNotFound("this drop is closed")
    return row


def _post_guest_message(conn: sqlite3.Connection, drop: bytes, drop_cap_hash: bytes,
                        message: bytes, max_guest_messages: int, now: int) -> tuple:
    mid, _, count, head, mailbox = _guest_drop(conn, drop, drop_cap_hash)
    used, expires = conn.execute("SELECT used, expires FROM drops WHERE id = ?", (drop,)).fetchone()
    if used:
        raise DropSealed("used")
    if expires and now >= expires:
        raise DropSealed("expired")
    if count >= max_guest_messages:
        raise GuestLimitReached(f"a drop takes at most {max_guest_messages} guest messages")
    conn.execute("UPDATE drops SET guest_messages = guest_messages + 1 WHERE id = ?", (drop,))
    _insert_message(conn, mid, head + 1, drop, True, message)
    return head + 1, mailbox


def _guest_message_count(conn: sqlite3.Connection, drop: bytes, drop_cap_hash: bytes) -> int:
    return _guest_drop(conn, drop, drop_cap_hash)[2]


def _page(rows: Any, max_bytes: int, make: Callable[..., DropMessage]) -> list[DropMessage]:
    out: list[DropMessage] = []
    total = 0
    for row in rows:
        total += len(row[-1])
        if out and total > max_bytes:
            break
        out.append(make(*row))
    return out


def _read_mailbox_messages(conn: sqlite3.Connection, mailbox: bytes, cap_hash: bytes,
                           after: int, limit: int, max_bytes: int) -> MessagesPage:
    row = mb.current(conn, mailbox, cap_hash)
    rows = conn.execute(
        "SELECT cursor, drop_id, from_guest, message FROM drop_messages "
        "WHERE mid = ? AND cursor > ? ORDER BY cursor LIMIT ?", (row[0], after, limit))
    return MessagesPage(_page(rows, max_bytes, lambda c, d, g, m: DropMessage(c, d, bool(g), m)),
                        row[5])


def _read_drop_messages(conn: sqlite3.Connection, drop: bytes, drop_cap_hash: bytes,
                        after: int, limit: int, max_bytes: int) -> MessagesPage:
    _guest_drop(conn, drop, drop_cap_hash)
    rows = conn.execute(
        "SELECT cursor, from_guest, message FROM drop_messages "
        "WHERE drop_id = ? AND cursor > ? ORDER BY cursor LIMIT ?", (drop, after, limit))
    messages = _page(rows, max_bytes, lambda c, g, m: DropMessage(c, drop, bool(g), m))
    head = conn.execute("SELECT MAX(cursor) FROM drop_messages WHERE drop_id = ?",
                        (drop,)).fetchone()[0]
    return MessagesPage(messages, head or 0)
