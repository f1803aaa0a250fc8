"""The Hramada relay: stores and serves opaque envelopes (docs/spec/relay-api-v1.md).

Run it with ``python -m hramada.relay serve`` (or ``hramada relay serve``); embed it
with :func:`hramada.relay.server.serve` or :func:`hramada.relay.app.create_app`.

Modules::

    config.py        RelayConfig: flags > HRAMADA_RELAY_* environment > defaults
    app.py           create_app(config) -> Starlette; middleware; JSON errors
    api.py           error shape, strict parsing of paths, queries, bearer and bodies
    routes/          one module per noun: health, mailboxes, log, items, drops, wait, metrics
    ratelimit.py     per-address token buckets (429 + Retry-After)
    metrics.py       Prometheus counters (no ids, no capabilities, no addresses)
    notify.py        in-process wake-ups for long polls
    storage/         base.py (the interface), sqlite.py (WAL, one writer thread), schema.py
    schema/          numbered schema files, NNN_name[.dialect].sql
    connections.py   below HTTP: head limits and timeouts, per-address and file-handle caps
    logs.py          a log that floods cannot grow: bounded messages, accept errors coalesced
    server.py        serve(config): uvicorn, port 0 discovery, clean stop on SIGTERM/SIGINT

Imports point down only: the relay uses ``hramada.core`` and ``hramada.errors``,
never ``hramada.client``.
"""
