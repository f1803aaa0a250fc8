"""Mailboxes and the log over HTTP (in process): linear appends, conflicts that
carry the head, capability rotation, and what a retired capability may still read."""

from __future__ import annotations

import asyncio
import os

import pytest

from hramada.core.crypto import SigningKey
from hramada.core.wire import GENESIS_PREV, b64e, cap_hash, entry_hash, sign_admin_append

from .conftest import Mailbox, append, append_chain, bearer, creation, db_dump, new_mailbox

pytestmark = pytest.mark.anyio
ZERO = b64e(GENESIS_PREV)


async def test_health(client):
    r = await client.get("/v1/health")
    assert r.status_code == 200
    assert r.json() == {"ok": True, "version": "0.1.0"}
    assert r.headers["content-type"] == "application/json"


async def test_create_mailbox_and_empty_log(client):
    mb = Mailbox(os.urandom(16), os.urandom(32))
    r = await client.post("/v1/mailboxes", json=creation(mb))
    assert r.status_code == 201 and r.json() == {"mailbox": mb.b64}
    r = await client.get(mb.path("/log"), headers=mb.auth)
    assert r.status_code == 200
    assert r.json() == {"entries": [], "head": {"seq": 0, "hash": ZERO}}


async def test_mailbox_id_taken(client, mailbox, relay):
    before = db_dump(relay.db_path)
    r = await client.post("/v1/mailboxes", json={"mailbox": mailbox.b64, "cap_hash": b64e(os.urandom(32)),
                                                 "admin": b64e(os.urandom(32))})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "exists"
    assert db_dump(relay.db_path) == before
    # The original capability still works; the second one never did.
    assert (await client.get(mailbox.path("/log"), headers=mailbox.auth)).status_code == 200


async def test_append_and_read_entries(client, mailbox):
    cts = [b"create", b"invite", b"vouch"]
    last = await append_chain(client, mailbox, cts)
    r = await client.get(mailbox.path("/log"), headers=mailbox.auth)
    body = r.json()
    assert body["head"] == {"seq": 3, "hash": b64e(last)}
    prev = GENESIS_PREV
    for i, (entry, ct) in enumerate(zip(body["entries"], cts), 1):
        digest = entry_hash(mailbox.id, i, prev, ct)
        assert entry == {"seq": i, "prev": b64e(prev), "ciphertext": b64e(ct), "hash": b64e(digest)}
        prev = digest
    r = await client.get(mailbox.path("/log?after=1&limit=1"), headers=mailbox.auth)
    assert [e["seq"] for e in r.json()["entries"]] == [2]
    assert r.json()["head"]["seq"] == 3
    r = await client.get(mailbox.path("/log?after=3"), headers=mailbox.auth)
    assert r.json()["entries"] == []
    r = await client.get(mailbox.path("/log?after=999"), headers=mailbox.auth)
    assert r.json() == {"entries": [], "head": {"seq": 3, "hash": b64e(last)}}


@pytest.mark.parametrize("seq, prev_kind", [
    (1, "genesis"),   # seq already taken
    (3, "head"),      # skips a seq
    (2, "genesis"),   # right seq, wrong prev
    (2, "random"),
])
async def test_append_conflict_returns_current_head(client, mailbox, relay, seq, prev_kind):
    head = await append_chain(client, mailbox, [b"one"])
    prev = {"genesis": GENESIS_PREV, "head": head, "random": os.urandom(32)}[prev_kind]
    before = db_dump(relay.db_path)
    r = await append(client, mailbox, b"late", seq, prev)
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "log_conflict"
    assert err["head"] == {"seq": 1, "hash": b64e(head)}
    assert db_dump(relay.db_path) == before


async def test_concurrent_appends_for_one_seq_exactly_one_wins(client, mailbox):
    head = await append_chain(client, mailbox, [b"one"])
    responses = await asyncio.gather(*(append(client, mailbox, f"racer {i}".encode(), 2, head)
                                       for i in range(40)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 39
    winner = next(r for r in responses if r.status_code == 201).json()["head"]
    assert all(r.json()["error"]["head"] == winner for r in responses if r.status_code == 409)
    log = (await client.get(mailbox.path("/log"), headers=mailbox.auth)).json()
    assert [e["seq"] for e in log["entries"]] == [1, 2] and log["head"] == winner


async def test_rotation_makes_new_capability_the_only_current_one(client, mailbox, relay):
    h1 = await append_chain(client, mailbox, [b"create"])
    new_cap = os.urandom(32)
    r = await append(client, mailbox, b"rotate", 2, h1, new_cap=new_cap)
    assert r.status_code == 201
    h2 = entry_hash(mailbox.id, 2, h1, b"rotate")
    rotated = Mailbox(mailbox.id, new_cap)
    h3 = await append_chain(client, rotated, [b"after rotation"], start=3, prev=h2)

    # The retired capability reads the log up to its retirement, and that is its head.
    r = await client.get(mailbox.path("/log"), headers=mailbox.auth)
    assert r.status_code == 200
    assert [e["seq"] for e in r.json()["entries"]] == [1, 2]
    assert r.json()["head"] == {"seq": 2, "hash": b64e(h2)}
    r = await client.get(mailbox.path("/log?after=2"), headers=mailbox.auth)
    assert r.json() == {"entries": [], "head": {"seq": 2, "hash": b64e(h2)}}

    # ... and nothing else.
    before = db_dump(relay.db_path)
    for method, path, body in [
        ("POST", "/log", {"seq": 4, "prev": b64e(h3), "ciphertext": b64e(b"x")}),
        ("POST", "/items", {"items": [b64e(b"x")]}),
        ("GET", "/items", None),
        ("POST", "/drops", {"drop": b64e(os.urandom(16)), "cap_hash": b64e(os.urandom(32))}),
        ("GET", "/drops/messages", None),
    ]:
        r = await client.request(method, mailbox.path(path), json=body, headers=mailbox.auth)
        assert r.status_code == 403, (method, path)
        assert r.json()["error"]["code"] == "retired_capability"
    assert db_dump(relay.db_path) == before

    # The new capability sees everything.
    r = await client.get(mailbox.path("/log"), headers=rotated.auth)
    assert r.json()["head"] == {"seq": 3, "hash": b64e(h3)}


async def test_rotation_to_a_used_capability_is_refused(client, mailbox, relay):
    h1 = await append_chain(client, mailbox, [b"create"])
    before = db_dump(relay.db_path)
    r = await append(client, mailbox, b"rotate", 2, h1, new_cap=mailbox.cap)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    assert db_dump(relay.db_path) == before


async def test_a_rotation_without_a_registered_admins_signature_is_refused_403(client, mailbox, relay):
    """A member holds the capability but no admin key: the relay keeps the capability."""
    h1 = await append_chain(client, mailbox, [b"create"])
    new = cap_hash(os.urandom(32))
    stranger = SigningKey.from_seed(os.urandom(32))
    signed = sign_admin_append(stranger, mailbox.id, 2, h1, b"rotate", new, None)
    flipped = sign_admin_append(mailbox.admin, mailbox.id, 2, h1, b"rotate", new, None)[::-1]
    before = db_dump(relay.db_path)
    for extra in ({}, {"admin_key": b64e(stranger.public.raw), "admin_sig": b64e(signed)},
                  {"admin_key": b64e(mailbox.admin.public.raw), "admin_sig": b64e(flipped)},
                  {"admins": [b64e(stranger.public.raw)], "new_cap_hash": None}):
        body = {"seq": 2, "prev": b64e(h1), "ciphertext": b64e(b"rotate"), "new_cap_hash": b64e(new),
                **extra}
        r = await client.post(mailbox.path("/log"), headers=mailbox.auth, json=body)
        assert r.status_code == 403 and r.json()["error"]["code"] == "not_admin", (extra, r.text)
        assert db_dump(relay.db_path) == before
    # the group goes on: ordinary appends need no admin, and the admin still rotates
    r = await append(client, mailbox, b"post", 2, h1)
    assert r.status_code == 201
    r = await append(client, mailbox, b"rotate", 3, entry_hash(mailbox.id, 2, h1, b"post"), new_cap=os.urandom(32))
    assert r.status_code == 201


async def test_an_admin_set_change_is_signed_by_a_current_admin(client, mailbox):
    h1 = await append_chain(client, mailbox, [b"create"])
    other = SigningKey.from_seed(os.urandom(32))
    both = sorted([mailbox.admin.public.raw, other.public.raw])
    sig = sign_admin_append(mailbox.admin, mailbox.id, 2, h1, b"role", None, both)
    r = await client.post(mailbox.path("/log"), headers=mailbox.auth, json={
        "seq": 2, "prev": b64e(h1), "ciphertext": b64e(b"role"), "admins": [b64e(k) for k in both],
        "admin_key": b64e(mailbox.admin.public.raw), "admin_sig": b64e(sig)})
    assert r.status_code == 201, r.text
    h2 = entry_hash(mailbox.id, 2, h1, b"role")
    r = await append(client, Mailbox(mailbox.id, mailbox.cap, other), b"rotate", 3, h2, new_cap=os.urandom(32))
    assert r.status_code == 201, r.text


async def test_new_cap_hash_null_means_no_rotation(client, mailbox):
    r = await client.post(mailbox.path("/log"), headers=mailbox.auth, json={
        "seq": 1, "prev": ZERO, "ciphertext": b64e(b"x"), "new_cap_hash": None})
    assert r.status_code == 201
    assert (await client.get(mailbox.path("/log"), headers=mailbox.auth)).status_code == 200


async def test_capability_of_another_mailbox_is_unauthorized(client, mailbox, relay):
    other = await new_mailbox(client)
    before = db_dump(relay.db_path)
    r = await append(client, mailbox, b"x", 1, GENESIS_PREV, cap=other.cap)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = await client.get(mailbox.path("/log"), headers=other.auth)
    assert r.status_code == 401
    assert db_dump(relay.db_path) == before


async def test_unknown_mailbox_looks_like_a_wrong_capability(client, mailbox):
    unknown = Mailbox(os.urandom(16), mailbox.cap)
    r1 = await client.get(unknown.path("/log"), headers=unknown.auth)
    r2 = await client.get(mailbox.path("/log"), headers=bearer(os.urandom(32)))
    assert r1.status_code == r2.status_code == 401
    assert r1.json() == r2.json()
    assert r1.headers["www-authenticate"] == "Bearer"
