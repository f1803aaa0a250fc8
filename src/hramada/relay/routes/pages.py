"""``/v1/mailboxes/{mailbox}/pages``: key-block pages, content-addressed per mailbox.

A writer uploads the pages of a large key block with the current capability before the
append that names them (``"pages"`` of ``POST …/log``); readers fetch one by its digest
with a current or retired capability and check it against the digest themselves. The
relay computes the digest of what it stores, so a page is always stored under its own
hash (``relay-api-v1.md``, "Key-block pages")."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from hramada.core.pages import page_digest
from hramada.core.wire import HASH_BYTES, MAILBOX_ID_BYTES, b64e
from hramada.relay.api import (
    b64_field,
    bearer_cap_hash,
    check_fields,
    json_response,
    path_id,
    query_ints,
    read_json,
    route,
)
from hramada.relay.state import relay, storage

# A key block has at most 65,536 labels (encoding.md), so at most 256 pages of 256 boxes.
MAX_PAGES = 256


async def put_page(request: Request) -> Response:
    state = relay(request)
    config = state.config
    mailbox = path_id(request, "mailbox", MAILBOX_ID_BYTES)
    query_ints(request, {})
    cap_hash = bearer_cap_hash(request)
    body = await read_json(request, config.max_body_bytes)
    check_fields(body, ("page",))
    page = b64_field(body["page"], "page", max_bytes=config.max_entry_bytes)
    digest = page_digest(page)
    new = await storage(request).put_page(mailbox, cap_hash, digest, page, config.max_pending_page_bytes)
    if new:
        state.metrics.append("page")
    return json_response({"digest": b64e(digest)}, 201 if new else 200)


async def get_page(request: Request) -> Response:
    mailbox = path_id(request, "mailbox", MAILBOX_ID_BYTES)
    digest = path_id(request, "digest", HASH_BYTES)
    query_ints(request, {})
    cap_hash = bearer_cap_hash(request)
    page = await storage(request).get_page(mailbox, cap_hash, digest)
    return json_response({"page": b64e(page)})


routes = [route("/v1/mailboxes/{mailbox}/pages", POST=put_page),
          route("/v1/mailboxes/{mailbox}/pages/{digest}", GET=get_page)]
