"""``GET /v1/mailboxes/{mailbox}/wait``: a long poll that returns as soon as the log,
item or drop-message head passes what the client has, or after ``timeout`` seconds.

Woken in-process by the storage's change notifications; re-reads the heads every
``wait_recheck_seconds`` anyway (another relay process may have written), and gives
up early when the client has gone or the relay is shutting down.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from hramada.core.wire import MAILBOX_ID_BYTES
from hramada.relay.api import MAX_INT, bearer_cap, json_response, path_id, query_ints, route
from hramada.relay.state import relay, storage


async def wait(request: Request) -> Response:
    state = relay(request)
    config = state.config
    mailbox = path_id(request, "mailbox", MAILBOX_ID_BYTES)
    q = query_ints(request, {"log": (0, 0, MAX_INT), "items": (0, 0, MAX_INT),
                             "drops": (0, 0, MAX_INT),
                             "timeout": (config.default_wait_seconds, 0, config.max_wait_seconds)})
    cap_hash, pad = bearer_cap(request)
    store = storage(request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + q["timeout"]
    with state.notifier.watch(mailbox) as news:
        while True:
            news.clear()
            heads = await store.heads(mailbox, cap_hash, pad)
            changed = heads.log > q["log"] or heads.items > q["items"] or heads.drops > q["drops"]
            remaining = deadline - loop.time()
            if changed or remaining <= 0 or state.notifier.closed:
                break
            try:
                async with asyncio.timeout(min(remaining, config.wait_recheck_seconds)):
                    await news.wait()
            except TimeoutError:
                if await request.is_disconnected():
                    break
    return json_response({"log": heads.log, "items": heads.items, "drops": heads.drops,
                          "changed": changed})


routes = [route("/v1/mailboxes/{mailbox}/wait", GET=wait)]
