"""``GET /v1/metrics``: Prometheus text. No ids, capabilities or addresses in it.

Off unless the operator sets a metrics token (``HRAMADA_RELAY_METRICS_TOKEN``): the
activity rates it shows are the operator's business, not the public's. Off, the route
answers ``404 not_found`` like any unknown route; on, it needs
``Authorization: Bearer TOKEN`` (``401 unauthorized`` otherwise).
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hramada.relay.api import ApiError, unauthorized
from hramada.relay.state import relay


async def metrics(request: Request) -> Response:
    state = relay(request)
    token = state.config.metrics_token
    if not token:
        raise ApiError("not_found", "no such route")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise unauthorized("the metrics need the relay's metrics token (Authorization: Bearer ...)")
    return Response(state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


routes = [Route("/v1/metrics", metrics, methods=["GET"])]
