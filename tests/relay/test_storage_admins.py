"""The SQLite backend's admin set: only a registered admin key rotates the mailbox
capability or changes the admin set, and a refused append changes nothing."""

from __future__ import annotations

import os

import pytest

from hramada.core.crypto import SigningKey
from hramada.core.wire import GENESIS_PREV
from hramada.relay.storage.base import (
    AdminProof,
    Grant,
    LogConflict,
    NotAdmin,
    Unauthorized,
    position_pad,
)
from hramada.relay.storage.sqlite import SQLiteStorage

from .conftest import db_dump
from .test_storage_sqlite import ADMIN, proof

pytestmark = pytest.mark.anyio
OTHER = SigningKey.from_seed(bytes(range(1, 33)))  # a key the mailbox never registered


@pytest.fixture
async def opened(tmp_path):
    path = tmp_path / "s.sqlite3"
    async with SQLiteStorage(path) as s:
        mb, cap = os.urandom(16), os.urandom(32)
        await s.create_mailbox(mb, cap, ADMIN.public.raw)
        head = await s.append_entry(mb, cap, 1, GENESIS_PREV, b"create")
        yield s, path, mb, cap, head.hash


def keys(*signers: SigningKey) -> list[bytes]:
    return sorted(k.public.raw for k in signers)


async def test_a_rotation_without_a_valid_admin_signature_is_refused_and_changes_nothing(opened):
    store, path, mb, cap, prev = opened
    new = os.urandom(32)
    good = proof(mb, 2, prev, b"rotate", new)
    flipped = AdminProof(good.key, bytes([good.signature[0] ^ 1]) + good.signature[1:])
    attempts = {
        "no admin signature": None,
        "does not verify": flipped,
        "not an admin": proof(mb, 2, prev, b"rotate", new, key=OTHER),
        "signed for another capability": proof(mb, 2, prev, b"rotate", os.urandom(32)),
        "signed for another entry": proof(mb, 2, prev, b"other", new),
        "signed for an admin change": proof(mb, 2, prev, b"rotate", new, keys(ADMIN)),
    }
    before = db_dump(path)
    for what, attempt in attempts.items():
        with pytest.raises(NotAdmin) as refused:
            await store.append_entry(mb, cap, 2, prev, b"rotate", new_cap_hash=new,
                                     pad=position_pad(cap), proof=attempt)
        assert refused.value.reason, what
        assert db_dump(path) == before, what
    assert await store.lookup_cap(mb, cap, position_pad(cap)) == Grant(None)
    await store.append_entry(mb, cap, 2, prev, b"rotate", new_cap_hash=new, pad=position_pad(cap),
                             proof=good)
    assert await store.lookup_cap(mb, cap, position_pad(cap)) == Grant(2)


async def test_an_admin_set_change_needs_a_current_admin_and_changes_nothing_when_refused(opened):
    store, path, mb, cap, prev = opened
    before = db_dump(path)
    for attempt in (None, proof(mb, 2, prev, b"promote", keys(OTHER), key=OTHER)):
        with pytest.raises(NotAdmin):
            await store.append_entry(mb, cap, 2, prev, b"promote", admins=keys(OTHER), proof=attempt)
        assert db_dump(path) == before
    assert before["admins"] and all(row[1] == ADMIN.public.raw for row in before["admins"])


async def test_the_admin_set_follows_the_appends_that_change_it(opened):
    store, _, mb, cap, prev = opened
    # the admin makes OTHER an admin too; now OTHER rotates
    both = keys(ADMIN, OTHER)
    h2 = await store.append_entry(mb, cap, 2, prev, b"role", admins=both,
                                  proof=proof(mb, 2, prev, b"role", None, both))
    new = os.urandom(32)
    h3 = await store.append_entry(mb, cap, 3, h2.hash, b"rotate", new_cap_hash=new, pad=position_pad(cap),
                                  proof=proof(mb, 3, h2.hash, b"rotate", new, key=OTHER))
    # OTHER demotes the first admin, who from then on can rotate nothing
    only = keys(OTHER)
    h4 = await store.append_entry(mb, new, 4, h3.hash, b"demote", admins=only,
                                  proof=proof(mb, 4, h3.hash, b"demote", None, only, key=OTHER))
    newer = os.urandom(32)
    with pytest.raises(NotAdmin):
        await store.append_entry(mb, new, 5, h4.hash, b"rotate", new_cap_hash=newer,
                                 pad=position_pad(new), proof=proof(mb, 5, h4.hash, b"rotate", newer))
    # an empty admin set (the last admin left): no one rotates any more
    h5 = await store.append_entry(mb, new, 5, h4.hash, b"leave", admins=[],
                                  proof=proof(mb, 5, h4.hash, b"leave", None, [], key=OTHER))
    with pytest.raises(NotAdmin):
        await store.append_entry(mb, new, 6, h5.hash, b"rotate", new_cap_hash=newer, pad=position_pad(new),
                                 proof=proof(mb, 6, h5.hash, b"rotate", newer, key=OTHER))
    # ordinary appends need no admin
    await store.append_entry(mb, new, 6, h5.hash, b"post")


async def test_the_capability_is_checked_before_the_admin_and_the_admin_before_the_position(opened):
    store, _, mb, cap, prev = opened
    new = os.urandom(32)
    with pytest.raises(Unauthorized):
        await store.append_entry(mb, os.urandom(32), 2, prev, b"r", new_cap_hash=new, pad=bytes(8))
    with pytest.raises(NotAdmin):  # a stale position, but no admin: the admin refusal comes first
        await store.append_entry(mb, cap, 7, prev, b"r", new_cap_hash=new, pad=position_pad(cap))
    with pytest.raises(LogConflict):
        await store.append_entry(mb, cap, 7, prev, b"r", new_cap_hash=new, pad=position_pad(cap),
                                 proof=proof(mb, 7, prev, b"r", new))
