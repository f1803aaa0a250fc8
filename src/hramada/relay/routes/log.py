"""``/v1/mailboxes/{mailbox}/log``: read entries after a seq; append at head + 1."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hramada.core.wire import HASH_BYTES, MAILBOX_ID_BYTES, appended_by_holder, b64e, cap_hash
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
from hramada.relay.state import relay, storage
from hramada.relay.storage.base import position_pad


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
    body = await read_json(request, config.max_body_bytes)
    check_fields(body, ("seq", "prev", "ciphertext"), ("new_cap_hash",))
    seq = int_field(body["seq"], "seq", minimum=1)
    prev = b64_field(body["prev"], "prev", size=HASH_BYTES)
    ciphertext = b64_field(body["ciphertext"], "ciphertext", max_bytes=config.max_entry_bytes)
    new_cap = body.get("new_cap_hash")
    new_cap_hash = None if new_cap is None else b64_field(new_cap, "new_cap_hash", size=HASH_BYTES)
    if not appended_by_holder(cap, mailbox, seq, prev, ciphertext):
        # Only a holder of the group's key can sign an entry; readers check the same
        # signature, so an entry refused here could never have been folded.
        raise bad("the entry is not signed with the append key of this capability")
    pad = None if new_cap_hash is None else position_pad(cap)  # only a rotation needs it
    head = await storage(request).append_entry(mailbox, cap_hash(cap), seq, prev, ciphertext,
                                               new_cap_hash, pad)
    state.metrics.append("entry")
    if new_cap_hash is not None:
        state.metrics.append("rotation")
    return json_response({"head": head_json(head.seq, head.hash)}, 201)


routes = [route("/v1/mailboxes/{mailbox}/log", GET=read_log, POST=append_entry)]
