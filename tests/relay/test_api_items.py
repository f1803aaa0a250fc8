"""Items over HTTP: batches get gapless cursors; reads page after a cursor."""

from __future__ import annotations

import asyncio
import os

import pytest

from hramada.core.wire import b64e

from .conftest import db_dump, new_mailbox

pytestmark = pytest.mark.anyio


async def post_items(client, mb, items):
    return await client.post(mb.path("/items"), headers=mb.auth,
                             json={"items": [b64e(i) for i in items]})


async def test_batches_get_consecutive_cursors(client, mailbox):
    r = await post_items(client, mailbox, [b"a", b"b", b"c"])
    assert r.status_code == 201 and r.json() == {"first": 1, "last": 3}
    r = await post_items(client, mailbox, [b"d"])
    assert r.json() == {"first": 4, "last": 4}
    r = await client.get(mailbox.path("/items"), headers=mailbox.auth)
    assert r.json() == {"items": [{"cursor": i, "ciphertext": b64e(c)}
                                  for i, c in enumerate([b"a", b"b", b"c", b"d"], 1)],
                        "head": 4}
    r = await client.get(mailbox.path("/items?after=2&limit=1"), headers=mailbox.auth)
    assert r.json() == {"items": [{"cursor": 3, "ciphertext": b64e(b"c")}], "head": 4}


async def test_empty_mailbox_has_head_zero(client, mailbox):
    r = await client.get(mailbox.path("/items?after=0"), headers=mailbox.auth)
    assert r.status_code == 200 and r.json() == {"items": [], "head": 0}


async def test_cursors_are_per_mailbox(client, mailbox):
    other = await new_mailbox(client)
    await post_items(client, mailbox, [b"a", b"b"])
    r = await post_items(client, other, [b"z"])
    assert r.json() == {"first": 1, "last": 1}
    r = await client.get(other.path("/items"), headers=other.auth)
    assert [i["ciphertext"] for i in r.json()["items"]] == [b64e(b"z")]


async def test_concurrent_batches_leave_no_gaps(client, mailbox):
    responses = await asyncio.gather(*(post_items(client, mailbox, [os.urandom(10)] * (1 + i % 4))
                                       for i in range(60)))
    spans = sorted((r.json()["first"], r.json()["last"]) for r in responses)
    cursors = [c for first, last in spans for c in range(first, last + 1)]
    assert cursors == list(range(1, len(cursors) + 1))


async def test_limits_at_the_edge_are_accepted(relay_asgi):
    relay = await relay_asgi(max_item_bytes=100, max_batch_items=5, max_read_limit=10,
                             default_read_limit=3)
    client = await relay.client()
    mb = await new_mailbox(client)
    r = await post_items(client, mb, [b"x" * 100] * 5)
    assert r.status_code == 201 and r.json() == {"first": 1, "last": 5}
    r = await client.get(mb.path("/items"), headers=mb.auth)
    assert len(r.json()["items"]) == 3  # the default limit
    r = await client.get(mb.path("/items?limit=10"), headers=mb.auth)
    assert len(r.json()["items"]) == 5


async def test_a_read_page_is_bounded_in_bytes(relay_asgi):
    relay = await relay_asgi(max_read_bytes=1000)
    client = await relay.client()
    mb = await new_mailbox(client)
    await post_items(client, mb, [os.urandom(400) for _ in range(6)])
    r = await client.get(mb.path("/items?limit=100"), headers=mb.auth)
    assert [i["cursor"] for i in r.json()["items"]] == [1, 2] and r.json()["head"] == 6
    # Paging on from the last cursor reaches the head.
    r = await client.get(mb.path("/items?after=2&limit=100"), headers=mb.auth)
    assert [i["cursor"] for i in r.json()["items"]] == [3, 4]


async def test_oversized_item_and_batch_change_nothing(relay_asgi):
    relay = await relay_asgi(max_item_bytes=100, max_batch_items=5)
    client = await relay.client()
    mb = await new_mailbox(client)
    before = db_dump(relay.db_path)
    for items in ([b"x" * 101], [b"x"] * 4 + [b"x" * 101], [b"x"] * 6):
        r = await post_items(client, mb, items)
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert db_dump(relay.db_path) == before
    assert (await post_items(client, mb, [b"fine"])).status_code == 201
