"""The relay as an ASGI application: ``create_app(config) -> Starlette``.

Layers, outermost first::

    MetricsMiddleware        counts every response by route template and status
    RateLimitMiddleware      429 per client address, before any routing or parsing
    InternalErrorMiddleware  a client gone mid-body -> counted as a client abort, one log line;
                             any unexpected exception -> 500 {"error": {"code": "internal"}}
    ExceptionMiddleware      ApiError / storage refusals / 404 / 405 -> JSON errors
    Router                   routes/*.py, one module per noun

The lifespan opens the storage named by ``config.db_url`` and closes it at shutdown
(finishing queued writes). Tests drive the app through ``httpx.ASGITransport`` inside
``app.router.lifespan_context(app)``; :mod:`hramada.relay.server` runs it under uvicorn.

Logging: the relay logs to the ``hramada.relay`` logger only when something is
wrong, naming the route template (never a path, an id, a capability, a body or an
address).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hramada.core.wire import b64e
from hramada.relay.api import SCOPE_BODY_TIMEOUT, ApiError, error_body, error_response, unauthorized
from hramada.relay.config import RelayConfig
from hramada.relay.metrics import UNMATCHED, Metrics, MetricsMiddleware
from hramada.relay.ratelimit import RateLimitMiddleware
from hramada.relay.routes import ROUTES
from hramada.relay.state import RelayState, relay_version
from hramada.relay.storage import open_storage
from hramada.relay.storage.base import (
    CapabilityReused,
    DropNotFound,
    DropSealed,
    Exists,
    GuestLimitReached,
    LogConflict,
    NotAdmin,
    PageNotFound,
    PagesMissing,
    PendingPagesFull,
    RetiredCapability,
    StorageRefusal,
    Unauthorized,
)

log = logging.getLogger("hramada.relay")


def refusal_to_api(exc: StorageRefusal) -> ApiError:
    """The API error for a storage refusal (the table in the spec)."""
    if isinstance(exc, Unauthorized):
        return unauthorized()
    if isinstance(exc, RetiredCapability):
        return ApiError("retired_capability", "this capability was retired by a rotation")
    if isinstance(exc, LogConflict):
        return ApiError("log_conflict", "the entry is not at head + 1 with the head's hash",
                        head={"seq": exc.head.seq, "hash": b64e(exc.head.hash)})
    if isinstance(exc, Exists):
        return ApiError("exists", str(exc))
    if isinstance(exc, NotAdmin):
        return ApiError("not_admin", str(exc))
    if isinstance(exc, CapabilityReused):
        return ApiError("bad_request", str(exc))
    if isinstance(exc, DropNotFound):
        return ApiError("not_found", "no such open drop")
    if isinstance(exc, DropSealed):
        return ApiError(f"drop_{exc.reason}", str(exc))
    if isinstance(exc, GuestLimitReached):
        return ApiError("too_large", str(exc))
    if isinstance(exc, PendingPagesFull):
        return ApiError("too_large", str(exc))
    if isinstance(exc, PageNotFound):
        return ApiError("not_found", "no such page in this mailbox")
    if isinstance(exc, PagesMissing):
        return ApiError("missing_pages", str(exc), missing=[b64e(d) for d in exc.missing])
    return ApiError("internal", "internal error")


def _rejected(request: Request, err: ApiError) -> Response:
    request.app.state.relay.metrics.reject(err.code)
    return error_response(err)


async def _on_api_error(request: Request, exc: ApiError) -> Response:
    return _rejected(request, exc)


async def _on_refusal(request: Request, exc: StorageRefusal) -> Response:
    return _rejected(request, refusal_to_api(exc))


async def _on_http_exception(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 405:
        err = ApiError("method_not_allowed", "this route does not take that method",
                       headers=exc.headers)
    else:
        err = ApiError("not_found", "no such route")
    return _rejected(request, err)


class InternalErrorMiddleware:
    """Turns an unexpected exception into ``500 internal`` (no traceback in the body)
    and logs it once, with the route template and the traceback."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            # The client went away before its body was read: nothing to answer, no bug.
            route = getattr(scope.get("route"), "path", UNMATCHED)
            if not scope.get(SCOPE_BODY_TIMEOUT):
                self.metrics.client_aborts[route] += 1
                log.info("client went away during %s %s; nothing was stored",
                         scope.get("method"), route)
        except Exception:
            route = getattr(scope.get("route"), "path", UNMATCHED)
            log.exception("internal error answering %s %s", scope.get("method"), route)
            self.metrics.reject("internal")
            if started:
                raise  # too late for a JSON error; the server closes the connection
            body = error_body("internal", "internal error; nothing was half-written")
            await send({"type": "http.response.start", "status": 500, "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})


def create_app(config: RelayConfig | None = None) -> Starlette:
    """The relay app for ``config`` (defaults and environment if None)."""
    config = RelayConfig.from_env() if config is None else config
    metrics = Metrics(relay_version())
    state = RelayState(config=config, metrics=metrics)
    metrics.gauge("hramada_relay_waiting", "Long polls in progress.",
                  lambda: state.notifier.waiting)

    # Built now so that a bad database URL fails here; opened by the lifespan.
    store = open_storage(config.db_url, synchronous=config.sqlite_synchronous)
    store.add_listener(state.notifier.changed)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.open()
        state.storage = store
        try:
            yield
        finally:
            state.notifier.close()
            state.storage = None
            await store.close()

    app = Starlette(
        routes=ROUTES,
        middleware=[
            Middleware(MetricsMiddleware, metrics=metrics),
            Middleware(RateLimitMiddleware, rate=config.rate, burst=config.burst,
                       on_reject=metrics.reject),
            Middleware(InternalErrorMiddleware, metrics=metrics),
        ],
        exception_handlers={
            ApiError: _on_api_error,
            StorageRefusal: _on_refusal,
            HTTPException: _on_http_exception,
        },
        lifespan=lifespan,
    )
    app.router.redirect_slashes = False
    app.state.relay = state
    return app
