"""What every route reaches through ``request.app.state.relay``."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from starlette.requests import Request

from hramada.relay.config import RelayConfig
from hramada.relay.metrics import Metrics
from hramada.relay.notify import Notifier
from hramada.relay.storage.base import Storage


def relay_version() -> str:
    try:
        return version("hramada")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"


@dataclass
class RelayState:
    config: RelayConfig
    metrics: Metrics
    notifier: Notifier = field(default_factory=Notifier)
    storage: Storage | None = None  # set while the app's lifespan runs


def relay(request: Request) -> RelayState:
    return request.app.state.relay


def storage(request: Request) -> Storage:
    store = request.app.state.relay.storage
    if store is None:
        raise RuntimeError("the relay's storage is not open (is the app's lifespan running?)")
    return store
