"""The local database: one SQLite table of opaque, equal-looking rows.

A seized, locked device must not tell which mailbox of a seized relay it belongs to.
So the file holds nothing that can be matched against the relay's database:

* **One table** ``rows(id, blob)``, ``WITHOUT ROWID`` (no insertion counter). A row's
  id is a keyed BLAKE2b of what it holds (``["group", 3]``, ``["chunk", 3, "log", 17]``)
  under a key derived from the store key: without the keystore the ids are random
  16-byte strings in random order — no group numbers, no log positions, no item
  cursors, no table names.
* **Streams, not rows per entry.** The log and the items of a group are each an
  append-only byte stream (frames of CBOR) cut into chunks of exactly ``CHUNK`` bytes;
  the partial last chunk lives in the stream's head row. The number and sizes of log
  entries or items never show: only how many 4 KiB chunks all of a group's data fills.
* **Padded values.** Every value is framed and padded before sealing: to ``ROW`` bytes
  (4 KiB), or to the next power of two above it. Every stream row, every small group
  record and every small outgoing queue is exactly one ``ROW``.

Every value is ``nonce || XChaCha20-Poly1305(seal key, frame || padding)`` with the row
id as associated data, so a value cannot be moved to another row unnoticed.

What the file still shows (``docs/threat-model.md``, C rows): the total number of
rows, hence the volume of everything the profile holds to within 4 KiB, and the
SQLite page layout. Freed pages are not zeroed (``secure_delete=FAST``): they hold
only old ciphertexts of the same padded sizes, and ``panic`` overwrites the file. Values are authenticated under this profile's own key, so they
are read back with plain CBOR, not the strict canonical decoder that guards data from
others.

All writes of one operation happen in one transaction (:meth:`Store.transaction`);
:mod:`hramada.client.journal` is the only writer of group state and outgoing messages.
"""

from __future__ import annotations

import sqlite3
import struct
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import cbor2
import nacl.utils

from hramada.core import crypto
from hramada.errors import DecryptionError, ProfileError

SCHEMA = "CREATE TABLE IF NOT EXISTS rows (id BLOB PRIMARY KEY, blob BLOB NOT NULL) WITHOUT ROWID"
ROW = 4 * 1024             # the smallest padded value; every stream chunk is exactly this
FRAME = 4                  # length prefix of a padded value
CHUNK = ROW - 64           # stream bytes per chunk (room for the head row's framing)
_LEN = struct.Struct(">I")


def _bucket(n: int) -> int:
    """The padded size of an ``n``-byte value: ``ROW``, or the next power of two."""
    size = ROW
    while size < n:
        size *= 2
    return size


class Store:
    def __init__(self, path: Path, key: bytes) -> None:
        self._seal_key = crypto.derive_key(key, "hramada:v1:store-seal")
        self._id_key = crypto.derive_key(key, "hramada:v1:store-ids")
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA secure_delete=FAST")
            self._db.execute(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ProfileError(f"the local database could not be opened: {exc}") from None
        self._depth = 0
        self._ids: dict[tuple, bytes] = {}
        self.directory_changes = 0  # groups added or deleted through this connection

    def close(self) -> None:
        self._db.close()

    # -- rows -----------------------------------------------------------------------

    def _id(self, *what: object) -> bytes:
        rid = self._ids.get(what)
        if rid is None:
            rid = crypto.keyed_hash(self._id_key, "hramada:v1:store-row", cbor2.dumps(list(what)), 16)
            if len(self._ids) < 4096:
                self._ids[what] = rid
        return rid

    def _get(self, *what: object) -> Any:
        rid = self._id(*what)
        row = self._db.execute("SELECT blob FROM rows WHERE id = ?", (rid,)).fetchone()
        if row is None:
            return None
        blob = row[0]
        try:
            plain = crypto.decrypt(self._seal_key, blob[:crypto.NONCE_BYTES], blob[crypto.NONCE_BYTES:], rid)
            (n,) = _LEN.unpack_from(plain)
            return cbor2.loads(plain[FRAME:FRAME + n])
        except (DecryptionError, cbor2.CBORDecodeError, struct.error, ValueError):
            raise ProfileError(f"the local database is damaged ({what[0]} row)") from None

    def _put(self, value: Any, *what: object) -> None:
        rid = self._id(*what)
        raw = cbor2.dumps(value)
        framed = _LEN.pack(len(raw)) + raw
        plain = framed + bytes(_bucket(len(framed)) - len(framed))
        nonce = nacl.utils.random(crypto.NONCE_BYTES)
        self._db.execute("INSERT OR REPLACE INTO rows (id, blob) VALUES (?, ?)",
                         (rid, nonce + crypto.encrypt(self._seal_key, nonce, plain, rid)))

    def _delete(self, *what: object) -> None:
        self._db.execute("DELETE FROM rows WHERE id = ?", (self._id(*what),))

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def data_version(self) -> int:
        """Changes whenever another connection (another process) commits."""
        return self._db.execute("PRAGMA data_version").fetchone()[0]

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

    def _directory(self) -> dict:
        return self._get("directory") or {"next": 1, "refs": []}

    def groups(self) -> list[tuple[int, dict]]:
        return [(ref, self.group(ref)) for ref in self._directory()["refs"]]

    def group(self, ref: int) -> dict:
        record = self._get("group", ref)
        if record is None:
            raise ProfileError(f"local group {ref} is missing")
        return record

    def add_group(self, record: dict) -> int:
        with self.transaction():
            directory = self._directory()
            ref = directory["next"]
            directory["next"] += 1
            directory["refs"].append(ref)
            self._put(directory, "directory")
            self._put(record, "group", ref)
            self.directory_changes += 1
        return ref

    def put_group(self, ref: int, record: dict) -> None:
        self._put(record, "group", ref)

    def delete_group(self, ref: int) -> None:
        with self.transaction():
            directory = self._directory()
            if ref in directory["refs"]:
                directory["refs"].remove(ref)
            self._put(directory, "directory")
            for stream in ("log", "items"):
                count, _ = self._stream_head(ref, stream)
                for i in range(count):
                    self._delete("chunk", ref, stream, i)
                self._delete("head", ref, stream)
            self._delete("outbox", ref)
            self._delete("group", ref)
            self.directory_changes += 1

    # -- streams --------------------------------------------------------------------

    def _stream_head(self, ref: int, stream: str) -> tuple[int, bytes]:
        head = self._get("head", ref, stream)
        return (0, b"") if head is None else (head[0], head[1])

    def _append(self, ref: int, stream: str, value: Any) -> None:
        raw = cbor2.dumps(value)
        with self.transaction():
            count, tail = self._stream_head(ref, stream)
            tail += _LEN.pack(len(raw)) + raw
            while len(tail) >= CHUNK:
                self._put(tail[:CHUNK], "chunk", ref, stream, count)
                tail, count = tail[CHUNK:], count + 1
            self._put([count, tail], "head", ref, stream)

    def _read(self, ref: int, stream: str) -> Iterator[Any]:
        count, tail = self._stream_head(ref, stream)
        data = b"".join(self._get("chunk", ref, stream, i) or b"" for i in range(count)) + tail
        at = 0
        try:
            while at < len(data):
                (n,) = _LEN.unpack_from(data, at)
                if at + FRAME + n > len(data):
                    raise ValueError("truncated")
                yield cbor2.loads(data[at + FRAME:at + FRAME + n])
                at += FRAME + n
        except (cbor2.CBORDecodeError, struct.error, ValueError):
            raise ProfileError(f"the local database is damaged ({stream} of group {ref})") from None

    # -- log ----------------------------------------------------------------------

    def log(self, ref: int) -> list[tuple[int, bytes, bytes]]:
        return [(seq, prev, ct) for seq, prev, ct in self._read(ref, "log")]

    def add_log(self, ref: int, seq: int, prev: bytes, ciphertext: bytes) -> None:
        self._append(ref, "log", [seq, prev, ciphertext])

    # -- items --------------------------------------------------------------------

    def items(self, ref: int) -> list[tuple[int, dict]]:
        """Every stored item of a group as (cursor, record), in the order stored."""
        out: list[tuple[int, dict]] = []
        for page in self._read(ref, "items"):
            out.extend((c, v) for c, v in page)
        return out

    def add_items(self, ref: int, items: list[tuple[int, dict]]) -> None:
        """Store a page of verified items (cursors ascending) as one frame."""
        if items:
            self._append(ref, "items", [[c, v] for c, v in items])

    # -- outbox -------------------------------------------------------------------

    def outbox(self, ref: int) -> list[tuple[int, dict]]:
        box = self._get("outbox", ref)
        return [] if box is None else [(i, job) for i, job in box["jobs"]]

    def add_outbox(self, ref: int, value: dict) -> int:
        with self.transaction():
            box = self._get("outbox", ref) or {"next": 1, "jobs": []}
            i = box["next"]
            box["next"] += 1
            box["jobs"].append([i, value])
            self._put(box, "outbox", ref)
        return i

    def done_outbox(self, ref: int, i: int) -> None:
        with self.transaction():
            box = self._get("outbox", ref)
            if box is not None:
                box["jobs"] = [[j, job] for j, job in box["jobs"] if j != i]
                self._put(box, "outbox", ref)

    # -- device linking (client/linking.py, client/link_join.py) ----------------------

    def link(self, side: str) -> dict | None:
        """The pending link of this device: ``side`` ``"a"`` (linking another device)
        or ``"b"`` (being linked), or None."""
        return self._get("link", side)

    def put_link(self, side: str, record: dict) -> None:
        self._put(record, "link", side)

    def delete_link(self, side: str) -> None:
        self._delete("link", side)

    def profile_name(self) -> str | None:
        """The profile's display name as a linked device learned it (overrides the
        keystore's, which a linked device sets before it knows it)."""
        value = self._get("profile")
        return value.get("name") if isinstance(value, dict) else None

    def put_profile_name(self, name: str) -> None:
        self._put({"name": name}, "profile")
