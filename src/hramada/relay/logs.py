"""A log that hostile traffic cannot flood.

Two pieces, installed by :mod:`hramada.relay.server`:

* :class:`BoundedLogFilter`, on the relay's log handlers: each distinct message (its
  logger and format string, not its arguments) is written at most ``burst`` times per
  ``period`` seconds; the next one written after a pause says how many were left out.
  So the log grows by a bounded number of lines per minute whatever arrives.
* :func:`loop_exception_handler`, the event loop's handler: "out of file handles" on
  accept (which Python 3.11's event loop reports once per queued connection, with a
  traceback, many times a second) becomes one line per ``period``, counting the
  occurrences; any other unexpected loop error goes through the same bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

log = logging.getLogger("hramada.relay")

ACCEPT_OUT_OF_RESOURCES = "socket.accept() out of system resource"


class BoundedLogFilter(logging.Filter):
    """Lets through at most ``burst`` records of each message per ``period`` seconds."""

    def __init__(self, *, burst: int = 5, period: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 1000) -> None:
        super().__init__()
        self.burst = burst
        self.period = period
        self._clock = clock
        self._max_keys = max_keys
        self._windows: dict[tuple[str, str], list[float]] = {}  # key -> [start, sent, dropped]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self._clock()
        window = self._windows.get(key)
        if window is None or now - window[0] >= self.period:
            dropped = int(window[2]) if window is not None else 0
            if len(self._windows) >= self._max_keys and window is None:
                self._windows.clear()
            self._windows[key] = [now, 1, 0]
            if dropped:
                record.msg = f"{record.msg} [{dropped} more like this left out of the log]"
            return True
        if window[1] < self.burst:
            window[1] += 1
            return True
        window[2] += 1
        return False


class AcceptErrors:
    """Counts accept failures for ``/v1/metrics`` and logs them at most once per period."""

    def __init__(self, *, period: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = 0
        self.period = period
        self._clock = clock
        self._last = -period
        self._since = 0
        self.kinds: Counter[str] = Counter()

    def record(self, exc: BaseException | None) -> None:
        self.total += 1
        self._since += 1
        self.kinds[type(exc).__name__ if exc is not None else "unknown"] += 1
        now = self._clock()
        if now - self._last >= self.period:
            log.error("cannot accept connections: out of file handles or memory (%s); "
                      "%d refused since the last report. Idle connections are closed after "
                      "the header timeout; raise 'ulimit -n' or lower max_connections",
                      exc, self._since)
            self._last = now
            self._since = 0


def loop_exception_handler(accept_errors: AcceptErrors) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    """The event loop's exception handler (see the module docstring)."""

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("message") == ACCEPT_OUT_OF_RESOURCES:
            accept_errors.record(context.get("exception"))
            return
        exc = context.get("exception")
        log.error("event loop: %s", context.get("message", "unexpected error"),
                  exc_info=(type(exc), exc, exc.__traceback__) if exc is not None else None)

    return handle
