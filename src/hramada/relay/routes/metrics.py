"""``GET /v1/metrics``: Prometheus text. No ids, capabilities or addresses in it."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hramada.relay.state import relay


async def metrics(request: Request) -> Response:
    return Response(relay(request).metrics.render(),
                    media_type="text/plain; version=0.0.4; charset=utf-8")


routes = [Route("/v1/metrics", metrics, methods=["GET"])]
