"""A relay that acknowledges an admin's rotation (201) and never keeps it. The admin's
device adopts the new generation and its capability; the relay then calls that
capability unknown. Read with the previous capability, the log lacks the entry the
device pinned: a rollback of an acknowledged write, the group's alarm, never a refusal
the person cannot get out of. Other members are unaffected."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import PASSPHRASE
from hramada.client.api import Hramada

from .circle import circle_behind
from .lying_proxy import Answer, acknowledge_rotation_unsent


def test_a_rotation_acknowledged_and_never_kept_raises_the_alarm(relay_process, lying_proxy, bring_in,
                                                                 tmp_path: Path) -> None:
    relay = relay_process()
    proxy = lying_proxy(relay.url)

    async def go() -> None:
        ihar = Hramada.init(tmp_path / "ihar", PASSPHRASE, "Ihar")
        try:
            async with circle_behind(proxy, relay.url, bring_in, tmp_path) as (ales, hanna, g):
                await bring_in(ales, ihar, g)
                await hanna.sync(g)
                generation, head = ales._find(g).log.generation, ales._find(g).log.head
                happened = acknowledge_rotation_unsent(proxy)
                await ales.remove(g, "Ihar")
                assert happened()
                assert ales._find(g).log.head[0] == head[0] + 1  # the device took the 201 as the truth
                [info] = await ales.sync(g)
                assert info.status == "alarm" and info.offline is None
                assert f"acknowledged entry {head[0] + 1} and then lost it" in info.alarm
                # the other members never saw the removal: the relay kept nothing
                for member in (hanna, ihar):
                    [other] = await member.sync(g)
                    assert other.status == "active" and other.alarm is None and other.generation == generation
                await ihar.post(g, "still here")
                assert "still here" in [b.text for b in await hanna.read(g)]
        finally:
            await ihar.close()
    asyncio.run(go())


def test_a_watch_running_while_the_rotation_is_lost_raises_the_alarm(relay_process, lying_proxy, bring_in,
                                                                     tmp_path: Path) -> None:
    """``sync --watch`` on the admin's device while a command on the same profile makes
    the rotation the relay loses: the watch's next wait is refused with the new
    capability, and the watch syncs and raises the alarm, not an outage forever."""
    relay = relay_process()
    proxy = lying_proxy(relay.url)

    async def go() -> None:
        async with circle_behind(proxy, relay.url, bring_in, tmp_path) as (ales, hanna, g):
            watcher = Hramada.open(tmp_path / "ales", PASSPHRASE, transport=proxy.transport())
            try:
                await watcher.sync()
                happened = acknowledge_rotation_unsent(proxy)
                await ales.rotate(g)
                assert happened()
                seen = []
                for _ in range(3):
                    seen += await watcher.watch(timeout=2)
                    if any(i.alarm for i in seen):
                        break
                [info] = [i for i in seen if i.alarm]
                assert "and then lost it" in info.alarm and info.status == "alarm"
            finally:
                await watcher.close()
    asyncio.run(go())


def test_when_the_previous_capability_is_refused_too_the_refusal_stands(relay_process, lying_proxy,
                                                                       bring_in, tmp_path: Path) -> None:
    """Nothing is proven when the relay refuses every capability (it can always deny
    service): the sync reports the refusal, the group is not stopped."""
    relay = relay_process()
    proxy = lying_proxy(relay.url)

    async def go() -> None:
        async with circle_behind(proxy, relay.url, bring_in, tmp_path) as (ales, hanna, g):
            happened = acknowledge_rotation_unsent(proxy)
            await ales.rotate(g)
            assert happened()

            def refuse_every_log_read(a: Answer) -> None:
                if a.method == "GET" and a.path.endswith("/log"):
                    a.status = 401
                    a.body = {"error": {"code": "unauthorized", "message": "unknown mailbox or capability"}}
            proxy.lie = refuse_every_log_read
            [info] = await ales.sync(g)
            assert info.status == "active" and info.alarm is None
            assert "unknown mailbox or capability" in info.offline
    asyncio.run(go())
