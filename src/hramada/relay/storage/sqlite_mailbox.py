"""SQLite jobs and reads for mailboxes: capabilities, admin sets and the log.

Plain functions of a connection, run by :class:`hramada.relay.storage.sqlite.SQLiteStorage`
on its writer thread (jobs, returning ``(value, changed mailbox)``) or a reader thread.
A job makes every check before its first write, so a refused job changes nothing.

A capability hash is looked up by (mailbox, cap_hash) in SQL. The comparison is not
constant-time, but it compares hashes of secrets, which tell an observer nothing.
"""

from __future__ import annotations

import secrets
import sqlite3

from hramada.relay.storage.base import (
    EMPTY_HEAD,
    AdminProof,
    CapabilityReused,
    Entry,
    Exists,
    Head,
    Heads,
    LogConflict,
    LogPage,
    PagesMissing,
    RetiredCapability,
    Unauthorized,
    admin_refusal,
    open_position,
    seal_position,
)

_AUTH = ("SELECT m.mid, c.retired, m.log_seq, m.log_hash, m.item_head, m.drop_head "
         "FROM mailboxes m JOIN caps c ON c.mid = m.mid WHERE m.id = ? AND c.cap_hash = ?")


def auth(conn: sqlite3.Connection, mailbox: bytes, cap_hash: bytes) -> tuple:
    """``(mid, retired, log_seq, log_hash, item_head, drop_head)`` of a mailbox for a
    capability of it (current or retired); :class:`Unauthorized` otherwise."""
    row = conn.execute(_AUTH, (mailbox, cap_hash)).fetchone()
    if row is None:
        raise Unauthorized("unknown mailbox or capability")
    return row


def current(conn: sqlite3.Connection, mailbox: bytes, cap_hash: bytes) -> tuple:
    """As :func:`auth`, for the mailbox's current capability only."""
    row = auth(conn, mailbox, cap_hash)
    if row[1] is not None:
        raise RetiredCapability("capability retired by a rotation")
    return row


def create_mailbox(conn: sqlite3.Connection, mailbox: bytes, cap_hash: bytes, admin: bytes) -> tuple:
    if conn.execute("SELECT 1 FROM mailboxes WHERE id = ?", (mailbox,)).fetchone():
        raise Exists("mailbox id already taken")
    mid = secrets.randbits(62) + 1  # random, so that no key counts mailboxes in creation order
    while conn.execute("SELECT 1 FROM mailboxes WHERE mid = ?", (mid,)).fetchone():
        mid = secrets.randbits(62) + 1
    conn.execute("INSERT INTO mailboxes (mid, id, log_hash) VALUES (?, ?, ?)",
                 (mid, mailbox, EMPTY_HEAD.hash))
    conn.execute("INSERT INTO caps (mid, cap_hash) VALUES (?, ?)", (mid, cap_hash))
    conn.execute("INSERT INTO admins (mid, key) VALUES (?, ?)", (mid, admin))
    return None, mailbox


def admin_set(conn: sqlite3.Connection, mid: int) -> set[bytes]:
    return {row[0] for row in conn.execute("SELECT key FROM admins WHERE mid = ?", (mid,))}


def append_entry(conn: sqlite3.Connection, mailbox: bytes, cap_hash: bytes, seq: int,
                 prev: bytes, ciphertext: bytes, digest: bytes, new_cap_hash: bytes | None,
                 pad: bytes | None, admins: list[bytes] | None, proof: AdminProof | None,
                 pages: list[bytes] | None = None) -> tuple:
    mid, _, head_seq, head_hash, _, _ = current(conn, mailbox, cap_hash)
    if new_cap_hash is not None or admins is not None:
        refusal = admin_refusal(proof, admin_set(conn, mid), mailbox, seq, prev, ciphertext,
                                new_cap_hash, admins)
        if refusal is not None:
            raise refusal
    if seq != head_seq + 1 or prev != head_hash:
        raise LogConflict(Head(head_seq, head_hash))
    if pages:
        missing = [d for d in pages if conn.execute(
            "SELECT 1 FROM pages WHERE mid = ? AND digest = ?", (mid, d)).fetchone() is None]
        if missing:
            raise PagesMissing(missing)
    if new_cap_hash is not None and conn.execute(
            "SELECT 1 FROM caps WHERE mid = ? AND cap_hash = ?", (mid, new_cap_hash)).fetchone():
        raise CapabilityReused("new_cap_hash was already a capability of this mailbox")
    conn.execute("INSERT INTO entries (mid, seq, prev, hash, ciphertext) VALUES (?, ?, ?, ?, ?)",
                 (mid, seq, prev, digest, ciphertext))
    conn.execute("UPDATE mailboxes SET log_seq = ?, log_hash = ? WHERE mid = ?", (seq, digest, mid))
    if pages:
        conn.executemany("UPDATE pages SET pending = 0 WHERE mid = ? AND digest = ?",
                         [(mid, d) for d in pages])
    if new_cap_hash is not None:
        # The presented capability is the mailbox's one current capability.
        conn.execute("UPDATE caps SET retired = ? WHERE mid = ? AND cap_hash = ?",
                     (seal_position(seq, pad), mid, cap_hash))
        conn.execute("INSERT INTO caps (mid, cap_hash) VALUES (?, ?)", (mid, new_cap_hash))
        conn.execute("DELETE FROM pages WHERE mid = ? AND pending = 1", (mid,))  # abandoned uploads
    if admins is not None:
        conn.execute("DELETE FROM admins WHERE mid = ?", (mid,))
        conn.executemany("INSERT INTO admins (mid, key) VALUES (?, ?)", [(mid, k) for k in admins])
    return Head(seq, digest), mailbox


def read_log(conn: sqlite3.Connection, mailbox: bytes, cap_hash: bytes, after: int,
             limit: int, max_bytes: int, pad: bytes) -> LogPage:
    mid, retired, head_seq, head_hash, _, _ = auth(conn, mailbox, cap_hash)
    retired_at = None if retired is None else open_position(retired, pad)
    if retired_at is not None and retired_at < head_seq:
        head_seq = retired_at
        head_hash = conn.execute("SELECT hash FROM entries WHERE mid = ? AND seq = ?",
                                 (mid, retired_at)).fetchone()[0]
    entries: list[Entry] = []
    total = 0
    rows = conn.execute(
        "SELECT seq, prev, ciphertext, hash FROM entries WHERE mid = ? AND seq > ? AND seq <= ? "
        "ORDER BY seq LIMIT ?", (mid, after, head_seq, limit))
    for seq, prev, ciphertext, digest in rows:
        total += len(ciphertext)
        if entries and total > max_bytes:
            break
        entries.append(Entry(seq, prev, ciphertext, digest))
    return LogPage(entries, Head(head_seq, head_hash))


def heads(conn: sqlite3.Connection, mailbox: bytes, cap_hash: bytes, pad: bytes) -> Heads:
    _, retired, log_seq, _, item_head, drop_head = auth(conn, mailbox, cap_hash)
    if retired is not None:
        return Heads(min(log_seq, open_position(retired, pad)), 0, 0)
    return Heads(log_seq, item_head, drop_head)
