"""An invitation's drop on the relay: it takes guest messages until its expiry (the
relay's clock), and no more once a member marks it used; the guest can still read
the welcome there. A closed (revoked) drop answers nothing at all."""

from __future__ import annotations

import os
import time

import pytest

from hramada.core.wire import b64e, cap_hash

from .conftest import bearer
from .test_api_drops import guest_post, member_post

pytestmark = pytest.mark.anyio


async def open_drop(client, mb, **extra):
    drop, cap = os.urandom(16), os.urandom(32)
    r = await client.post(mb.path("/drops"), headers=mb.auth,
                          json={"drop": b64e(drop), "cap_hash": b64e(cap_hash(cap)), **extra})
    assert r.status_code == 201
    return drop, cap


async def test_a_drop_past_its_expiry_refuses_guests_with_drop_expired(client, mailbox):
    drop, cap = await open_drop(client, mailbox, expires=int(time.time()) - 1)
    r = await guest_post(client, drop, cap, b"late request")
    assert r.status_code == 410 and r.json()["error"]["code"] == "drop_expired"
    r = await client.get(mailbox.path("/drops/messages"), headers=mailbox.auth)
    assert r.json()["messages"] == []


async def test_a_drop_before_its_expiry_takes_guests(client, mailbox):
    drop, cap = await open_drop(client, mailbox, expires=int(time.time()) + 3600)
    assert (await guest_post(client, drop, cap, b"request")).status_code == 201


async def test_a_used_drop_refuses_guests_but_still_carries_the_welcome(client, mailbox):
    drop, cap = await open_drop(client, mailbox)
    assert (await guest_post(client, drop, cap, b"first")).status_code == 201
    r = await client.post(mailbox.path(f"/drops/{b64e(drop)}/used"), headers=mailbox.auth)
    assert r.status_code == 200 and r.json() == {"used": True}
    r = await guest_post(client, drop, cap, b"second")
    assert r.status_code == 410 and r.json()["error"]["code"] == "drop_used"
    assert (await member_post(client, mailbox, drop, b"welcome")).status_code == 201
    r = await client.get(f"/v1/drops/{b64e(drop)}/messages", headers=bearer(cap))
    assert [m["message"] for m in r.json()["messages"]] == [b64e(b"first"), b64e(b"welcome")]


async def test_a_closed_drop_answers_the_guest_not_found(client, mailbox):
    drop, cap = await open_drop(client, mailbox)
    r = await client.delete(mailbox.path(f"/drops/{b64e(drop)}"), headers=mailbox.auth)
    assert r.status_code == 200
    for r in (await guest_post(client, drop, cap, b"x"),
              await client.get(f"/v1/drops/{b64e(drop)}/messages", headers=bearer(cap))):
        assert r.status_code == 404
    r = await client.post(mailbox.path(f"/drops/{b64e(drop)}/used"), headers=mailbox.auth)
    assert r.status_code == 404


@pytest.mark.parametrize("expires", [-1, "soon", 1.5, 2**70])
async def test_a_malformed_expiry_is_refused(client, mailbox, expires):
    r = await client.post(mailbox.path("/drops"), headers=mailbox.auth,
                          json={"drop": b64e(os.urandom(16)), "cap_hash": b64e(os.urandom(32)),
                                "expires": expires})
    assert r.status_code == 400
