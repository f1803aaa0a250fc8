"""Relay settings: flags, then environment, then defaults.

Every limit in the "Limits" table of ``docs/spec/relay-api-v1.md`` is a field here.
An operator sets them with environment variables (``HRAMADA_RELAY_<FIELD>`` in
upper case, e.g. ``HRAMADA_RELAY_PORT=8470``) or with command-line flags, which win
over the environment:

=============================  ===========================  ======================
field                          environment                  default
=============================  ===========================  ======================
host                           HRAMADA_RELAY_HOST           127.0.0.1
port                           HRAMADA_RELAY_PORT           8470
db                             HRAMADA_RELAY_DB             sqlite:///<data dir>/relay.sqlite3
max_body_bytes                 HRAMADA_RELAY_MAX_BODY_BYTES 8 MiB
max_entry_bytes                ..._MAX_ENTRY_BYTES          4 MiB
max_item_bytes                 ..._MAX_ITEM_BYTES           64 KiB
max_batch_items                ..._MAX_BATCH_ITEMS          1000
default_read_limit             ..._DEFAULT_READ_LIMIT       1000
max_read_limit                 ..._MAX_READ_LIMIT           5000
max_read_bytes                 ..._MAX_READ_BYTES           8 MiB (stored bytes per read page)
max_drop_message_bytes         ..._MAX_DROP_MESSAGE_BYTES   16 KiB
max_guest_messages             ..._MAX_GUEST_MESSAGES       16
max_pending_page_bytes         ..._MAX_PENDING_PAGE_BYTES   64 MiB (key-block pages per mailbox not yet named by an entry)
rate                           HRAMADA_RELAY_RATE           2000 requests/s per client address, 0 = off
burst                          HRAMADA_RELAY_BURST          4000
max_wait_seconds               ..._MAX_WAIT_SECONDS         30
default_wait_seconds           ..._DEFAULT_WAIT_SECONDS     25
wait_recheck_seconds           ..._WAIT_RECHECK_SECONDS     2 (re-read heads from the database while waiting)
sqlite_synchronous             ..._SQLITE_SYNCHRONOUS       full (or normal: faster, may lose the last commits on power loss)
trusted_proxies                ..._TRUSTED_PROXIES          empty: nobody's X-Forwarded-For is believed (else addresses or networks, comma-separated)
max_header_bytes               ..._MAX_HEADER_BYTES         16 KiB (all header names and values of a request; more is 431)
max_header_lines               ..._MAX_HEADER_LINES         100 (more is 431)
max_url_bytes                  ..._MAX_URL_BYTES            8 KiB (the request target; more is 414)
header_timeout                 ..._HEADER_TIMEOUT           10 s (a request head must arrive within it; else 408 and close)
body_timeout                   ..._BODY_TIMEOUT             10 s (longest silence while a body is being sent; else close)
keepalive_timeout              ..._KEEPALIVE_TIMEOUT        5 s (an idle connection between requests is closed after it)
max_connections                ..._MAX_CONNECTIONS          4096 (open connections at once, fewer if file handles are short; else 503)
max_connections_per_address    ..._MAX_CONNECTIONS_PER_ADDRESS  64 (per client address, IPv6 per /64; trusted proxies exempt; else 429)
metrics_token                  ..._METRICS_TOKEN            empty: /v1/metrics is off (else it needs Authorization: Bearer TOKEN)
log_level                      HRAMADA_RELAY_LOG_LEVEL      info
=============================  ===========================  ======================

The database URL is ``sqlite:///PATH`` (``sqlite:////abs/path`` or
``sqlite:///relative/path``, as in SQLAlchemy). PostgreSQL URLs are reserved for a
later backend. A URL's password, if it ever has one, never appears in ``repr``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import platformdirs

ENV_PREFIX = "HRAMADA_RELAY_"
KIB = 1024
MIB = 1024 * 1024

# The field "db_url" is set by HRAMADA_RELAY_DB / --db (shorter, as operators type it).
_ENV_NAMES = {"db_url": "DB"}


def default_db_url() -> str:
    """``sqlite:///`` + ``relay.sqlite3`` in the platform's user data folder."""
    return "sqlite:///" + str(Path(platformdirs.user_data_dir("hramada")) / "relay.sqlite3")


def redact_url(url: str) -> str:
    """``scheme://user:***@host/db`` for a URL with a password; anything else as it is."""
    return re.sub(r"^([a-zA-Z][a-zA-Z0-9+.-]*://[^/:@]*):[^/@]*@", r"\1:***@", url)


@dataclass(frozen=True)
class RelayConfig:
    """Everything the relay needs to know to run. Immutable; build it with
    :meth:`from_env` (flags win over the environment, which wins over defaults)."""

    host: str = "127.0.0.1"
    port: int = 8470
    db_url: str = field(default_factory=default_db_url, repr=False)
    max_body_bytes: int = 8 * MIB
    max_entry_bytes: int = 4 * MIB
    max_item_bytes: int = 64 * KIB
    max_batch_items: int = 1000
    default_read_limit: int = 1000
    max_read_limit: int = 5000
    max_read_bytes: int = 8 * MIB
    max_drop_message_bytes: int = 16 * KIB
    max_guest_messages: int = 16
    max_pending_page_bytes: int = 64 * MIB
    rate: float = 2000.0
    burst: int = 4000
    max_wait_seconds: int = 30
    default_wait_seconds: int = 25
    wait_recheck_seconds: float = 2.0
    sqlite_synchronous: str = "full"
    trusted_proxies: str = ""
    max_header_bytes: int = 16 * KIB
    max_header_lines: int = 100
    max_url_bytes: int = 8 * KIB
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    max_connections: int = 4096
    max_connections_per_address: int = 64
    metrics_token: str = field(default="", repr=False)
    log_level: str = "info"

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.startswith(("max_", "default_")) and (
                    not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{f.name} must be a positive integer")
        if not (math.isfinite(self.rate) and math.isfinite(self.wait_recheck_seconds)):
            raise ValueError("rate and wait_recheck_seconds must be finite numbers")
        for name in ("header_timeout", "body_timeout", "keepalive_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and 0 < value <= 3600):
                raise ValueError(f"{name} must be more than 0 and at most 3600 seconds")
        if self.metrics_token and (len(self.metrics_token) < 16 or not self.metrics_token.isascii()
                                   or not self.metrics_token.isprintable()):
            raise ValueError("metrics_token must be at least 16 printable ASCII characters "
                             "(or empty to turn /v1/metrics off)")
        try:
            self.trusted_networks
        except ValueError:
            raise ValueError("trusted_proxies must be IP addresses or networks, comma-separated "
                             f"(not {self.trusted_proxies!r})") from None
        if self.rate < 0 or self.burst < 0:
            raise ValueError("rate and burst must not be negative (rate 0 turns the limit off)")
        if self.rate > 0 and self.burst < 1:
            raise ValueError("burst must be at least 1 when the rate limit is on")
        if self.default_wait_seconds > self.max_wait_seconds:
            raise ValueError("default_wait_seconds must not exceed max_wait_seconds")
        if self.default_read_limit > self.max_read_limit:
            raise ValueError("default_read_limit must not exceed max_read_limit")
        if self.wait_recheck_seconds <= 0:
            raise ValueError("wait_recheck_seconds must be positive")
        if self.sqlite_synchronous not in ("full", "normal"):
            raise ValueError("sqlite_synchronous must be 'full' or 'normal'")
        if self.log_level not in ("critical", "error", "warning", "info", "debug"):
            raise ValueError("log_level must be one of critical, error, warning, info, debug")

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
        return f"RelayConfig(db_url={redact_url(self.db_url)!r}, {shown})"

    @property
    def rate_limited(self) -> bool:
        return self.rate > 0

    @property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """The proxies whose ``X-Forwarded-For`` is believed (none by default)."""
        return tuple(ipaddress.ip_network(p.strip(), strict=False)
                     for p in self.trusted_proxies.split(",") if p.strip())

    def replace(self, **changes: Any) -> RelayConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def env_name(cls, name: str) -> str:
        """The environment variable that sets field ``name``."""
        return ENV_PREFIX + _ENV_NAMES.get(name, name.upper())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **flags: Any) -> RelayConfig:
        """Defaults, overridden by ``HRAMADA_RELAY_*`` variables in ``environ`` (the
        process environment if None), overridden by ``flags`` that are not None.
        A malformed value raises ValueError naming the variable."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            if flags.get(f.name) is not None:
                continue  # the flag wins; its variable is not even read
            var = cls.env_name(f.name)
            raw = environ.get(var)
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, f.type, raw, var)
        unknown = set(flags) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown relay settings: {', '.join(sorted(unknown))}")
        values.update({k: v for k, v in flags.items() if v is not None})
        return cls(**values)


def _convert(name: str, type_name: Any, raw: str, var: str) -> Any:
    kind = type_name if isinstance(type_name, str) else getattr(type_name, "__name__", "str")
    try:
        if kind == "int":
            return int(raw.strip())
        if kind == "float":
            return float(raw.strip())
    except ValueError:
        raise ValueError(f"{var} must be a number, not {raw!r}") from None
    if name in ("log_level", "sqlite_synchronous"):
        return raw.strip().lower()
    return raw.strip()
