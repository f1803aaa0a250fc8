"""SQLite jobs and reads for key-block pages (``relay-api-v1.md``, "Key-block pages").

A page is stored per mailbox under its digest, pending until an append names it
(``sqlite_mailbox.append_entry``); a rotation drops the pages still pending. Plain
functions of a connection, as in ``sqlite_mailbox``.
"""

from __future__ import annotations

import sqlite3

from hramada.relay.storage import sqlite_mailbox as mb
from hramada.relay.storage.base import PageNotFound, PendingPagesFull


def put_page(conn: sqlite3.Connection, mailbox: bytes, cap_hash: bytes, digest: bytes, page: bytes,
             max_pending_bytes: int) -> tuple:
    mid = mb.current(conn, mailbox, cap_hash)[0]
    if conn.execute("SELECT 1 FROM pages WHERE mid = ? AND digest = ?", (mid, digest)).fetchone():
        return False, None
    pending = conn.execute("SELECT COALESCE(SUM(LENGTH(page)), 0) FROM pages WHERE mid = ? AND pending = 1",
                           (mid,)).fetchone()[0]
    if pending + len(page) > max_pending_bytes:
        raise PendingPagesFull(f"a mailbox holds at most {max_pending_bytes} bytes of pages no entry "
                               "names yet")
    conn.execute("INSERT INTO pages (mid, digest, pending, page) VALUES (?, ?, 1, ?)",
                 (mid, digest, page))
    return True, None  # no reader waits for pages: nothing to wake


def get_page(conn: sqlite3.Connection, mailbox: bytes, cap_hash: bytes, digest: bytes) -> bytes:
    mid = mb.auth(conn, mailbox, cap_hash)[0]
    row = conn.execute("SELECT page FROM pages WHERE mid = ? AND digest = ?", (mid, digest)).fetchone()
    if row is None:
        raise PageNotFound("no such page in this mailbox")
    return row[0]
