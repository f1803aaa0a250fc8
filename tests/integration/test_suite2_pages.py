"""A suite-2 group through a real relay, with key blocks large enough to travel in pages
(the page size lowered so that three members fill three pages): the writer uploads its
pages before the append, a reader fetches the one page that holds its box, and a relay
that withholds or swaps a page is refused and reported as a suspicion, never followed
in silence."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from conftest import PASSPHRASE
from hramada.client import Hramada
from hramada.core import pages, wire

from .relay_proxy import RelayProxy


@pytest.fixture
def proxy(relay_process):
    p = RelayProxy(relay_process("--rate", "0").url)
    yield p
    p.close()


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(pages, "PAGE_BOXES", 1)  # every key block of 2 or more boxes is paged


def _page_path(path: str, digest: str) -> str:
    head, _, tail = path.partition("/pages/")
    rest = tail.partition("?")[1] + tail.partition("?")[2]
    return f"{head}/pages/{digest}{rest}" if tail else path


def test_a_paged_suite2_rotation_reaches_every_member_and_a_lying_relay_is_refused(
        proxy, small_pages, bring_in, tmp_path: Path) -> None:
    async def go() -> None:
        ales = Hramada.init(tmp_path / "a", PASSPHRASE, "Ales")
        hanna = Hramada.init(tmp_path / "h", PASSPHRASE, "Hanna")
        pavel = Hramada.init(tmp_path / "p", PASSPHRASE, "Pavel")
        try:
            info = await ales.create_group("Circle", proxy.url, suite=2)
            g = info.group
            assert info.suite == 2
            await bring_in(ales, hanna, g)
            assert hanna.info(g).suite == 2 and hanna.info(g).status == "active"
            assert not proxy.stored_pages  # admitting Hanna rotated the key to Ales's one box
            # admitting Pavel rotates to Ales's and Hanna's boxes (two pages); Hanna, who did
            # not write it, fetches her page
            await bring_in(ales, pavel, g)
            assert len(proxy.stored_pages) == 2
            await ales.post(g, "After the paged rotation")
            stored = len(proxy.stored_pages)
            [h] = await hanna.sync()
            assert h.alarm is None and h.suspicion is None and h.generation == ales.info(g).generation
            assert "After the paged rotation" in [b.text for b in await hanna.read(g)]
            assert "After the paged rotation" in [b.text for b in await pavel.read(g)]

            # a relay that withholds Hanna's page of the next rotation: refused, a suspicion
            await ales.rotate(g)
            await ales.post(g, "After the relay lied")
            assert len(proxy.stored_pages) == stored + 3  # three members, three pages, uploaded first
            mine = proxy.stored_pages[-3:]
            proxy.rewrite_path = lambda path: _page_path(path, wire.b64e(bytes(32)))
            [h] = await hanna.sync()
            assert h.alarm is None and h.status == "active"
            assert h.suspicion is not None and "does not serve the key-block page" in h.suspicion
            assert h.generation == ales.info(g).generation - 1  # it did not follow the rotation
            assert "After the relay lied" not in [b.text for b in await hanna.read(g)]

            # a relay that serves another page under the digest asked for: refused too
            def swap(path: str) -> str:
                if "/pages/" not in path:
                    return path
                asked = path.partition("/pages/")[2].partition("?")[0]
                return _page_path(path, next(d for d in mine if d != asked))
            proxy.rewrite_path = swap
            [h] = await hanna.sync()
            assert h.alarm is None and h.suspicion is not None and "another page" in h.suspicion
            assert h.generation == ales.info(g).generation - 1

            # an honest relay again: the page is fetched, checked and the rotation followed
            proxy.rewrite_path = None
            [h] = await hanna.sync()
            assert h.suspicion is None and h.alarm is None and h.generation == ales.info(g).generation
            assert "After the relay lied" in [b.text for b in await hanna.read(g)]

            # an admin append (a removal) whose key block is paged: the relay is told the
            # admin set after it, which the writer works out with its own new key
            await ales.remove(g, "Pavel")
            [h] = await hanna.sync()
            assert h.alarm is None and h.members == 2 and h.generation == ales.info(g).generation
        finally:
            for person in (ales, hanna, pavel):
                await person.close()
    asyncio.run(go())
