"""The smallest group a lying-relay test needs: an admin behind the lying proxy and a
member who reaches the relay directly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from conftest import PASSPHRASE
from hramada.client.api import Hramada

from .lying_proxy import LyingProxy


@asynccontextmanager
async def circle_behind(proxy: LyingProxy, relay_url: str, bring_in: Callable, folder: Path
                        ) -> AsyncIterator[tuple[Hramada, Hramada, str]]:
    """Ales, the admin, reaching the relay through ``proxy``, and Hanna, reaching it
    directly, in a group "Circle"; both profiles are closed on the way out."""
    ales = Hramada.init(folder / "ales", PASSPHRASE, "Ales", transport=proxy.transport())
    hanna = Hramada.init(folder / "hanna", PASSPHRASE, "Hanna")
    try:
        g = (await ales.create_group("Circle", relay_url)).group
        await bring_in(ales, hanna, g)
        yield ales, hanna, g
    finally:
        await ales.close()
        await hanna.close()
