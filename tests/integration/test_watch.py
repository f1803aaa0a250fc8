"""Waiting for news: a member's client wakes up when another member posts,
without polling in a loop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from hramada.client import Hramada
from conftest import PASSPHRASE


def test_watch_wakes_on_news_and_times_out_without(relay_process, bring_in, tmp_path: Path) -> None:
    relay = relay_process()

    async def go() -> None:
        ales = Hramada.init(tmp_path / "a", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "h", PASSPHRASE, "Hanna")
        try:
            g = (await ales.create_group("Circle", relay.url)).group
            await bring_in(ales, hanna, g)

            t = time.monotonic()
            assert await hanna.watch(timeout=1) == []
            assert time.monotonic() - t >= 0.9

            waiting = asyncio.create_task(hanna.watch(timeout=20))
            await asyncio.sleep(0.5)
            t = time.monotonic()
            await ales.post(g, "Meeting moved to 18:00")
            [info] = await waiting
            assert info.status == "active"
            assert time.monotonic() - t < 5
            assert [b.text for b in await hanna.read(g)] == ["Meeting moved to 18:00"]
        finally:
            await ales.close()
            await hanna.close()
    asyncio.run(go())

