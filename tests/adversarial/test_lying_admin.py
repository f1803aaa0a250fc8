"""A lying relay and the admin set: it can refuse an admin's capability rotation, or
store a promotion without registering the new admin's key (deny service, which a relay
always can), but it cannot make any client accept a change that did not happen.

The relay here is a proxy in front of a real relay process that forwards the admin's
log appends without their ``admins``, ``admin_key`` and ``admin_sig``. Clients never
read an admin set from the relay, so there is nothing else it could lie about; what
every client folds is the signed log, which the relay cannot change.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hramada.errors import RelayError

from .circle import circle_behind
from .lying_proxy import drop_admin_fields


def test_a_relay_that_drops_the_admin_fields_denies_service_and_nothing_false_is_accepted(
        relay_process, lying_proxy, bring_in, tmp_path: Path) -> None:
    """The stripped rotation is refused and changes nothing; the stripped promotion is
    stored (it is Ales's true, signed entry) but leaves Hanna unable to rotate until an
    admin's next rotation, which carries the admin set, restores it."""
    relay = relay_process()
    proxy = lying_proxy(relay.url)

    async def go() -> None:
        async with circle_behind(proxy, relay.url, bring_in, tmp_path) as (ales, hanna, g):
            generation, head = ales._find(g).log.generation, ales._find(g).log.head
            proxy.rewrite = drop_admin_fields
            # the admin's rotation is refused: nothing changes anywhere
            with pytest.raises(RelayError) as refused:
                await ales.rotate(g)
            assert refused.value.status == 403 and refused.value.code == "not_admin"
            s = ales._find(g)
            assert (s.log.generation, s.log.head) == (generation, head)
            # a promotion is a true entry (Ales signed it) and every log shows it, but the
            # relay did not register Hanna's key: she cannot rotate (denied service)
            await ales.set_role(g, "Hanna", "admin")
            for h in (ales, hanna):
                [info] = await h.sync(g)
                assert info.status == "active" and info.alarm is None and info.generation == generation
            assert [m.role for m in await hanna.members(g) if m.name == "Hanna"] == ["admin"]
            with pytest.raises(RelayError) as refused:
                await hanna.rotate(g)
            assert refused.value.status == 403 and refused.value.code == "not_admin"
            # everything else goes on through the same relay
            await hanna.post(g, "posting works")
            assert [b.text for b in await ales.read(g)] == ["posting works"]
            # once the relay passes the fields on, the next rotation restores the admin set
            proxy.rewrite = None
            assert (await ales.rotate(g))["generation"] == generation + 1
            assert (await hanna.rotate(g))["generation"] == generation + 2
    asyncio.run(go())


def test_an_honest_relay_behind_the_same_proxy_takes_the_admins_changes(relay_process, lying_proxy,
                                                                          bring_in, tmp_path: Path) -> None:
    """The control: the same proxy, lying about nothing, passes the admin fields on."""
    relay = relay_process()
    proxy = lying_proxy(relay.url)

    async def go() -> None:
        async with circle_behind(proxy, relay.url, bring_in, tmp_path) as (ales, hanna, g):
            await ales.set_role(g, "Hanna", "admin")
            before = ales._find(g).log.generation
            assert (await hanna.rotate(g))["generation"] == before + 1
            [info] = await ales.sync(g)
            assert info.status == "active" and info.generation == before + 1
    asyncio.run(go())
