"""What a seized relay database holds: exactly what clients sent (ids, capability
hashes, opaque ciphertexts), the entry hashes any client can recompute from those,
and counters. No capabilities, no client addresses, no clock times, no text."""

from __future__ import annotations

import os
import sqlite3

import pytest

from hramada.core.wire import GENESIS_PREV, b64e, cap_hash, entry_hash

from .conftest import Mailbox, append, bearer, db_dump

pytestmark = pytest.mark.anyio

SCHEMA = {
    "mailboxes": ["mid", "id", "log_seq", "log_hash", "item_head", "drop_head"],
    "caps": ["mid", "cap_hash", "retired_at"],
    "entries": ["mid", "seq", "prev", "hash", "ciphertext"],
    "items": ["mid", "cursor", "ciphertext"],
    "drops": ["id", "mid", "cap_hash", "closed", "guest_messages", "used", "expires"],
    "drop_messages": ["mid", "cursor", "drop_id", "from_guest", "message"],
}


def columns(path) -> dict[str, list[str]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: [c[1] for c in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
    finally:
        conn.close()


async def test_database_holds_only_what_clients_sent(relay_asgi):
    relay = await relay_asgi()
    address = "203.0.113.77"
    client = await relay.client(address)
    marker = b"PLAINTEXT-MARKER-" + os.urandom(6).hex().encode()

    def opaque() -> bytes:  # a "ciphertext" with the marker somewhere inside
        return os.urandom(20) + marker + os.urandom(20)

    mb = Mailbox(os.urandom(16), os.urandom(32))
    first_cap, new_cap = mb.cap, os.urandom(32)
    drop, drop_cap = os.urandom(16), os.urandom(32)
    sent: set[bytes] = {mb.id, cap_hash(mb.cap), cap_hash(new_cap), drop, cap_hash(drop_cap),
                        GENESIS_PREV}
    ciphertexts: list[bytes] = []

    r = await client.post("/v1/mailboxes", json={"mailbox": mb.b64, "cap_hash": b64e(cap_hash(mb.cap))})
    assert r.status_code == 201
    prev = GENESIS_PREV
    for seq in (1, 2):
        ct = opaque()
        r = await append(client, mb, ct, seq, prev, new_cap=new_cap if seq == 2 else None)
        assert r.status_code == 201
        prev = entry_hash(mb.id, seq, prev, ct)
        sent |= {ct, prev}
        ciphertexts.append(ct)
    mb = Mailbox(mb.id, new_cap)
    items = [opaque() for _ in range(3)]
    r = await client.post(mb.path("/items"), headers=mb.auth, json={"items": [b64e(i) for i in items]})
    assert r.status_code == 201
    r = await client.post(mb.path("/drops"), headers=mb.auth,
                          json={"drop": b64e(drop), "cap_hash": b64e(cap_hash(drop_cap))})
    assert r.status_code == 201
    guest, member = opaque(), opaque()
    r = await client.post(f"/v1/drops/{b64e(drop)}/messages", headers=bearer(drop_cap),
                          json={"message": b64e(guest)})
    assert r.status_code == 201
    r = await client.post(mb.path(f"/drops/{b64e(drop)}/messages"), headers=mb.auth,
                          json={"message": b64e(member)})
    assert r.status_code == 201
    ciphertexts += items + [guest, member]
    sent |= set(ciphertexts)

    assert columns(relay.db_path) == SCHEMA
    dump = db_dump(relay.db_path)
    stored_blobs = []
    for table, rows in dump.items():
        for row in rows:
            for v in row:
                if isinstance(v, bytes):
                    assert v in sent, f"{table} holds bytes no client sent"
                    stored_blobs.append(v)
                else:
                    assert v is None or (isinstance(v, int) and 0 <= v <= 10), (table, v)
    # The marker is only inside the ciphertexts, each stored once.
    assert sum(marker in b for b in stored_blobs) == len(ciphertexts)
    assert sorted(b for b in stored_blobs if marker in b) == sorted(ciphertexts)

    # The files themselves (database and write-ahead log) hold no capability and no
    # client address, in any form.
    raw = b"".join(p.read_bytes() for p in relay.db_path.parent.glob(relay.db_path.name + "*"))
    for secret in (first_cap, new_cap, drop_cap):
        assert secret not in raw and b64e(secret).encode() not in raw
    assert address.encode() not in raw and b"Bearer" not in raw
