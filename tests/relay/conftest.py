"""Helpers for the relay's own tests: a mailbox with its capability, and a dump of
the whole database to prove that a refused request changed nothing."""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hramada.core.crypto import SigningKey
from hramada.core.wire import GENESIS_PREV, b64e, cap_hash, entry_hash, sign_admin_append


ADMIN = SigningKey.from_seed(bytes(range(32)))  # the relay-admin key test mailboxes are created with


@dataclass
class Mailbox:
    id: bytes
    cap: bytes
    admin: SigningKey = ADMIN

    @property
    def b64(self) -> str:
        return b64e(self.id)

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.cap)

    def path(self, rest: str = "") -> str:
        return f"/v1/mailboxes/{self.b64}{rest}"


def bearer(cap: bytes) -> dict[str, str]:
    return {"authorization": f"Bearer {b64e(cap)}"}


async def new_mailbox(client: httpx.AsyncClient) -> Mailbox:
    mb = Mailbox(os.urandom(16), os.urandom(32))
    r = await client.post("/v1/mailboxes", json=creation(mb))
    assert r.status_code == 201, r.text
    return mb


def creation(mb: Mailbox) -> dict[str, str]:
    """The body that creates ``mb`` with its capability and admin key."""
    return {"mailbox": mb.b64, "cap_hash": b64e(cap_hash(mb.cap)), "admin": b64e(mb.admin.public.raw)}


async def append(client: httpx.AsyncClient, mb: Mailbox, ciphertext: bytes, seq: int,
                 prev: bytes, new_cap: bytes | None = None, cap: bytes | None = None) -> httpx.Response:
    body: dict[str, Any] = {"seq": seq, "prev": b64e(prev), "ciphertext": b64e(ciphertext)}
    if new_cap is not None:
        body["new_cap_hash"] = b64e(cap_hash(new_cap))
        sig = sign_admin_append(mb.admin, mb.id, seq, prev, ciphertext, cap_hash(new_cap), None)
        body["admin_key"], body["admin_sig"] = b64e(mb.admin.public.raw), b64e(sig)
    return await client.post(mb.path("/log"), json=body, headers=bearer(cap or mb.cap))


async def append_chain(client: httpx.AsyncClient, mb: Mailbox, ciphertexts: list[bytes],
                       start: int = 1, prev: bytes = GENESIS_PREV) -> bytes:
    """Append entries in order; return the hash of the last one."""
    for i, ct in enumerate(ciphertexts, start):
        r = await append(client, mb, ct, i, prev)
        assert r.status_code == 201, r.text
        prev = entry_hash(mb.id, i, prev, ct)
        assert r.json()["head"] == {"seq": i, "hash": b64e(prev)}
    return prev


def db_dump(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, sorted: equal dumps mean nothing was written."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall()) for t in tables}
    finally:
        conn.close()


METRICS_TOKEN = "metrics-token-for-tests-0123456789"
METRICS_AUTH = {"authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture
async def relay(relay_asgi):
    return await relay_asgi(metrics_token=METRICS_TOKEN)


@pytest.fixture
async def client(relay) -> httpx.AsyncClient:
    return await relay.client()


@pytest.fixture
async def mailbox(client) -> Mailbox:
    return await new_mailbox(client)
