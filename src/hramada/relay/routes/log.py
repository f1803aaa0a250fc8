"""``/v1/mailboxes/{mailbox}/log``: read entries after a seq; append at head + 1.

An append that rotates the capability (``new_cap_hash``) or changes the admin set
(``admins``) also carries ``admin_key`` and ``admin_sig``; storage checks them against
the mailbox's admin set in the append's own transaction."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from typing import Any

from hramada.core.wire import (ADMIN_KEY_BYTES, APPEND_SIG_BYTES, HASH_BYTES, MAILBOX_ID_BYTES, MAX_ADMINS,
                               appended_by_holder, b64e, cap_hash, check_admin_set)
from hramada.relay.api import (
    MAX_INT,
    b64_field,
    bad,
    bearer_cap,
    bearer_capability,
    check_fields,
    head_json,
    int_field,
    json_response,
    path_id,
    query_ints,
    read_json,
    route,
)
from hramada.relay.routes.pages import MAX_PAGES
from hramada.relay.state import relay, storage
from hramada.relay.storage.base import AdminProof, position_pad


async def read_log(request: Request) -> Response:
    config = relay(request).config
    mailbox = path_id(request, "mailbox", MAILBOX_ID_BYTES)
    q = query_ints(request, {"after": (0, 0, MAX_INT),
                             "limit": (config.default_read_limit, 1, config.max_read_limit)})
    hashed, pad = bearer_cap(request)
    page = await storage(request).read_log(mailbox, hashed, q["after"], q["limit"],
                                           config.max_read_bytes, pad)
    entries = [{"seq": e.seq, "prev": b64e(e.prev), "ciphertext": b64e(e.ciphertext),
                "hash": b64e(e.hash)} for e in page.entries]
    return json_response({"entries": entries, "head": head_json(page.head.seq, page.head.hash)})


async def append_entry(request: Request) -> Response:
    state = relay(request)
    config = state.config
    mailbox = path_id(request, "mailbox", MAILBOX_ID_BYTES)
    query_ints(request, {})
    cap = bearer_capability(request)
    body = await read_json(request, config.max_body_bytes, max_values=16 + MAX_ADMINS + MAX_PAGES)
    check_fields(body, ("seq", "prev", "ciphertext"), _ADMIN_FIELDS + ("pages",))
    seq = int_field(body["seq"], "seq", minimum=1)
    prev = b64_field(body["prev"], "prev", size=HASH_BYTES)
    ciphertext = b64_field(body["ciphertext"], "ciphertext", max_bytes=config.max_entry_bytes)
    new_cap = body.get("new_cap_hash")
    new_cap_hash = None if new_cap is None else b64_field(new_cap, "new_cap_hash", size=HASH_BYTES)
    admins = _admin_set(body.get("admins"))
    proof = _admin_proof(body.get("admin_key"), body.get("admin_sig"))
    pages = _page_digests(body.get("pages"))
    if proof is not None and new_cap_hash is None and admins is None:
        raise bad("admin_key and admin_sig come only with new_cap_hash or admins")
    if not appended_by_holder(cap, mailbox, seq, prev, ciphertext):
        # Only a holder of the group's key can sign an entry; readers check the same
        # signature, so an entry refused here could never have been folded.
        raise bad("the entry is not signed with the append key of this capability")
    pad = None if new_cap_hash is None else position_pad(cap)  # only a rotation needs it
    head = await storage(request).append_entry(mailbox, cap_hash(cap), seq, prev, ciphertext,
                                               new_cap_hash, pad, admins, proof, pages)
    state.metrics.append("entry")
    if admins is not None:
        state.metrics.append("admin_set")
    if new_cap_hash is not None:
        state.metrics.append("rotation")
    return json_response({"head": head_json(head.seq, head.hash)}, 201)


_ADMIN_FIELDS = ("new_cap_hash", "admins", "admin_key", "admin_sig")


def _page_digests(value: Any) -> list[bytes] | None:
    """``pages``: null or a list of 1 to MAX_PAGES distinct page digests (key-block pages)."""
    if value is None:
        return None
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_PAGES:
        raise bad(f"pages must be a list of 1 to {MAX_PAGES} base64url digests")
    digests = [b64_field(v, "pages", size=HASH_BYTES) for v in value]
    if len(set(digests)) != len(digests):
        raise bad("pages names a digest twice")
    return digests


def _admin_set(value: Any) -> list[bytes] | None:
    """``admins``: null (no change) or a list of relay-admin keys, strictly ascending."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise bad("admins must be a list of base64url keys")
    keys = [b64_field(v, "admins", size=ADMIN_KEY_BYTES) for v in value]
    try:
        return check_admin_set(keys)
    except ValueError as exc:
        raise bad(str(exc)) from None


def _admin_proof(key: Any, sig: Any) -> AdminProof | None:
    if key is None and sig is None:
        return None
    if key is None or sig is None:
        raise bad("admin_key and admin_sig come together")
    return AdminProof(b64_field(key, "admin_key", size=ADMIN_KEY_BYTES),
                      b64_field(sig, "admin_sig", size=APPEND_SIG_BYTES))


routes = [route("/v1/mailboxes/{mailbox}/log", GET=read_log, POST=append_entry)]
