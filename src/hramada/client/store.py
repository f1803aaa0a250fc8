"""The local database: SQLite in which every stored value is encrypted.

Rows are addressed by small integers (a local group number, a log position, the last
item cursor of a page of items); every value is
``nonce || XChaCha20-Poly1305(store key, CBOR(value))`` with the table and row bound in
as associated data, so a value cannot be moved to another row unnoticed. Nothing in
the file is readable without the keystore. (Values are authenticated by the AEAD under
this profile's own key, so they are read back with plain CBOR, not the strict
canonical decoder that guards data from others.)

All writes of one operation happen in one transaction (:meth:`Store.transaction`),
so the state and the outgoing queue are always committed together.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import cbor2
import nacl.utils

from hramada.core import crypto
from hramada.core.encoding import encode
from hramada.errors import DecryptionError, ProfileError

SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (ref INTEGER PRIMARY KEY, blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS log (ref INTEGER NOT NULL, seq INTEGER NOT NULL, blob BLOB NOT NULL,
                                PRIMARY KEY (ref, seq));
CREATE TABLE IF NOT EXISTS items (ref INTEGER NOT NULL, page INTEGER NOT NULL, blob BLOB NOT NULL,
                                  PRIMARY KEY (ref, page));
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, ref INTEGER NOT NULL, blob BLOB NOT NULL);
"""


class Store:
    def __init__(self, path: Path, key: bytes) -> None:
        self._key = key
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA secure_delete=ON")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ProfileError(f"the local database could not be opened: {exc}") from None
        self._depth = 0

    def close(self) -> None:
        self._db.close()

    # -- sealing ------------------------------------------------------------------

    def _seal(self, table: str, row: tuple, value: Any) -> bytes:
        nonce = nacl.utils.random(crypto.NONCE_BYTES)
        return nonce + crypto.encrypt(self._key, nonce, cbor2.dumps(value), encode([table, list(row)]))

    def _open(self, table: str, row: tuple, blob: bytes) -> Any:
        try:
            return cbor2.loads(crypto.decrypt(self._key, blob[:crypto.NONCE_BYTES],
                                              blob[crypto.NONCE_BYTES:], encode([table, list(row)])))
        except (DecryptionError, cbor2.CBORDecodeError):
            raise ProfileError(f"the local database is damaged ({table} {row})") from None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic write; nests (only the outermost commits)."""
        if self._depth == 0:
            self._db.execute("BEGIN IMMEDIATE")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("ROLLBACK")
            raise
        self._depth -= 1
        if self._depth == 0:
            self._db.execute("COMMIT")

    # -- groups -------------------------------------------------------------------

    def groups(self) -> list[tuple[int, dict]]:
        rows = self._db.execute("SELECT ref, blob FROM groups ORDER BY ref").fetchall()
        return [(ref, self._open("groups", (ref,), blob)) for ref, blob in rows]

    def group(self, ref: int) -> dict:
        row = self._db.execute("SELECT blob FROM groups WHERE ref = ?", (ref,)).fetchone()
        if row is None:
            raise ProfileError(f"local group {ref} is missing")
        return self._open("groups", (ref,), row[0])

    def add_group(self, record: dict) -> int:
        with self.transaction():
            ref = self._db.execute("SELECT COALESCE(MAX(ref), 0) + 1 FROM groups").fetchone()[0]
            self._db.execute("INSERT INTO groups (ref, blob) VALUES (?, ?)",
                             (ref, self._seal("groups", (ref,), record)))
        return ref

    def put_group(self, ref: int, record: dict) -> None:
        self._db.execute("UPDATE groups SET blob = ? WHERE ref = ?",
                         (self._seal("groups", (ref,), record), ref))

    def delete_group(self, ref: int) -> None:
        with self.transaction():
            for table in ("groups", "log", "items", "outbox"):
                self._db.execute(f"DELETE FROM {table} WHERE ref = ?", (ref,))

    # -- log ----------------------------------------------------------------------

    def log(self, ref: int) -> list[tuple[int, bytes, bytes]]:
        rows = self._db.execute("SELECT seq, blob FROM log WHERE ref = ? ORDER BY seq", (ref,)).fetchall()
        out = []
        for seq, blob in rows:
            prev, ciphertext = self._open("log", (ref, seq), blob)
            out.append((seq, prev, ciphertext))
        return out

    def add_log(self, ref: int, seq: int, prev: bytes, ciphertext: bytes) -> None:
        self._db.execute("INSERT INTO log (ref, seq, blob) VALUES (?, ?, ?)",
                         (ref, seq, self._seal("log", (ref, seq), [prev, ciphertext])))

    # -- items --------------------------------------------------------------------

    def items(self, ref: int) -> list[tuple[int, dict]]:
        """Every stored item of a group as (cursor, record), in cursor order."""
        rows = self._db.execute("SELECT page, blob FROM items WHERE ref = ? ORDER BY page",
                                (ref,)).fetchall()
        out: list[tuple[int, dict]] = []
        for page, blob in rows:
            out.extend((c, v) for c, v in self._open("items", (ref, page), blob))
        return out

    def add_items(self, ref: int, items: list[tuple[int, dict]]) -> None:
        """Store a page of verified items (cursors ascending) as one encrypted value."""
        if not items:
            return
        page = items[-1][0]
        self._db.execute("INSERT INTO items (ref, page, blob) VALUES (?, ?, ?)",
                         (ref, page, self._seal("items", (ref, page), [[c, v] for c, v in items])))

    # -- outbox -------------------------------------------------------------------

    def outbox(self, ref: int) -> list[tuple[int, dict]]:
        rows = self._db.execute("SELECT id, blob FROM outbox WHERE ref = ? ORDER BY id", (ref,)).fetchall()
        return [(i, self._open("outbox", (ref, i), blob)) for i, blob in rows]

    def add_outbox(self, ref: int, value: dict) -> int:
        with self.transaction():
            i = self._db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM outbox").fetchone()[0]
            self._db.execute("INSERT INTO outbox (id, ref, blob) VALUES (?, ?, ?)",
                             (i, ref, self._seal("outbox", (ref, i), value)))
        return i

    def done_outbox(self, i: int) -> None:
        self._db.execute("DELETE FROM outbox WHERE id = ?", (i,))
