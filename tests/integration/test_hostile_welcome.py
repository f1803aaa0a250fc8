"""A hostile member drops a stale welcome into a newcomer's drop box, before the real
one, through a real relay.

Bob still holds generation 0, which was rotated away before Hanna was invited, and can
see Hanna's box key and request id in the log. He seals her a welcome with generation 0.
Before welcomes were bound to their admit entry, Hanna's client folded the log with
it, met the rotation that gives her no key, and concluded she had been removed: she
was locked out for good. Now that welcome does not fit, and the next one does.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from conftest import PASSPHRASE
from hramada.client.sealing import OsSealer
from hramada.client import Hramada
from hramada.core import invitation as inv
from hramada.core.identity import public_box_key


def test_a_stale_welcome_dropped_first_does_not_lock_the_newcomer_out(relay_process, bring_in,
                                                                     tmp_path: Path) -> None:
    relay = relay_process()

    async def go() -> None:
        ales = Hramada.init(tmp_path / "a", PASSPHRASE, "Ales")
        bob = Hramada.init(tmp_path / "b", PASSPHRASE, "Bob")
        hanna = Hramada.init(tmp_path / "h", PASSPHRASE, "Hanna")
        try:
            g = (await ales.create_group("Circle", relay.url, suite=2)).group
            await bring_in(ales, bob, g)
            await ales.rotate(g)
            await bob.sync()
            join = await hanna.join((await ales.invite(g))["code"])
            await ales.sync()  # the join request enters the log
            await bob.sync()

            # bob's modified client: a welcome for Hanna with the old generation 0
            s = bob._find(g)
            req = s.log.requests[bytes.fromhex(join.request)]
            stale = inv.make_welcome(public_box_key(req.device.box), os.urandom(32), s.group_id, req.id,
                                     s.keys.generations[0], admit=(s.log.head[0] + 1, os.urandom(32)),
                                     starts=[], sealer=OsSealer())
            await bob._relay(relay.url).post_to_drop(s.record["mailbox"], s.cap,
                                                     s.log.invites[req.invite].drop, stale)

            await ales.vouch(g, join.request)
            await ales.admit(g, join.request)  # the real welcome goes out after bob's
            [info] = await hanna.sync()
            assert info.status == "active", info
            assert sorted(m.name for m in await hanna.members(g)) == ["Ales", "Bob", "Hanna"]
            await ales.post(g, "Welcome, Hanna")
            assert [i.text for i in await hanna.read(g)] == ["Welcome, Hanna"]
        finally:
            for h in (ales, bob, hanna):
                await h.close()
    asyncio.run(go())
