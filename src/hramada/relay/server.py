"""Run the relay under uvicorn.

The one entry point, for ``python -m hramada.relay serve`` and ``hramada relay serve``::

    serve(config: RelayConfig, *, announce: Callable[[str], None] | None = None) -> None

It binds ``config.host:config.port`` (port 0 picks a free port), opens the database,
and once the socket accepts connections calls ``announce(url)`` — by default
printing exactly one line to stdout, ``hramada relay listening on http://HOST:PORT``
(flushed), so scripts and tests can discover the port. It returns after SIGTERM or
SIGINT, once in-flight requests have finished (long polls are answered at once) and
the database is closed. It raises :class:`RelayStartError` if the relay could not
start (port taken, database not writable); the reason is logged to stderr.

Connections are guarded below HTTP by :mod:`hramada.relay.connections` (head and
body limits and timeouts, per-address and file-handle caps); uvicorn's own options
are used for the keep-alive timeout and the cap on requests in flight.

What is logged: warnings and errors only from uvicorn and asyncio, the relay's own
messages at ``config.log_level``, all to stderr, each distinct message at most a few
times a minute. There is no access log: request lines, paths, ids, client addresses
and the ``Authorization`` header never reach a log.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from collections.abc import Callable, Generator
from contextlib import contextmanager
from types import FrameType

import uvicorn

from hramada.relay.app import create_app
from hramada.relay.config import RelayConfig
from hramada.relay.connections import ConnectionGuard, guarded_protocol
from hramada.relay.logs import AcceptErrors, BoundedLogFilter, loop_exception_handler
from hramada.relay.state import RelayState

log = logging.getLogger("hramada.relay")


class RelayStartError(RuntimeError):
    """The relay could not start; the log says why."""


def announce_stdout(url: str) -> None:
    sys.stdout.write(f"hramada relay listening on {url}\n")
    sys.stdout.flush()


def url_of(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _RelayServer(uvicorn.Server):
    """uvicorn's server, plus: announce the real URL once listening, wake long polls
    on shutdown, and return normally (exit status 0) after SIGTERM/SIGINT."""

    def __init__(self, config: uvicorn.Config, state: RelayState,
                 announce: Callable[[str], None], accept_errors: AcceptErrors) -> None:
        super().__init__(config)
        self._state = state
        self._announce = announce
        self._accept_errors = accept_errors
        self._loop: asyncio.AbstractEventLoop | None = None
        self.url: str | None = None

    async def startup(self, sockets: list | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.set_exception_handler(loop_exception_handler(self._accept_errors))
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            port = self.servers[0].sockets[0].getsockname()[1]
            self.url = url_of(self.config.host, port)
            log.info("relay listening on %s", self.url)
            self._announce(self.url)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._state.notifier.close)

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def setup_logging(level: str) -> None:
    """Relay messages at ``level``, uvicorn's and asyncio's warnings to stderr, unless
    the embedding program already set up handlers for them; each handler we add
    writes every distinct message at most a few times a minute (:mod:`.logs`)."""
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name, lvl in (("hramada.relay", level.upper()), ("uvicorn", "WARNING"),
                      ("asyncio", "WARNING")):
        logger = logging.getLogger(name)
        logger.setLevel(lvl)
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(fmt)
            handler.addFilter(BoundedLogFilter())
            logger.addHandler(handler)
            logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True


def serve(config: RelayConfig, *, announce: Callable[[str], None] | None = None) -> None:
    """Run the relay until SIGTERM/SIGINT (see the module docstring)."""
    setup_logging(config.log_level)
    app = create_app(config)
    metrics = app.state.relay.metrics
    guard = ConnectionGuard(config)
    accept_errors = AcceptErrors()
    metrics.family("hramada_relay_connections_refused_total",
                   "Connections refused below HTTP, by reason.", "reason", guard.refused)
    metrics.family("hramada_relay_timeouts_total",
                   "Connections closed by a timeout, by what was awaited.", "phase", guard.timeouts)
    metrics.family("hramada_relay_accept_errors_total",
                   "Connections the operating system could not hand over, by error.", "error",
                   accept_errors.kinds)
    metrics.gauge("hramada_relay_connections", "Open connections.", lambda: guard.open)
    proxies = [str(net) for net in config.trusted_networks]
    uv_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        http=guarded_protocol(guard),
        ws="none",
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        # Believe X-Forwarded-For only from configured proxies (none by default).
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or "",
        timeout_keep_alive=config.keepalive_timeout,
        limit_concurrency=config.max_connections,
        timeout_graceful_shutdown=10,
    )
    server = _RelayServer(uv_config, app.state.relay, announce or announce_stdout, accept_errors)
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits when it cannot bind
        raise RelayStartError(f"the relay could not start on {config.host}:{config.port}") from exc
    if not server.started:
        raise RelayStartError("the relay could not start; see the log above")
