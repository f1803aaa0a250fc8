"""What a seized relay database holds: exactly what clients sent (ids, capability
hashes, opaque ciphertexts), the entry hashes any client can recompute from those,
and counters. No capabilities, no client addresses, no clock times, no text."""

from __future__ import annotations

import os
import sqlite3

import pytest

from hramada.core.pages import page_digest
from hramada.core.wire import GENESIS_PREV, b64e, cap_hash, entry_hash

from hramada.relay.storage.base import position_pad, seal_position

from .conftest import Mailbox, append, append_chain, bearer, creation, db_dump, new_mailbox

pytestmark = pytest.mark.anyio

SCHEMA = {
    "mailboxes": ["mid", "id", "log_seq", "log_hash", "item_head", "drop_head"],
    "caps": ["mid", "cap_hash", "retired"],
    "entries": ["mid", "seq", "prev", "hash", "ciphertext"],
    "items": ["mid", "cursor", "ciphertext"],
    "drops": ["id", "mid", "cap_hash", "closed", "guest_messages", "used", "expires"],
    "drop_messages": ["mid", "cursor", "drop_id", "from_guest", "message"],
    "admins": ["mid", "key"],
    "pages": ["mid", "digest", "pending", "page"],
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
                        GENESIS_PREV, mb.admin.public.raw}  # the relay-admin key: public, per group
    ciphertexts: list[bytes] = []

    r = await client.post("/v1/mailboxes", json=creation(mb))
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
    page = opaque()  # a key-block page: stored under the digest of what the client sent
    r = await client.post(mb.path("/pages"), headers=mb.auth, json={"page": b64e(page)})
    assert r.status_code == 201
    sent.add(page_digest(page))
    ciphertexts += items + [guest, member, page]
    sent |= set(ciphertexts)

    assert columns(relay.db_path) == SCHEMA
    dump = db_dump(relay.db_path)
    # The first capability's retirement (at seq 2), sealed under a pad of the capability.
    sent.add(seal_position(2, position_pad(first_cap)))
    (mid,) = {row[0] for row in dump["mailboxes"]}
    stored_blobs = []
    for table, rows in dump.items():
        for row in rows:
            for v in row:
                if isinstance(v, bytes):
                    assert v in sent, f"{table} holds bytes no client sent"
                    stored_blobs.append(v)
                else:
                    assert v is None or v == mid or (isinstance(v, int) and 0 <= v <= 10), (table, v)
    # The marker is only inside the ciphertexts, each stored once.
    assert sum(marker in b for b in stored_blobs) == len(ciphertexts)
    assert sorted(b for b in stored_blobs if marker in b) == sorted(ciphertexts)

    # The files themselves (database and write-ahead log) hold no capability and no
    # client address, in any form.
    raw = b"".join(p.read_bytes() for p in relay.db_path.parent.glob(relay.db_path.name + "*"))
    for secret in (first_cap, new_cap, drop_cap):
        assert secret not in raw and b64e(secret).encode() not in raw
    assert address.encode() not in raw and b"Bearer" not in raw


async def test_a_seized_database_shows_no_write_order_across_mailboxes(relay_asgi):
    relay = await relay_asgi()
    client = await relay.client()
    boxes = [await new_mailbox(client) for _ in range(12)]
    drop_ids = {}
    # Interleave every kind of write across the mailboxes.
    heads: dict[str, bytes] = {}
    for round_ in range(3):
        for mb in boxes:
            heads[mb.b64] = await append_chain(client, mb, [os.urandom(40)], start=round_ + 1,
                                               prev=heads.get(mb.b64, GENESIS_PREV))
            r = await client.post(mb.path("/items"), headers=mb.auth,
                                  json={"items": [b64e(os.urandom(40))]})
            assert r.status_code == 201
            if round_ == 0:
                drop_ids[mb.b64] = os.urandom(16)
                r = await client.post(mb.path("/drops"), headers=mb.auth, json={
                    "drop": b64e(drop_ids[mb.b64]), "cap_hash": b64e(os.urandom(32))})
                assert r.status_code == 201
            r = await client.post(mb.path(f"/drops/{b64e(drop_ids[mb.b64])}/messages"),
                                  headers=mb.auth, json={"message": b64e(os.urandom(40))})
            assert r.status_code == 201
    conn = sqlite3.connect(f"file:{relay.db_path}?mode=ro", uri=True)
    try:
        mids = [conn.execute("SELECT mid FROM mailboxes WHERE id = ?", (mb.id,)).fetchone()[0]
                for mb in boxes]
        # Mailbox keys are random: neither they nor the table's order follow creation.
        stored = [r[0] for r in conn.execute("SELECT mid FROM mailboxes")]
        assert mids != sorted(mids) and stored != mids
        for table in ("entries", "items", "drop_messages"):
            # No row id at all (WITHOUT ROWID), so nothing counts writes relay-wide ...
            with pytest.raises(sqlite3.OperationalError):
                conn.execute(f"SELECT rowid FROM {table}")
            # ... and rows come out grouped by mailbox, never in the order written.
            order = [r[0] for r in conn.execute(f"SELECT mid FROM {table}")]
            runs = [m for i, m in enumerate(order) if i == 0 or order[i - 1] != m]
            assert len(runs) == len(boxes), table
    finally:
        conn.close()


async def test_a_retired_capabilitys_position_is_sealed_yet_it_still_reads_up_to_it(relay_asgi):
    relay = await relay_asgi()
    client = await relay.client()
    mb = await new_mailbox(client)
    head = await append_chain(client, mb, [b"one", b"two"])
    new_cap = os.urandom(32)
    r = await append(client, mb, b"rotation", 3, head, new_cap=new_cap)
    assert r.status_code == 201
    rotation_hash = entry_hash(mb.id, 3, head, b"rotation")
    await append_chain(client, Mailbox(mb.id, new_cap), [b"four"], start=4, prev=rotation_hash)
    # In the database: the retired capability's hash and 8 sealed bytes, no seq.
    dump = db_dump(relay.db_path)
    retired = [row for row in dump["caps"] if row[2] is not None]
    assert len(retired) == 1 and retired[0][1] == cap_hash(mb.cap)
    assert retired[0][2] != (3).to_bytes(8, "big") and len(retired[0][2]) == 8
    # Presented by its holder, it still reads the log up to the rotation that retired it.
    r = await client.get(mb.path("/log"), headers=mb.auth)
    assert r.status_code == 200
    assert [e["seq"] for e in r.json()["entries"]] == [1, 2, 3]
    assert r.json()["head"] == {"seq": 3, "hash": b64e(rotation_hash)}
    r = await client.get(mb.path("/wait?timeout=0"), headers=mb.auth)
    assert r.json()["log"] == 3
