"""The relay's HTTP routes, one module per noun; :data:`ROUTES` in the order they match."""

from __future__ import annotations

from hramada.relay.routes import drops, health, items, log, mailboxes, metrics, pages, wait

ROUTES = [
    *health.routes,
    *metrics.routes,
    *mailboxes.routes,
    *log.routes,
    *items.routes,
    *pages.routes,
    *drops.routes,
    *wait.routes,
]
