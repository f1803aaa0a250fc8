"""Key-block pages between a client and a real (in-process) relay: the writer uploads
the pages of a paged suite-2 key block and appends the rotation naming them; a member
behind fetches the one page that holds its box with the capability the rotation
retired, and opens it. A relay that serves another page is refused; one that does not
serve it raises a suspicion."""

from __future__ import annotations

import hashlib
import json
import os

import httpx
import pytest

from hramada.client.pages import PageMismatch, PageWithheld, fetch_page, open_key_block_fetching, upload_pages
from hramada.client.sealing import OsSealer
from hramada.client.transport import Relay
from hramada.core import crypto, pages, wire
from hramada.core.admins import AdminClaim
from hramada.core.encoding import decode, encode
from hramada.core.keys import Generation, KeyBlock, make_key_block
from hramada.core.suite2 import HybridPrivateKey
from hramada.errors import RelayError

pytestmark = pytest.mark.anyio

GROUP, SEQ = bytes(range(16)), 2
ADMIN = crypto.SigningKey.from_seed(bytes(range(32)))
G0, G1 = Generation(0, bytes(range(32))), Generation(1, bytes(range(1, 33)))
MEMBERS = [HybridPrivateKey.from_secret(hashlib.blake2b(b"m%d" % i, digest_size=32).digest())
           for i in range(pages.PAGE_BOXES + 20)]


class Tampering(httpx.AsyncBaseTransport):
    """The in-process relay, with page answers rewritten by ``self.page`` if set."""

    def __init__(self, app) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.page = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if self.page is None or request.method != "GET" or "/pages/" not in request.url.path:
            return response
        await response.aread()
        return httpx.Response(200, headers={"content-type": "application/json"},
                              content=json.dumps({"page": wire.b64e(self.page)}).encode())


@pytest.fixture
async def setup(relay_asgi):
    served = await relay_asgi()
    transport = Tampering(served.app)
    relay = Relay("http://relay.test", transport=transport)
    mailbox, cap = os.urandom(16), G0.relay_cap
    await relay.create_mailbox(mailbox, wire.cap_hash(cap), ADMIN.public.raw)
    block = make_key_block(G0, G1, [m.public for m in MEMBERS], b"", author=ADMIN, group=GROUP, seq=SEQ,
                           auth_nonce=bytes(24), sealer=OsSealer())
    yield relay, transport, mailbox, cap, block
    await relay.close()


async def append_rotation(relay: Relay, mailbox: bytes, cap: bytes, block: KeyBlock, digests: list[bytes]):
    """Entry 1, then entry 2 carrying the key block (its stand-in envelope), rotating the
    capability to G1's and naming the pages."""
    first = wire.sign_append(G0.append_key, mailbox, 1, wire.GENESIS_PREV, b"create")
    seq, head = await relay.append_log(mailbox, cap, 1, wire.GENESIS_PREV, first)
    envelope = encode({"k": block.to_value()})
    second = wire.sign_append(G0.append_key, mailbox, SEQ, head, envelope)
    return await relay.append_log(mailbox, cap, SEQ, head, second, new_cap_hash=wire.cap_hash(G1.relay_cap),
                                  claim=_claim(mailbox, SEQ, head, second), pages=digests)


def _claim(mailbox, seq, prev, ciphertext) -> AdminClaim:
    """What a real rotation carries for the relay: the admin's signature over the append."""
    new = wire.cap_hash(G1.relay_cap)
    sig = wire.sign_admin_append(ADMIN, mailbox, seq, prev, ciphertext, new, None)
    return AdminClaim(None, ADMIN.public.raw, sig)


async def test_a_member_behind_fetches_its_one_page_and_opens_its_box(setup):
    relay, _, mailbox, cap, block = setup
    digests = await upload_pages(relay, mailbox, cap, block.pages())
    assert digests == list(block.page_digests)
    await append_rotation(relay, mailbox, cap, block, digests)
    # The member reads the entry with its (now retired) capability, as the relay has it.
    entries, _ = await relay.read_log(mailbox, cap, 1)
    carried = KeyBlock.from_value(decode(entries[0].ciphertext[:-wire.APPEND_SIG_BYTES])["k"])
    assert carried.paged and all(box == b"" for _, box in carried.boxes)
    at_hand: dict[bytes, bytes] = {}
    for me in (MEMBERS[0], MEMBERS[-1]):
        got = await open_key_block_fetching(relay, mailbox, cap, carried, G0, me, group=GROUP, seq=SEQ,
                                            at_hand=at_hand)
        assert got.seed == G1.seed
    assert set(at_hand) <= set(block.page_digests) and at_hand


async def test_an_append_naming_pages_not_uploaded_is_refused(setup):
    relay, _, mailbox, cap, block = setup
    with pytest.raises(RelayError) as refused:
        await append_rotation(relay, mailbox, cap, block, list(block.page_digests))
    assert refused.value.status == 409 and refused.value.code == "missing_pages"


async def test_a_page_that_does_not_hash_to_its_digest_is_refused(setup):
    relay, transport, mailbox, cap, block = setup
    real = block.pages()
    await upload_pages(relay, mailbox, cap, real)
    transport.page = real[1]  # the relay answers with another (genuine) page
    with pytest.raises(PageMismatch) as refused:
        await fetch_page(relay, mailbox, cap, block.page_digests[0])
    assert refused.value.reason == "page-mismatch"
    transport.page = None
    assert await fetch_page(relay, mailbox, cap, block.page_digests[0]) == real[0]


async def test_a_withheld_page_is_a_suspicion_never_silent(setup):
    relay, _, mailbox, cap, block = setup
    with pytest.raises(PageWithheld) as withheld:
        await open_key_block_fetching(relay, mailbox, cap, KeyBlock.from_value(block.to_value()), G0,
                                      MEMBERS[3], group=GROUP, seq=SEQ, at_hand={})
    assert withheld.value.reason == "page-withheld" and withheld.value.digest in block.page_digests
