"""Counters for ``GET /v1/metrics`` (Prometheus text format 0.0.4).

Labels are route *templates* (``/v1/mailboxes/{mailbox}/log``), methods, statuses,
error codes and record kinds — never a mailbox id, drop id, capability or address.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    def __init__(self, version: str) -> None:
        self.version = version
        self.started = time.time()
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.rejected: Counter[str] = Counter()
        self.appended: Counter[str] = Counter()
        self.client_aborts: Counter[str] = Counter()
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}
        self.families: dict[str, tuple[str, str, Mapping[str, int]]] = {}
        self.family("hramada_relay_client_aborts_total",
                    "Requests whose client went away before the body was read, by route template.",
                    "route", self.client_aborts)

    def reject(self, code: str) -> None:
        self.rejected[code] += 1

    def append(self, kind: str, count: int = 1) -> None:
        self.appended[kind] += count

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.gauges[name] = (help_text, read)

    def family(self, name: str, help_text: str, label: str, counts: Mapping[str, int]) -> None:
        """A counter with one label, read from ``counts`` (kept up to date by its owner)."""
        self.families[name] = (help_text, label, counts)

    def render(self) -> str:
        out = [
            "# HELP hramada_relay_info The relay's version.",
            "# TYPE hramada_relay_info gauge",
            f'hramada_relay_info{{version="{self.version}"}} 1',
            "# HELP hramada_relay_start_time_seconds When the relay process started (Unix time).",
            "# TYPE hramada_relay_start_time_seconds gauge",
            f"hramada_relay_start_time_seconds {self.started:.3f}",
            "# HELP hramada_relay_requests_total HTTP requests answered, by route template, method and status.",
            "# TYPE hramada_relay_requests_total counter",
        ]
        for (route, method, status), n in sorted(self.requests.items()):
            out.append(f'hramada_relay_requests_total{{route="{route}",method="{method}",'
                       f'status="{status}"}} {n}')
        out += ["# HELP hramada_relay_rejected_total Requests refused, by error code.",
                "# TYPE hramada_relay_rejected_total counter"]
        for code, n in sorted(self.rejected.items()):
            out.append(f'hramada_relay_rejected_total{{code="{code}"}} {n}')
        out += ["# HELP hramada_relay_appended_total Records stored, by kind.",
                "# TYPE hramada_relay_appended_total counter"]
        for kind, n in sorted(self.appended.items()):
            out.append(f'hramada_relay_appended_total{{kind="{kind}"}} {n}')
        for name, (help_text, label, counts) in sorted(self.families.items()):
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
            out += [f'{name}{{{label}="{key}"}} {n}' for key, n in sorted(counts.items())]
        for name, (help_text, read) in sorted(self.gauges.items()):
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {read():g}"]
        return "\n".join(out) + "\n"


class MetricsMiddleware:
    """Counts every HTTP response by route template, method and status."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: int | None = None  # stays None if the client went away before an answer

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            if status is not None:
                route = scope.get("route")
                template = getattr(route, "path", None) or UNMATCHED
                method = scope["method"] if scope["method"] in METHODS else "other"
                self.metrics.requests[(template, method, status)] += 1
