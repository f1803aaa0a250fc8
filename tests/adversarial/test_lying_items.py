"""A relay that lies about items: inflates the item head, re-serves a member's own old
item, drops an item, shows a newcomer a removed member's backdated item, withholds the
log entries items cite. Real clients (the public API) talk to a real relay process,
some of them through a lying proxy (``lying_proxy.py``) that rewrites its answers.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx

from hramada.client import Hramada
from hramada.client.session import GroupSession
from hramada.core import items as items_mod
from hramada.core.wire import b64d, b64e
from conftest import PASSPHRASE

from .lying_proxy import add_items, drop_items, inflate_item_head, withhold_log_from


# -- what a relay (or whoever holds a capability) can do directly --------------------------

async def _relay_items(url: str, h: Hramada, g: str) -> list[tuple[int, bytes]]:
    """Every item the real relay holds, read with ``h``'s current capability."""
    s = h._find(g)
    async with httpx.AsyncClient() as c:
        r = await c.get(f"{url}/v1/mailboxes/{b64e(s.record['mailbox'])}/items",
                        params={"after": 0, "limit": 1000},
                        headers={"Authorization": f"Bearer {b64e(s.cap)}"})
        return [(i["cursor"], b64d(i["ciphertext"])) for i in r.json()["items"]]


async def _put_items(url: str, h: Hramada, g: str, cts: list[bytes]) -> None:
    """What a colluding relay can do: put any bytes into the item stream."""
    s = h._find(g)
    async with httpx.AsyncClient() as c:
        for start in range(0, len(cts), 1000):
            r = await c.post(f"{url}/v1/mailboxes/{b64e(s.record['mailbox'])}/items",
                             headers={"Authorization": f"Bearer {b64e(s.cap)}"},
                             json={"items": [b64e(ct) for ct in cts[start:start + 1000]]})
            assert r.status_code == 201, r.text


def _seal(s: GroupSession, text: str, seq: int, head: tuple[int, bytes] | None = None,
          prev: bytes = items_mod.ZERO_LINK) -> bytes:
    """An item by ``s``'s member with the keys that session holds."""
    return items_mod.seal_item(group=s.group_id, kind="bulletin", body={"title": "", "text": text},
                               author=s.identity.signing, seq=seq, head=head or s.log.head,
                               time=1_767_225_600_000, generation=s.generation, nonce=os.urandom(24),
                               prev=prev)[1]


async def _texts(h: Hramada, g: str) -> list[str]:
    return sorted(b.text for b in await h.read(g))


async def _close(*people: Hramada) -> None:
    for p in people:
        await p.close()


# -- the tests ----------------------------------------------------------------------------

def test_an_inflated_item_head_never_becomes_the_removals_cut_off(relay_process, lying_proxy, bring_in,
                                                                  tmp_path: Path) -> None:
    """The relay tells the removing admin that the item stream is a million long. The
    cut-off the admin signs is what its device verified (Hanna's last number), so the
    removed member's later post is refused by every member: shown nowhere, named as
    hers, and the group goes on (her own signature proves whose mischief it is)."""
    relay = relay_process()
    proxy = lying_proxy(relay.url)
    proxy.lie = inflate_item_head()

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales", transport=proxy.transport())
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna")
        mikola = Hramada.init(tmp_path / "mikola", PASSPHRASE, "Mikola")
        try:
            g = (await ales.create_group("Circle", relay.url, history="all")).group
            await bring_in(ales, hanna, g)
            await bring_in(ales, mikola, g)
            await hanna.post(g, "before my removal")
            before = hanna._find(g)  # Hanna's keys, kept after her removal
            await ales.remove(g, "Hanna")
            cutoff = ales._find(g).log.generations[0].items_cutoff
            assert cutoff == {before.identity.device_id: 1}
            await _put_items(relay.url, ales, g, [_seal(before, "after my removal", seq=2)])
            for reader in (mikola, ales):
                [info] = await reader.sync()
                assert info.status == "active" and info.alarm is None
                assert info.warnings == ["refused: item 2 of Hanna was posted after their removal (the "
                                         "rotation that retired its key ends their items at 1)"]
                assert await _texts(reader, g) == ["before my removal"]
        finally:
            await _close(ales, hanna, mikola)
    asyncio.run(go())


def test_an_own_item_re_served_past_a_rotation_is_not_posted_again(relay_process, lying_proxy, bring_in,
                                                                   tmp_path: Path) -> None:
    relay = relay_process()
    proxy = lying_proxy(relay.url)

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna", transport=proxy.transport())
        try:
            g = (await ales.create_group("Circle", relay.url, history="all")).group
            await bring_in(ales, hanna, g)
            await hanna.post(g, "hello")
            await hanna.sync()
            await ales.rotate(g)
            [(_, old)] = await _relay_items(relay.url, ales, g)
            proxy.lie = add_items(lambda a: [(a.body["head"] + 1, old), (a.body["head"] + 2, old)])
            for _ in range(3):
                await hanna.sync()
            assert hanna.queued(g) == []
            assert len(await _relay_items(relay.url, ales, g)) == 1
            assert await _texts(ales, g) == ["hello"]
        finally:
            await _close(ales, hanna)
    asyncio.run(go())


def test_a_raced_item_is_sent_again_once_and_a_re_served_copy_never(relay_process, lying_proxy, bring_in,
                                                                   tmp_path: Path) -> None:
    """Ales's device has not seen Hanna's item when he rotates (the relay kept it from
    him: what a race looks like), so it is stale. Hanna's device never saw it confirmed
    and sends it again under the new key, with the same number; the relay re-serving
    the stale copy afterwards does not make her send it a third time."""
    relay = relay_process()
    to_ales, to_hanna = lying_proxy(relay.url), lying_proxy(relay.url)

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales", transport=to_ales.transport())
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna", transport=to_hanna.transport())
        try:
            g = (await ales.create_group("Circle", relay.url, history="all")).group
            await bring_in(ales, hanna, g)
            to_ales.lie = drop_items(lambda cursor, ct: False)
            await hanna.post(g, "raced with the rotation")
            await ales.rotate(g)
            to_ales.lie = None
            for _ in range(2):
                await hanna.sync()
            stream = await _relay_items(relay.url, ales, g)
            assert len(stream) == 2  # the stale copy and the one sent again
            assert await _texts(ales, g) == ["raced with the rotation"]
            stale = stream[0][1]
            to_hanna.lie = add_items(lambda a: [(a.body["head"] + 1, stale)])
            for _ in range(3):
                await hanna.sync()
            assert len(await _relay_items(relay.url, ales, g)) == 2
            assert hanna.queued(g) == []
        finally:
            await _close(ales, hanna)
    asyncio.run(go())


def test_a_raced_item_its_author_saw_confirmed_still_links_the_chain_for_a_newcomer(
        relay_process, lying_proxy, bring_in, tmp_path: Path) -> None:
    """The relay keeps Hanna's item from Ales while he rotates, after Hanna's device saw
    it confirmed (so she never sends it again). Ales's next rotation binds it as her
    last; Dana, joining later, reads it as stale yet keeps its place in Hanna's chain:
    nothing is missing, nothing is refused."""
    relay = relay_process()
    to_ales = lying_proxy(relay.url)

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales", transport=to_ales.transport())
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna")
        dana = Hramada.init(tmp_path / "dana", PASSPHRASE, "Dana")
        try:
            g = (await ales.create_group("Circle", relay.url, history="all")).group
            await bring_in(ales, hanna, g)
            to_ales.lie = drop_items(lambda cursor, ct: False)
            await hanna.post(g, "raced with the rotation")
            await hanna.sync()  # confirmed on her device
            await ales.rotate(g)
            to_ales.lie = None
            await hanna.sync()
            assert hanna.queued(g) == [] and len(await _relay_items(relay.url, ales, g)) == 1
            await ales.rotate(g)  # binds Hanna's number 1, which his device found stale
            assert ales._find(g).log.generations[1].items_cutoff == {hanna._find(g).identity.device_id: 1}
            await bring_in(ales, dana, g)
            [info] = await dana.sync()
            assert info.status == "active" and info.suspicion is None
            assert not [w for w in info.warnings if "Hanna" in w]
        finally:
            await _close(ales, hanna, dana)
    asyncio.run(go())


def test_a_dropped_item_is_a_suspicion_until_the_relay_serves_it(relay_process, lying_proxy, bring_in,
                                                                 tmp_path: Path) -> None:
    relay = relay_process()
    proxy = lying_proxy(relay.url)

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna", transport=proxy.transport())
        try:
            g = (await ales.create_group("Circle", relay.url, history="all")).group
            await bring_in(ales, hanna, g)
            proxy.lie = drop_items(lambda cursor, ct: cursor != 2)
            for text in ("one", "two", "three"):
                await ales.post(g, text)
            [info] = await hanna.sync()
            assert info.status == "active" and info.alarm is None
            assert info.suspicion == "item 2 of member Ales"
            assert await _texts(hanna, g) == ["one", "three"]
            [info] = await hanna.sync()  # fetching again does not fill it: still suspected
            assert info.suspicion == "item 2 of member Ales"
            proxy.lie = None
            [info] = await hanna.sync()
            assert info.suspicion is None
            assert await _texts(hanna, g) == ["one", "three", "two"]
        finally:
            await _close(ales, hanna)
    asyncio.run(go())


def test_a_removed_members_backdated_item_shown_to_a_newcomer_is_refused(relay_process, lying_proxy,
                                                                         bring_in, tmp_path: Path) -> None:
    """After Hanna's removal, the relay colludes with her: it shows Dana, who joins
    later, an item Hanna wrote afterwards in place of her real one, below any cursor
    cut-off. Its number is past Hanna's bound in the removal: refused, wherever placed."""
    relay = relay_process()
    proxy = lying_proxy(relay.url)

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna")
        dana = Hramada.init(tmp_path / "dana", PASSPHRASE, "Dana", transport=proxy.transport())
        try:
            g = (await ales.create_group("Circle", relay.url, history="all")).group
            await bring_in(ales, hanna, g)
            await hanna.post(g, "before my removal")
            await ales.sync()
            before = hanna._find(g)
            await ales.remove(g, "Hanna")
            forged = _seal(before, "backdated", seq=2)
            proxy.lie = add_items(lambda a: [(1, forged)])
            await bring_in(ales, dana, g)
            [info] = await dana.sync()
            assert info.status == "active"
            assert [w for w in info.warnings if "item 2 of Hanna was posted after their removal" in w]
            assert await _texts(dana, g) == []
        finally:
            await _close(ales, hanna, dana)
    asyncio.run(go())


def test_a_removed_members_item_re_signed_below_the_bound_shown_to_a_newcomer_is_refused(
        relay_process, lying_proxy, bring_in, tmp_path: Path) -> None:
    """After Hanna's removal the relay colludes with her: it shows Dana, who joins later,
    another item Hanna signed with her number 2 (chained to her number 1, numbered
    within her bound) in place of the one she wrote while a member. The removal binds
    Hanna's last number *and* its link, and her number 3 names the link of the real
    number 2: the re-signed one links nowhere. Dana refuses it and names it, keeps the
    group going, misses the real one (a suspicion) and reads it once the relay serves it."""
    relay = relay_process()
    proxy = lying_proxy(relay.url)

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna")
        dana = Hramada.init(tmp_path / "dana", PASSPHRASE, "Dana", transport=proxy.transport())
        try:
            g = (await ales.create_group("Circle", relay.url, history="all")).group
            await bring_in(ales, hanna, g)
            for n in (1, 2, 3):
                await hanna.post(g, f"Hanna's number {n}")
            await ales.sync()
            kept = hanna._find(g)  # her keys, kept after her removal
            [_, (cursor2, _), _] = await _relay_items(relay.url, ales, g)
            first = {v["seq"]: v["link"] for _, v in ales.store.items(ales._find(g).ref)}[1]
            forged = _seal(kept, "what Hanna wishes she had written", seq=2, prev=first)
            await ales.remove(g, "Hanna")
            assert ales._find(g).log.generations[0].items_cutoff == {kept.identity.device_id: 3}
            proxy.lie = add_items(lambda a: [(cursor2, forged)])
            await bring_in(ales, dana, g)
            [info] = await dana.sync()
            assert info.status == "active" and info.alarm is None
            assert [w for w in info.warnings if "item 2 of Hanna is not the one the group's rotations bind"
                    in w and "signed another item with that number" in w]
            assert info.suspicion == "item 2 of member Hanna"
            shown = await _texts(dana, g)
            assert "what Hanna wishes she had written" not in shown and shown == ["Hanna's number 3"]
            proxy.lie = None
            [info] = await dana.sync()
            assert info.suspicion is None and info.alarm is None
            assert await _texts(dana, g) == [f"Hanna's number {n}" for n in (1, 2, 3)]
        finally:
            await _close(ales, hanna, dana)
    asyncio.run(go())


def test_items_citing_a_withheld_log_entry_are_a_suspicion_not_an_alarm(relay_process, lying_proxy,
                                                                        bring_in, tmp_path: Path) -> None:
    """The relay freezes Hanna's log before an entry that 1,001 items cite: she keeps at
    most 1,000 of them waiting, says what is withheld, and reads them all once the
    relay serves the entry (no fork alarm)."""
    relay = relay_process()
    proxy = lying_proxy(relay.url)

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna", transport=proxy.transport())
        try:
            g = (await ales.create_group("Circle", relay.url, history="all")).group
            await bring_in(ales, hanna, g)
            await hanna.sync()
            frozen = hanna._find(g).log.head[0]
            proxy.lie = withhold_log_from(frozen + 1)
            await ales.invite(g)  # entry frozen + 1, which the items below cite
            s = ales._find(g)
            await _put_items(relay.url, ales, g, [_seal(s, f"news {i}", seq=i + 1) for i in range(1001)])
            [info] = await hanna.sync()
            assert info.status == "active" and info.alarm is None
            assert info.suspicion == f"log entries after entry {frozen}, which 1000 items refer to"
            assert len(hanna._find(g).record["pending_items"]) == 1000
            proxy.lie = None
            [info] = await hanna.sync()
            assert info.suspicion is None
            assert len(await hanna.read(g)) == 1001
        finally:
            await _close(ales, hanna)
    asyncio.run(go())


def test_watching_a_relay_that_withholds_an_entry_backs_off_and_reports_once(relay_process, lying_proxy,
                                                                            bring_in, tmp_path: Path) -> None:
    """The relay withholds the log entry that 1,001 items cite, so its heads stay ahead of
    Hanna's cursors and every long poll answers at once. Watching for 10 s, her client
    syncs that group twice (at once, then after 5 s: it backs off, and between the two
    it waits from the heads the relay claimed), asks the relay little, and reports the
    suspicion once; then real news still wakes it."""
    import time
    relay = relay_process()
    proxy = lying_proxy(relay.url)

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna", transport=proxy.transport())
        try:
            g = (await ales.create_group("Circle", relay.url, history="all")).group
            await bring_in(ales, hanna, g)
            await hanna.sync()
            frozen = hanna._find(g).log.head[0]
            proxy.lie = withhold_log_from(frozen + 1)
            await ales.invite(g)
            s = ales._find(g)
            await _put_items(relay.url, ales, g, [_seal(s, f"news {i}", seq=i + 1) for i in range(1001)])
            [info] = await hanna.sync()
            assert info.suspicion is not None
            proxy.answers.clear()
            reported: list[str | None] = []
            start = time.monotonic()
            while time.monotonic() - start < 10:
                reported += [i.suspicion for i in await hanna.watch(timeout=2)]
            log_reads = [a for a in proxy.answers if a[1].endswith("/log")]
            assert len(log_reads) <= 4, proxy.answers  # two syncs (each reads the log twice: items wait on it)
            assert len(proxy.answers) <= 20, proxy.answers
            assert reported == [f"log entries after entry {frozen}, which 1000 items refer to"]
            proxy.lie = None
            await ales.post(g, "real news")  # past the heads the relay claimed: wakes the watcher
            seen = []
            for _ in range(3):
                seen += await hanna.watch(timeout=5)
                if seen and seen[-1].suspicion is None:
                    break
            assert seen and seen[-1].suspicion is None and seen[-1].news > 0
        finally:
            await _close(ales, hanna)
    asyncio.run(go())


def test_a_member_who_left_cannot_backdate_a_post_before_the_next_rotation(relay_process, bring_in,
                                                                          tmp_path: Path) -> None:
    """Until an admin's client rotates, someone who left still holds the key and the
    relay capability, and can post naming a head from before they left. Their leaving
    signed their last item number: the post is refused by every member and named."""
    relay = relay_process()

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna")
        mikola = Hramada.init(tmp_path / "mikola", PASSPHRASE, "Mikola")
        try:
            g = (await ales.create_group("Circle", relay.url, history="all")).group
            await bring_in(ales, hanna, g)
            await bring_in(ales, mikola, g)
            await hanna.post(g, "while a member")
            before = hanna._find(g)
            forged = _seal(before, "backdated after leaving", seq=2)  # named head: before she left
            await hanna.leave(g)
            await _put_items(relay.url, hanna, g, [forged])
            [info] = await mikola.sync()
            assert info.status == "active", info.alarm
            assert any("item 2 of Hanna was posted after they left" in w for w in info.warnings)
            assert await _texts(mikola, g) == ["while a member"]
        finally:
            await _close(ales, hanna, mikola)
    asyncio.run(go())


def test_the_cli_exits_4_on_a_dropped_item_and_shows_any_item_time_in_range(relay_process, lying_proxy,
                                                                            tmp_path: Path) -> None:
    """Everyone reaches the relay through the lying proxy (its address is the group's
    relay). It drops an item: `hramada sync` exits 4 and says what may be withheld. An
    item whose time is the largest a reader accepts (2**53 - 1 ms) reads without a
    traceback."""
    import subprocess
    import sys
    relay = relay_process()
    proxy = lying_proxy(relay.url)
    home = tmp_path / "ales"

    def hramada(*args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "HRAMADA_HOME": str(home), "HRAMADA_PASSPHRASE": PASSPHRASE}
        return subprocess.run([sys.executable, "-m", "hramada.cli.main", *args], env=env, text=True,
                              capture_output=True, timeout=120, stdin=subprocess.DEVNULL)

    async def setup() -> None:
        ales = Hramada.init(home, PASSPHRASE, "Ales")
        try:
            g = (await ales.create_group("Circle", proxy.url, history="all")).group
            for text in ("one", "two"):
                await ales.post(g, text)
            s = ales._find(g)
            far = items_mod.seal_item(group=s.group_id, kind="bulletin", body={"text": "far future"},
                                      author=s.identity.signing, seq=3, head=s.log.head, time=2**53 - 1,
                                      generation=s.generation, nonce=os.urandom(24))[1]
            await _put_items(relay.url, ales, g, [far])
        finally:
            await ales.close()
    asyncio.run(setup())
    proxy.lie = drop_items(lambda cursor, ct: cursor != 2)
    synced = hramada("sync")
    assert synced.returncode == 4, synced.stderr
    assert "item 2 of member Ales" in synced.stderr and "Traceback" not in synced.stderr
    proxy.lie = None
    read = hramada("read", "Circle")
    assert read.returncode == 0, read.stderr
    assert "far future" in read.stdout and "(time out of range)" in read.stdout
    assert "two" in read.stdout


def test_a_forged_item_found_while_signing_a_cut_off_stops_the_group(relay_process, bring_in,
                                                                    tmp_path: Path) -> None:
    """Hanna leaves; the first admin sync rotates, and verifies the items before it signs
    the cut-off. A forgery found then stops the group as a sync would, before anything
    is signed: no rotation is appended over it."""
    from hramada.core.identity import Identity
    relay = relay_process()

    async def go() -> None:
        ales = Hramada.init(tmp_path / "ales", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "hanna", PASSPHRASE, "Hanna")
        try:
            g = (await ales.create_group("Circle", relay.url, history="all")).group
            await bring_in(ales, hanna, g)
            await hanna.leave(g)
            s = ales._find(g)
            outsider = Identity.from_secrets(os.urandom(32), os.urandom(32), os.urandom(32))
            forged = items_mod.seal_item(group=s.group_id, kind="bulletin", body={"text": "forged"},
                                         author=outsider.signing, seq=1, head=s.log.head, time=1,
                                         generation=s.generation, nonce=os.urandom(24))[1]
            await _put_items(relay.url, ales, g, [forged])
            [info] = await ales.sync()
            assert info.status == "alarm" and "not a member" in info.alarm
            assert info.generation == 0  # the rotation was not signed over the forgery
        finally:
            await _close(ales, hanna)
    asyncio.run(go())
