"""``/v1/mailboxes/{mailbox}/items``: append a batch of items; read after a cursor."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hramada.core.wire import MAILBOX_ID_BYTES, b64e
from hramada.relay.api import (
    MAX_INT,
    b64_field,
    bad,
    bearer_cap_hash,
    check_fields,
    json_response,
    path_id,
    query_ints,
    read_json,
    route,
    too_large,
)
from hramada.relay.state import relay, storage


async def append_items(request: Request) -> Response:
    state = relay(request)
    config = state.config
    mailbox = path_id(request, "mailbox", MAILBOX_ID_BYTES)
    query_ints(request, {})
    cap_hash = bearer_cap_hash(request)
    # One separator per item, plus a few: a batch over the limit is still parsed and
    # refused as too large below; a body of far more values is refused unparsed.
    body = await read_json(request, config.max_body_bytes,
                           max_values=config.max_batch_items + 16)
    check_fields(body, ("items",))
    raw = body["items"]
    if not isinstance(raw, list):
        raise bad("items must be a list of base64url strings")
    if not raw:
        raise bad("items must hold at least one item")
    if len(raw) > config.max_batch_items:
        raise too_large(f"a batch holds at most {config.max_batch_items} items")
    limit = config.max_item_bytes
    items = [b64_field(v, f"items[{i}]", max_bytes=limit) for i, v in enumerate(raw)]
    first, last = await storage(request).append_items(mailbox, cap_hash, items)
    state.metrics.append("item", len(items))
    return json_response({"first": first, "last": last}, 201)


async def read_items(request: Request) -> Response:
    config = relay(request).config
    mailbox = path_id(request, "mailbox", MAILBOX_ID_BYTES)
    q = query_ints(request, {"after": (0, 0, MAX_INT),
                             "limit": (config.default_read_limit, 1, config.max_read_limit)})
    cap_hash = bearer_cap_hash(request)
    page = await storage(request).read_items(mailbox, cap_hash, q["after"], q["limit"],
                                             config.max_read_bytes)
    items = [{"cursor": c, "ciphertext": b64e(ct)} for c, ct in page.items]
    return json_response({"items": items, "head": page.head})


routes = [route("/v1/mailboxes/{mailbox}/items", GET=read_items, POST=append_items)]
