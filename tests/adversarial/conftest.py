"""Fixtures for lying relays (see ``lying_proxy.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from .lying_proxy import LyingProxy


@pytest.fixture
def lying_proxy() -> Iterator[Callable[[str], LyingProxy]]:
    """Factory: ``proxy = lying_proxy(relay.url)`` starts a lying proxy on 127.0.0.1 in
    front of that relay; every proxy started is stopped at teardown."""
    started: list[LyingProxy] = []

    def start(upstream: str) -> LyingProxy:
        proxy = LyingProxy(upstream)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
