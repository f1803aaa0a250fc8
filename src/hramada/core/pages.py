"""Key-block pages: how the boxes of a large suite-2 key block travel beside its entry.

A suite-2 box is 1,168 bytes, so the boxes of a group of 10,000 members (11.8 MB) do
not fit in one log entry (the relay's limit is 4 MiB). A key block with more than
:data:`PAGE_BOXES` boxes therefore carries, in its entry, only its labels (in order)
and the digests of its *pages*; the boxes travel as pages, content-addressed blobs
the relay stores for the mailbox (``relay-api-v1.md``, "Key-block pages").

Box ``i`` (in label order) lies at position ``i mod PAGE_BOXES`` of page
``i div PAGE_BOXES``. A page is ``encode([box, …])``: ``PAGE_BOXES`` boxes, the last
page the rest. Its digest is ``hash32("hramada:v1:key-block-page", page)``; the key
block's digest covers the page digests, so a page the relay changed does not match
(:func:`check_page`), and a member fetches only the one page that holds its box.

Pure: nothing here fetches anything. A page the caller does not have yet is a
:class:`PageMissing` naming its digest, so the caller can fetch it and try again.
"""

from __future__ import annotations

from hramada.core import crypto
from hramada.core.encoding import decode, encode
from hramada.errors import EncodingError, ForgeryError, SuspicionError

PAGE_BOXES = 256
PAGE_PURPOSE = "hramada:v1:key-block-page"
DIGEST_BYTES = 32


class PageMissing(SuspicionError):
    """A key-block page this device needs to open its box is not at hand: fetch it by
    ``digest`` from the relay (a relay that cannot serve it is withholding it)."""

    def __init__(self, digest: bytes, index: int) -> None:
        super().__init__(f"page {index} of a key block ({digest.hex()[:16]}…) is needed to open "
                         "this device's key box")
        self.digest, self.index = digest, index


def page_count(boxes: int) -> int:
    """How many pages ``boxes`` boxes take (0 for a block that keeps them inline)."""
    return 0 if boxes <= PAGE_BOXES else -(-boxes // PAGE_BOXES)


def page_digest(page: bytes) -> bytes:
    return crypto.hash32(PAGE_PURPOSE, page)


def split(boxes: list[bytes]) -> list[bytes]:
    """The pages of a key block's boxes, in label order (empty if they stay inline)."""
    if page_count(len(boxes)) == 0:
        return []
    return [encode(list(boxes[i:i + PAGE_BOXES])) for i in range(0, len(boxes), PAGE_BOXES)]


def locate(position: int) -> tuple[int, int]:
    """``(page index, index within the page)`` of the box at ``position``."""
    return divmod(position, PAGE_BOXES)


def page_size(index: int, boxes: int) -> int:
    """How many boxes page ``index`` of a block of ``boxes`` boxes holds."""
    return min(PAGE_BOXES, boxes - index * PAGE_BOXES)


def check_page(page: bytes, digest: bytes, *, index: int, boxes: int, box_bytes: int) -> list[bytes]:
    """The boxes of a fetched page, if it hashes to ``digest`` and is page ``index`` of
    a block of ``boxes`` boxes of ``box_bytes`` bytes each; else ``ForgeryError`` (a
    page that is not the one the signed key block names: the relay changed it)."""
    if type(page) is not bytes or not crypto.equal(page_digest(page), digest):
        raise ForgeryError(f"page {index} of a key block does not match its digest: "
                           "the relay served another page")
    try:
        value = decode(page)
    except EncodingError:
        raise ForgeryError(f"page {index} of a key block is malformed") from None
    if not (isinstance(value, list) and len(value) == page_size(index, boxes)
            and all(isinstance(b, bytes) and len(b) == box_bytes for b in value)):
        raise ForgeryError(f"page {index} of a key block is malformed")
    return value
