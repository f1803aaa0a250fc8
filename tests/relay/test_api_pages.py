"""Key-block pages on the relay (relay-api-v1.md, "Key-block pages"): uploaded with the
current capability, stored under their own digest, named by the append that carries
their key block, served by digest to current and retired capabilities, dropped at the
next rotation if no entry named them, bounded per mailbox, counted in the metrics."""

from __future__ import annotations

import os

import pytest

from hramada.core.pages import page_digest
from hramada.core.wire import GENESIS_PREV, b64d, b64e

from .conftest import METRICS_AUTH, append_chain, bearer, db_dump, new_mailbox

pytestmark = pytest.mark.anyio


async def put(client, mb, page: bytes, cap: bytes | None = None):
    return await client.post(mb.path("/pages"), json={"page": b64e(page)}, headers=bearer(cap or mb.cap))


async def get(client, mb, digest: bytes, cap: bytes | None = None):
    return await client.get(mb.path(f"/pages/{b64e(digest)}"), headers=bearer(cap or mb.cap))


async def append_naming(client, mb, seq: int, prev: bytes, ciphertext: bytes, pages: list[bytes],
                        new_cap: bytes | None = None):
    """``append`` of conftest, with ``pages`` in the body."""
    from hramada.core.wire import cap_hash, sign_admin_append
    body = {"seq": seq, "prev": b64e(prev), "ciphertext": b64e(ciphertext), "pages": [b64e(d) for d in pages]}
    if new_cap is not None:
        body["new_cap_hash"] = b64e(cap_hash(new_cap))
        sig = sign_admin_append(mb.admin, mb.id, seq, prev, ciphertext, cap_hash(new_cap), None)
        body["admin_key"], body["admin_sig"] = b64e(mb.admin.public.raw), b64e(sig)
    return await client.post(mb.path("/log"), json=body, headers=bearer(mb.cap))


async def test_a_page_is_stored_under_its_digest_and_served_back(client, mailbox):
    page = os.urandom(5000)
    r = await put(client, mailbox, page)
    assert r.status_code == 201 and b64d(r.json()["digest"]) == page_digest(page)
    again = await put(client, mailbox, page)
    assert again.status_code == 200 and again.json() == r.json()
    got = await get(client, mailbox, page_digest(page))
    assert got.status_code == 200 and b64d(got.json()["page"]) == page


async def test_pages_belong_to_their_mailbox_and_need_its_capability(client, mailbox):
    page = os.urandom(100)
    await put(client, mailbox, page)
    other = await new_mailbox(client)
    r = await get(client, other, page_digest(page))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert (await get(client, mailbox, page_digest(page), cap=os.urandom(32))).status_code == 401
    assert (await put(client, mailbox, page, cap=os.urandom(32))).status_code == 401
    assert (await get(client, mailbox, os.urandom(32))).status_code == 404


async def test_an_append_naming_a_page_the_mailbox_lacks_is_refused_and_changes_nothing(client, relay, mailbox):
    prev = await append_chain(client, mailbox, [b"create"])
    stored = os.urandom(300)
    await put(client, mailbox, stored)
    absent = page_digest(b"never uploaded")
    before = db_dump(relay.db_path)
    r = await append_naming(client, mailbox, 2, prev, b"rotation", [page_digest(stored), absent])
    assert r.status_code == 409 and r.json()["error"]["code"] == "missing_pages"
    assert r.json()["error"]["missing"] == [b64e(absent)]
    assert db_dump(relay.db_path) == before
    ok = await append_naming(client, mailbox, 2, prev, b"rotation", [page_digest(stored)])
    assert ok.status_code == 201, ok.text


async def test_a_rotation_keeps_the_pages_it_names_for_old_and_new_capabilities_and_drops_the_rest(
        client, relay, mailbox):
    prev = await append_chain(client, mailbox, [b"create"])
    named, abandoned = os.urandom(1000), os.urandom(1000)
    for page in (named, abandoned):
        assert (await put(client, mailbox, page)).status_code == 201
    old, new = mailbox.cap, os.urandom(32)
    r = await append_naming(client, mailbox, 2, prev, b"rotation", [page_digest(named)], new_cap=new)
    assert r.status_code == 201, r.text
    mailbox.cap = new
    for cap in (old, new):  # a member behind reads its page with the retired capability
        got = await get(client, mailbox, page_digest(named), cap=cap)
        assert got.status_code == 200 and b64d(got.json()["page"]) == named
    assert (await get(client, mailbox, page_digest(abandoned))).status_code == 404
    assert len(db_dump(relay.db_path)["pages"]) == 1
    # The retired capability may read, not upload.
    r = await put(client, mailbox, os.urandom(10), cap=old)
    assert r.status_code == 403 and r.json()["error"]["code"] == "retired_capability"


async def test_pending_pages_are_bounded_per_mailbox_and_a_page_by_the_entry_limit(relay_asgi):
    relay = await relay_asgi(max_pending_page_bytes=2500, max_entry_bytes=2000)
    client = await relay.client()
    mb = await new_mailbox(client)
    assert (await put(client, mb, os.urandom(2000))).status_code == 201
    r = await put(client, mb, os.urandom(600))
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    r = await put(client, mb, os.urandom(2001))
    assert r.status_code == 413


async def test_a_named_page_frees_its_pending_room(relay_asgi):
    relay = await relay_asgi(max_pending_page_bytes=2500)
    client = await relay.client()
    mb = await new_mailbox(client)
    page = os.urandom(2000)
    await put(client, mb, page)
    r = await append_naming(client, mb, 1, GENESIS_PREV, b"create", [page_digest(page)])
    assert r.status_code == 201, r.text
    assert (await put(client, mb, os.urandom(2000))).status_code == 201


@pytest.mark.parametrize("pages", [[], "x", [b64e(bytes(31))], [b64e(bytes(32))] * 2,
                                   [b64e(os.urandom(32)) for _ in range(257)]],
                         ids=["empty", "not-a-list", "short", "twice", "too-many"])
async def test_malformed_page_lists_are_bad_requests(client, mailbox, pages):
    body = {"seq": 1, "prev": b64e(GENESIS_PREV), "ciphertext": b64e(b"x"), "pages": pages}
    r = await client.post(mailbox.path("/log"), json=body, headers=mailbox.auth)
    assert r.status_code == 400, r.text


async def test_pages_are_counted_in_the_metrics(client, mailbox):
    await put(client, mailbox, b"one")
    await put(client, mailbox, b"one")
    await put(client, mailbox, b"two")
    text = (await client.get("/v1/metrics", headers=METRICS_AUTH)).text
    assert 'hramada_relay_appended_total{kind="page"} 2' in text
