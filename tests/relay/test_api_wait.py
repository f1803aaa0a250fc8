"""Long polls: ``wait`` answers at once when there is news, as soon as news comes,
or at its timeout; news written by another relay process on the same database is
noticed by the periodic re-check."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from hramada.core.wire import b64e

from .conftest import Mailbox, append, append_chain, new_mailbox

pytestmark = pytest.mark.anyio


async def wait(client, mb: Mailbox, query: str = "", cap: bytes | None = None):
    headers = {"authorization": f"Bearer {b64e(cap or mb.cap)}"}
    started = time.monotonic()
    r = await client.get(mb.path(f"/wait?{query}"), headers=headers)
    return r, time.monotonic() - started


async def test_returns_at_once_when_heads_are_already_past(client, mailbox):
    await append_chain(client, mailbox, [b"e1"])
    r, took = await wait(client, mailbox, "log=0&timeout=10")
    assert r.status_code == 200
    assert r.json() == {"log": 1, "items": 0, "drops": 0, "changed": True}
    assert took < 2


async def test_times_out_without_news(client, mailbox):
    r, took = await wait(client, mailbox, "timeout=1")
    assert r.json() == {"log": 0, "items": 0, "drops": 0, "changed": False}
    assert 0.9 <= took < 3


async def test_timeout_zero_is_a_plain_look(client, mailbox):
    r, took = await wait(client, mailbox, "timeout=0")
    assert r.json()["changed"] is False and took < 1


@pytest.mark.parametrize("kind", ["log", "items", "drops"])
async def test_wakes_promptly_on_news(client, mailbox, kind):
    drop = os.urandom(16)
    if kind == "drops":
        r = await client.post(mailbox.path("/drops"), headers=mailbox.auth,
                              json={"drop": b64e(drop), "cap_hash": b64e(os.urandom(32))})
        assert r.status_code == 201
    waiter = asyncio.create_task(wait(client, mailbox, "timeout=20"))
    await asyncio.sleep(0.3)
    assert not waiter.done()
    posted = time.monotonic()
    if kind == "log":
        assert (await append_chain(client, mailbox, [b"news"]))
    elif kind == "items":
        r = await client.post(mailbox.path("/items"), headers=mailbox.auth,
                              json={"items": [b64e(b"news")]})
        assert r.status_code == 201
    else:
        r = await client.post(mailbox.path(f"/drops/{b64e(drop)}/messages"),
                              headers=mailbox.auth, json={"message": b64e(b"news")})
        assert r.status_code == 201
    r, _ = await waiter
    assert time.monotonic() - posted < 1.0
    body = r.json()
    assert body["changed"] is True and body[kind] == 1


async def test_news_in_another_mailbox_does_not_answer(client, mailbox):
    other = await new_mailbox(client)
    waiter = asyncio.create_task(wait(client, mailbox, "timeout=1"))
    await asyncio.sleep(0.2)
    await append_chain(client, other, [b"elsewhere"])
    r, took = await waiter
    assert r.json()["changed"] is False and took >= 0.9


async def test_retired_capability_waits_only_on_the_log_up_to_its_retirement(client, mailbox):
    h1 = await append_chain(client, mailbox, [b"create"])
    new_cap = os.urandom(32)
    assert (await append(client, mailbox, b"rotate", 2, h1, new_cap=new_cap)).status_code == 201
    rotated = Mailbox(mailbox.id, new_cap)
    r = await client.post(rotated.path("/items"), headers=rotated.auth, json={"items": ["AQ"]})
    assert r.status_code == 201
    r, _ = await wait(client, mailbox, "log=1&timeout=5")
    assert r.json() == {"log": 2, "items": 0, "drops": 0, "changed": True}
    r, took = await wait(client, mailbox, "log=2&timeout=1")
    assert r.json() == {"log": 2, "items": 0, "drops": 0, "changed": False} and took >= 0.9


async def test_a_write_by_another_process_is_seen_by_the_recheck(relay_asgi, tmp_path):
    first = await relay_asgi(wait_recheck_seconds=0.2)
    # A second relay on the same database file stands in for another process: its
    # writes never reach the first relay's in-process notifications.
    second = await relay_asgi(db_url=first.config.db_url)
    c1, c2 = await first.client(), await second.client()
    mb = await new_mailbox(c1)
    waiter = asyncio.create_task(wait(c1, mb, "timeout=20"))
    await asyncio.sleep(0.3)
    r = await c2.post(mb.path("/items"), headers=mb.auth, json={"items": ["AQ"]})
    assert r.status_code == 201
    r, took = await waiter
    assert r.json()["changed"] is True and r.json()["items"] == 1
    assert took < 2


async def test_many_waiters_all_wake(client, mailbox, relay):
    waiters = [asyncio.create_task(wait(client, mailbox, "timeout=20")) for _ in range(50)]
    await asyncio.sleep(0.3)
    assert relay.app.state.relay.notifier.waiting == 50
    await client.post(mailbox.path("/items"), headers=mailbox.auth, json={"items": ["AQ"]})
    results = await asyncio.gather(*waiters)
    assert all(r.json()["changed"] for r, _ in results)
    assert relay.app.state.relay.notifier.waiting == 0
