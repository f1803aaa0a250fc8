"""``GET /v1/health``: is the relay up (no authentication)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hramada.relay.api import json_response
from hramada.relay.state import relay


async def health(request: Request) -> Response:
    return json_response({"ok": True, "version": relay(request).metrics.version})


routes = [Route("/v1/health", health, methods=["GET"])]
