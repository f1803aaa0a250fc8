"""Drops over HTTP: members open and close them; a guest with the drop capability
posts (up to the guest limit) and reads; members read every drop of the mailbox."""

from __future__ import annotations

import os

import pytest

from hramada.core.wire import b64e, cap_hash

from .conftest import bearer, db_dump, new_mailbox

pytestmark = pytest.mark.anyio


async def open_drop(client, mb):
    drop, cap = os.urandom(16), os.urandom(32)
    r = await client.post(mb.path("/drops"), headers=mb.auth,
                          json={"drop": b64e(drop), "cap_hash": b64e(cap_hash(cap))})
    assert r.status_code == 201 and r.json() == {"drop": b64e(drop)}
    return drop, cap


async def guest_post(client, drop, cap, message):
    return await client.post(f"/v1/drops/{b64e(drop)}/messages", headers=bearer(cap),
                             json={"message": b64e(message)})


async def member_post(client, mb, drop, message):
    return await client.post(mb.path(f"/drops/{b64e(drop)}/messages"), headers=mb.auth,
                             json={"message": b64e(message)})


async def test_guest_and_member_talk_through_a_drop(client, mailbox):
    drop, cap = await open_drop(client, mailbox)
    r = await guest_post(client, drop, cap, b"join request")
    assert r.status_code == 201 and r.json() == {"cursor": 1}
    r = await member_post(client, mailbox, drop, b"welcome")
    assert r.status_code == 201 and r.json() == {"cursor": 2}

    r = await client.get(f"/v1/drops/{b64e(drop)}/messages", headers=bearer(cap))
    assert r.json() == {"messages": [
        {"cursor": 1, "from": "guest", "message": b64e(b"join request")},
        {"cursor": 2, "from": "member", "message": b64e(b"welcome")}], "head": 2}
    r = await client.get(f"/v1/drops/{b64e(drop)}/messages?after=1", headers=bearer(cap))
    assert [m["cursor"] for m in r.json()["messages"]] == [2]

    r = await client.get(mailbox.path("/drops/messages"), headers=mailbox.auth)
    assert r.json() == {"messages": [
        {"cursor": 1, "drop": b64e(drop), "from": "guest", "message": b64e(b"join request")},
        {"cursor": 2, "drop": b64e(drop), "from": "member", "message": b64e(b"welcome")}],
        "head": 2}


async def test_cursors_are_shared_by_the_drops_of_a_mailbox(client, mailbox):
    d1, c1 = await open_drop(client, mailbox)
    d2, c2 = await open_drop(client, mailbox)
    assert (await guest_post(client, d1, c1, b"a")).json() == {"cursor": 1}
    assert (await guest_post(client, d2, c2, b"b")).json() == {"cursor": 2}
    assert (await guest_post(client, d1, c1, b"c")).json() == {"cursor": 3}
    r = await client.get(mailbox.path("/drops/messages?after=1"), headers=mailbox.auth)
    assert [(m["cursor"], m["drop"]) for m in r.json()["messages"]] == [
        (2, b64e(d2)), (3, b64e(d1))]
    # A guest sees only its own drop, and only its own drop's head.
    r = await client.get(f"/v1/drops/{b64e(d2)}/messages", headers=bearer(c2))
    assert r.json() == {"messages": [{"cursor": 2, "from": "guest", "message": b64e(b"b")}],
                        "head": 2}
    r = await client.get(f"/v1/drops/{b64e(d1)}/messages", headers=bearer(c2))
    assert r.status_code == 401


async def test_guest_message_limit(relay_asgi):
    relay = await relay_asgi(max_guest_messages=3)
    client = await relay.client()
    mb = await new_mailbox(client)
    drop, cap = await open_drop(client, mb)
    for i in range(3):
        assert (await guest_post(client, drop, cap, b"m%d" % i)).status_code == 201
    before = db_dump(relay.db_path)
    r = await guest_post(client, drop, cap, b"one too many")
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert db_dump(relay.db_path) == before
    # Members are not limited.
    assert (await member_post(client, mb, drop, b"reply")).status_code == 201


async def test_closed_drop(client, mailbox, relay):
    drop, cap = await open_drop(client, mailbox)
    await guest_post(client, drop, cap, b"before closing")
    r = await client.delete(mailbox.path(f"/drops/{b64e(drop)}"), headers=mailbox.auth)
    assert r.status_code == 200 and r.json() == {"closed": True}
    before = db_dump(relay.db_path)
    for r in [await guest_post(client, drop, cap, b"x"),
              await client.get(f"/v1/drops/{b64e(drop)}/messages", headers=bearer(cap)),
              await member_post(client, mailbox, drop, b"x"),
              await client.delete(mailbox.path(f"/drops/{b64e(drop)}"), headers=mailbox.auth)]:
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert db_dump(relay.db_path) == before
    r = await client.get(mailbox.path("/drops/messages"), headers=mailbox.auth)
    assert [m["message"] for m in r.json()["messages"]] == [b64e(b"before closing")]


async def test_drop_ids_are_unique_across_mailboxes(client, mailbox):
    drop, _ = await open_drop(client, mailbox)
    other = await new_mailbox(client)
    r = await client.post(other.path("/drops"), headers=other.auth,
                          json={"drop": b64e(drop), "cap_hash": b64e(os.urandom(32))})
    assert r.status_code == 409 and r.json()["error"]["code"] == "exists"


async def test_drops_of_another_mailbox_are_not_found(client, mailbox):
    drop, _ = await open_drop(client, mailbox)
    other = await new_mailbox(client)
    r = await member_post(client, other, drop, b"x")
    assert r.status_code == 404
    r = await client.delete(other.path(f"/drops/{b64e(drop)}"), headers=other.auth)
    assert r.status_code == 404


async def test_unknown_drop_or_wrong_drop_capability_is_unauthorized(client, mailbox):
    drop, cap = await open_drop(client, mailbox)
    for d, c in [(os.urandom(16), cap), (drop, os.urandom(32)), (drop, mailbox.cap)]:
        r = await guest_post(client, d, c, b"x")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        r = await client.get(f"/v1/drops/{b64e(d)}/messages", headers=bearer(c))
        assert r.status_code == 401
    # A drop capability is not a mailbox capability.
    r = await client.get(mailbox.path("/drops/messages"), headers=bearer(cap))
    assert r.status_code == 401


async def test_oversized_drop_message(relay_asgi):
    relay = await relay_asgi(max_drop_message_bytes=50)
    client = await relay.client()
    mb = await new_mailbox(client)
    drop, cap = await open_drop(client, mb)
    assert (await guest_post(client, drop, cap, b"x" * 50)).status_code == 201
    before = db_dump(relay.db_path)
    for r in [await guest_post(client, drop, cap, b"x" * 51),
              await member_post(client, mb, drop, b"x" * 51)]:
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert db_dump(relay.db_path) == before
