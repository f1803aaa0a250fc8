"""What the relay and clients must compute identically: entry hashes, capability
hashes and the text form of binary fields in the relay API (base64url, no padding)."""

from __future__ import annotations

import base64
import binascii

from hramada.core import crypto
from hramada.core.encoding import encode

MAILBOX_ID_BYTES = 16
DROP_ID_BYTES = 16
CAP_BYTES = 32
HASH_BYTES = 32
GENESIS_PREV = bytes(HASH_BYTES)


def entry_hash(mailbox: bytes, seq: int, prev: bytes, ciphertext: bytes) -> bytes:
    """The hash that the next entry's ``prev`` must name (bound to its mailbox)."""
    return crypto.hash32("hramada:v1:entry-hash", encode([mailbox, seq, prev, ciphertext]))


def cap_hash(cap: bytes) -> bytes:
    """What the relay stores in place of a bearer capability."""
    if len(cap) != CAP_BYTES:
        raise ValueError("a capability is 32 bytes")
    return crypto.hash32("hramada:v1:cap-hash", cap)


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str, size: int | None = None, *, field: str = "value") -> bytes:
    """Decode base64url (padding optional); raise ValueError naming ``field``."""
    if not isinstance(text, str) or len(text) > 8 * 1024 * 1024:
        raise ValueError(f"{field} must be a base64url string")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"{field} is not valid base64url") from None
    if b64e(data) != text.rstrip("="):
        raise ValueError(f"{field} is not canonical base64url")
    if size is not None and len(data) != size:
        raise ValueError(f"{field} must be {size} bytes")
    return data
