"""Leaving a group: the leaver's own client says so, and the next admin to sync
rotates the key so the leaver reads nothing new."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hramada.client import Hramada
from hramada.core import crypto
from hramada.errors import DecryptionError
from conftest import PASSPHRASE


def test_leaving_rotates_the_key_at_the_next_admin_sync(relay_process, bring_in, tmp_path: Path) -> None:
    relay = relay_process()

    async def go() -> None:
        ales = Hramada.init(tmp_path / "a", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "h", PASSPHRASE, "Hanna")
        try:
            g = (await ales.create_group("Circle", relay.url)).group
            await bring_in(ales, hanna, g)
            before = hanna._find(g)
            await hanna.leave(g)
            [info] = await ales.sync()
            assert info.generation == 1 and info.members == 1
            await ales.post(g, "After Hanna left")
            # every key Hanna holds fails on the item posted after she left
            a = ales._find(g)
            [(_, ct)], _ = await ales._relay(relay.url).read_items(a.record["mailbox"], a.cap, 0)
            assert list(before.keys.generations) == [0]
            with pytest.raises(DecryptionError):
                crypto.decrypt(before.keys.generations[0].content_key, ct[5:29], ct[29:],
                               b"hramada:v1:item\x00" + ct[:5])
            assert [i.status for i in await hanna.sync()] == ["left"]
        finally:
            await ales.close()
            await hanna.close()
    asyncio.run(go())
