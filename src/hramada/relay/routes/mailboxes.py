"""``POST /v1/mailboxes``: create a mailbox with its first capability hash and its
creator's relay-admin key (the first member of its admin set)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hramada.core.wire import ADMIN_KEY_BYTES, HASH_BYTES, MAILBOX_ID_BYTES, b64e
from hramada.relay.api import b64_field, check_fields, json_response, read_json
from hramada.relay.state import relay, storage


async def create_mailbox(request: Request) -> Response:
    state = relay(request)
    body = await read_json(request, state.config.max_body_bytes)
    check_fields(body, ("mailbox", "cap_hash", "admin"))
    mailbox = b64_field(body["mailbox"], "mailbox", size=MAILBOX_ID_BYTES)
    cap_hash = b64_field(body["cap_hash"], "cap_hash", size=HASH_BYTES)
    admin = b64_field(body["admin"], "admin", size=ADMIN_KEY_BYTES)
    await storage(request).create_mailbox(mailbox, cap_hash, admin)
    state.metrics.append("mailbox")
    return json_response({"mailbox": b64e(mailbox)}, 201)


routes = [Route("/v1/mailboxes", create_mailbox, methods=["POST"])]
