"""Drops: boxes through which an invitee (a guest, holding a drop capability) and
the group's members exchange messages before the invitee is a member.

Member side (mailbox capability)::

    POST   /v1/mailboxes/{mailbox}/drops                  open a drop (optionally until an expiry)
    DELETE /v1/mailboxes/{mailbox}/drops/{drop}           close it
    POST   /v1/mailboxes/{mailbox}/drops/{drop}/used      take no more guest messages
    POST   /v1/mailboxes/{mailbox}/drops/{drop}/messages  a member's message
    GET    /v1/mailboxes/{mailbox}/drops/messages         all drops' messages

Guest side (drop capability)::

    POST   /v1/drops/{drop}/messages                      a guest's message
    GET    /v1/drops/{drop}/messages                      this drop's messages
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from hramada.core.wire import DROP_ID_BYTES, HASH_BYTES, MAILBOX_ID_BYTES, b64e
from hramada.relay.api import (
    MAX_INT,
    b64_field,
    bearer_cap_hash,
    check_fields,
    int_field,
    json_response,
    path_id,
    query_ints,
    read_json,
    route,
)
from hramada.relay.state import relay, storage


def _from(guest: bool) -> str:
    return "guest" if guest else "member"


async def open_drop(request: Request) -> Response:
    state = relay(request)
    mailbox = path_id(request, "mailbox", MAILBOX_ID_BYTES)
    query_ints(request, {})
    cap_hash = bearer_cap_hash(request)
    body = await read_json(request, state.config.max_body_bytes)
    check_fields(body, ("drop", "cap_hash"), ("expires",))
    drop = b64_field(body["drop"], "drop", size=DROP_ID_BYTES)
    drop_cap_hash = b64_field(body["cap_hash"], "cap_hash", size=HASH_BYTES)
    expires = int_field(body.get("expires", 0), "expires")
    await storage(request).open_drop(mailbox, cap_hash, drop, drop_cap_hash, expires)
    state.metrics.append("drop")
    return json_response({"drop": b64e(drop)}, 201)


async def close_drop(request: Request) -> Response:
    mailbox = path_id(request, "mailbox", MAILBOX_ID_BYTES)
    drop = path_id(request, "drop", DROP_ID_BYTES)
    query_ints(request, {})
    cap_hash = bearer_cap_hash(request)
    await storage(request).close_drop(mailbox, cap_hash, drop)
    return json_response({"closed": True})


async def mark_used(request: Request) -> Response:
    mailbox = path_id(request, "mailbox", MAILBOX_ID_BYTES)
    drop = path_id(request, "drop", DROP_ID_BYTES)
    query_ints(request, {})
    cap_hash = bearer_cap_hash(request)
    await storage(request).mark_drop_used(mailbox, cap_hash, drop)
    return json_response({"used": True})


async def _message(request: Request) -> bytes:
    config = relay(request).config
    body = await read_json(request, config.max_body_bytes)
    check_fields(body, ("message",))
    return b64_field(body["message"], "message", max_bytes=config.max_drop_message_bytes)


async def post_member_message(request: Request) -> Response:
    mailbox = path_id(request, "mailbox", MAILBOX_ID_BYTES)
    drop = path_id(request, "drop", DROP_ID_BYTES)
    query_ints(request, {})
    cap_hash = bearer_cap_hash(request)
    message = await _message(request)
    cursor = await storage(request).post_member_message(mailbox, cap_hash, drop, message)
    relay(request).metrics.append("drop_message")
    return json_response({"cursor": cursor}, 201)


def _read_query(request: Request) -> dict[str, int]:
    config = relay(request).config
    return query_ints(request, {"after": (0, 0, MAX_INT),
                                "limit": (config.default_read_limit, 1, config.max_read_limit)})


async def read_mailbox_messages(request: Request) -> Response:
    mailbox = path_id(request, "mailbox", MAILBOX_ID_BYTES)
    q = _read_query(request)
    cap_hash = bearer_cap_hash(request)
    page = await storage(request).read_mailbox_messages(
        mailbox, cap_hash, q["after"], q["limit"], relay(request).config.max_read_bytes)
    messages = [{"cursor": m.cursor, "drop": b64e(m.drop), "from": _from(m.from_guest),
                 "message": b64e(m.message)} for m in page.messages]
    return json_response({"messages": messages, "head": page.head})


async def post_guest_message(request: Request) -> Response:
    state = relay(request)
    drop = path_id(request, "drop", DROP_ID_BYTES)
    query_ints(request, {})
    drop_cap_hash = bearer_cap_hash(request)
    message = await _message(request)
    cursor = await storage(request).post_guest_message(drop, drop_cap_hash, message,
                                                       state.config.max_guest_messages, int(time.time()))
    state.metrics.append("drop_message")
    return json_response({"cursor": cursor}, 201)


async def read_drop_messages(request: Request) -> Response:
    drop = path_id(request, "drop", DROP_ID_BYTES)
    q = _read_query(request)
    drop_cap_hash = bearer_cap_hash(request)
    page = await storage(request).read_drop_messages(
        drop, drop_cap_hash, q["after"], q["limit"], relay(request).config.max_read_bytes)
    messages = [{"cursor": m.cursor, "from": _from(m.from_guest), "message": b64e(m.message)}
                for m in page.messages]
    return json_response({"messages": messages, "head": page.head})


routes = [
    route("/v1/mailboxes/{mailbox}/drops", POST=open_drop),
    # Before ".../drops/{drop}", which would otherwise take "messages" for a drop id.
    route("/v1/mailboxes/{mailbox}/drops/messages", GET=read_mailbox_messages),
    route("/v1/mailboxes/{mailbox}/drops/{drop}", DELETE=close_drop),
    route("/v1/mailboxes/{mailbox}/drops/{drop}/used", POST=mark_used),
    route("/v1/mailboxes/{mailbox}/drops/{drop}/messages", POST=post_member_message),
    route("/v1/drops/{drop}/messages", GET=read_drop_messages, POST=post_guest_message),
]
