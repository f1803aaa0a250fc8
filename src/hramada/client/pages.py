"""Key-block pages on the client: upload a large key block's pages before the append
that names them, and fetch the one page this device needs to open its key box
(``keys.md`` §4.1, ``relay-api-v1.md`` "Key-block pages").

How sync uses it:

* **Writing a rotation.** ``block.pages()`` of the key block just made (empty unless
  the block is paged) goes up with :func:`upload_pages`, with the capability in force,
  *before* the append; the append names the digests (``Relay.append_log(…,
  pages=digests)``), so the relay takes it only once every page is stored. An append
  that fails leaves its pages pending; the relay drops them at the next rotation.
* **Reading one.** Folding an entry whose block is paged raises
  :class:`hramada.core.pages.PageMissing` (a refused apply changes nothing) when this
  device's page is not at hand: :func:`fetch_page` it by the digest the error names,
  add it to the pages at hand, apply again. :func:`open_key_block_fetching` does that
  for one block.

A page is used only if it hashes to the digest the signed key block names: one that
does not is refused (:class:`PageMismatch`, the relay served another page). A page the
relay does not serve is :class:`PageWithheld` — a suspicion the caller reports, never
silently skipped: without it this device cannot follow the rotation.
"""

from __future__ import annotations

from collections.abc import MutableMapping

from hramada.client.transport import Relay
from hramada.core import crypto
from hramada.core.keys import Generation, KeyBlock, Me, open_key_block
from hramada.core.pages import PageMissing, page_digest
from hramada.errors import ForgeryError, RelayError, SuspicionError


class PageWithheld(SuspicionError):
    """The relay does not serve a key-block page that a signed entry names (reason
    ``page-withheld``)."""

    reason = "page-withheld"

    def __init__(self, digest: bytes) -> None:
        super().__init__(f"the relay does not serve the key-block page {digest.hex()[:16]}… that the "
                         "group's log names; this device cannot follow the key rotation until it does")
        self.digest = digest


class PageMismatch(ForgeryError):
    """The relay served a key-block page that does not hash to the digest asked for
    (reason ``page-mismatch``); nothing from it was used."""

    reason = "page-mismatch"

    def __init__(self, digest: bytes) -> None:
        super().__init__(f"the relay served another page than the key-block page {digest.hex()[:16]}… "
                         "the group's log names; it was refused")
        self.digest = digest


async def upload_pages(relay: Relay, mailbox: bytes, cap: bytes, pages: list[bytes]) -> list[bytes]:
    """Store ``pages`` in the mailbox (idempotent) with the capability in force; returns
    their digests, in order, for the append that names them."""
    digests = []
    for page in pages:
        digest = page_digest(page)
        if not crypto.equal(await relay.put_page(mailbox, cap, page), digest):
            raise PageMismatch(digest)
        digests.append(digest)
    return digests


async def fetch_page(relay: Relay, mailbox: bytes, cap: bytes, digest: bytes) -> bytes:
    """The page ``digest`` of the mailbox, checked against its digest. ``cap`` may be
    the capability the rotation retired (the one a member behind holds)."""
    try:
        page = await relay.get_page(mailbox, cap, digest)
    except RelayError as exc:
        if exc.status == 404:
            raise PageWithheld(digest) from None
        raise
    if not crypto.equal(page_digest(page), digest):
        raise PageMismatch(digest)
    return page


async def open_key_block_fetching(relay: Relay, mailbox: bytes, cap: bytes, block: KeyBlock,
                                  previous: Generation, me: Me, *, group: bytes, seq: int,
                                  at_hand: MutableMapping[bytes, bytes]) -> Generation:
    """``open_key_block``, fetching this device's page into ``at_hand`` if the block is
    paged and it is not there yet."""
    try:
        return open_key_block(block, previous, me, group=group, seq=seq, pages_at_hand=at_hand)
    except PageMissing as missing:
        at_hand[missing.digest] = await fetch_page(relay, mailbox, cap, missing.digest)
    return open_key_block(block, previous, me, group=group, seq=seq, pages_at_hand=at_hand)
