"""What the relay and clients must compute identically: entry hashes, capability
hashes and the text form of binary fields in the relay API (base64url, no padding)."""

from __future__ import annotations

import base64
import binascii

from hramada.core import crypto
from hramada.core.encoding import encode
from hramada.errors import ForgeryError

MAILBOX_ID_BYTES = 16
DROP_ID_BYTES = 16
CAP_BYTES = 32              # drop capabilities; the secret half of a mailbox capability
MAILBOX_CAP_BYTES = 64      # a mailbox capability: secret (32) || append public key (32)
APPEND_SIG_BYTES = crypto.SIG_BYTES
APPEND_PURPOSE = "hramada:v1:entry-append"
HASH_BYTES = 32
GENESIS_PREV = bytes(HASH_BYTES)
ADMIN_KEY_BYTES = 32        # a relay-admin key (Ed25519 public key)
ADMIN_PURPOSE = "hramada:v1:relay-admin-append"
MAX_ADMINS = 256            # admin keys a mailbox holds at most


def entry_hash(mailbox: bytes, seq: int, prev: bytes, ciphertext: bytes) -> bytes:
    """The hash that the next entry's ``prev`` must name (bound to its mailbox)."""
    return crypto.hash32("hramada:v1:entry-hash", encode([mailbox, seq, prev, ciphertext]))


def cap_hash(cap: bytes) -> bytes:
    """What the relay stores in place of a bearer capability."""
    if len(cap) not in (CAP_BYTES, MAILBOX_CAP_BYTES):
        raise ValueError("a capability is 32 or 64 bytes")
    return crypto.hash32("hramada:v1:cap-hash", cap)


def append_message(mailbox: bytes, seq: int, prev: bytes, envelope: bytes) -> bytes:
    """What the append signature of an entry signs: its place and its envelope."""
    return encode([mailbox, seq, prev, envelope])


def sign_append(key: crypto.SigningKey, mailbox: bytes, seq: int, prev: bytes,
                envelope: bytes) -> bytes:
    """An entry's relay ciphertext: ``envelope || signature(64)`` (``log.md`` §2)."""
    return envelope + crypto.sign(key, APPEND_PURPOSE, append_message(mailbox, seq, prev, envelope))


def open_append(key: crypto.VerifyKey, mailbox: bytes, seq: int, prev: bytes,
                ciphertext: bytes) -> bytes:
    """The envelope of an entry whose append signature verifies with ``key``; raises
    :class:`ForgeryError` otherwise."""
    if len(ciphertext) < APPEND_SIG_BYTES:
        raise ForgeryError("an entry too short to carry its append signature")
    envelope, signature = ciphertext[:-APPEND_SIG_BYTES], ciphertext[-APPEND_SIG_BYTES:]
    crypto.verify(key, APPEND_PURPOSE, append_message(mailbox, seq, prev, envelope), signature)
    return envelope


def appended_by_holder(cap: bytes, mailbox: bytes, seq: int, prev: bytes, ciphertext: bytes) -> bool:
    """The relay's check of an append: with a mailbox capability (64 bytes) the entry
    must be signed with its append key. (A 32-byte capability carries no key.)"""
    if len(cap) != MAILBOX_CAP_BYTES:
        return True
    try:
        open_append(crypto.VerifyKey(cap[CAP_BYTES:]), mailbox, seq, prev, ciphertext)
    except ForgeryError:
        return False
    return True


def admin_message(mailbox: bytes, seq: int, prev: bytes, ciphertext: bytes,
                  new_cap_hash: bytes | None, admins: list[bytes] | None) -> bytes:
    """What an admin append's ``admin_sig`` signs (``relay-api-v1.md``): the entry (by its
    entry hash, which binds mailbox, position and ciphertext), the new capability hash
    (or null) and the new admin set (sorted; null when it does not change)."""
    return encode([entry_hash(mailbox, seq, prev, ciphertext), new_cap_hash,
                   None if admins is None else list(admins)])


def check_admin_set(admins: list[bytes]) -> list[bytes]:
    """An admin set as the relay takes it: 32-byte keys, strictly ascending, at most
    :data:`MAX_ADMINS`; raises ValueError otherwise."""
    if len(admins) > MAX_ADMINS:
        raise ValueError(f"an admin set holds at most {MAX_ADMINS} keys")
    for i, key in enumerate(admins):
        if type(key) is not bytes or len(key) != ADMIN_KEY_BYTES:
            raise ValueError(f"an admin key is {ADMIN_KEY_BYTES} bytes")
        if i and key <= admins[i - 1]:
            raise ValueError("admin keys must be sorted, without repeats")
    return admins


def sign_admin_append(key: crypto.SigningKey, mailbox: bytes, seq: int, prev: bytes, ciphertext: bytes,
                      new_cap_hash: bytes | None, admins: list[bytes] | None) -> bytes:
    return crypto.sign(key, ADMIN_PURPOSE, admin_message(mailbox, seq, prev, ciphertext,
                                                         new_cap_hash, admins))


def admin_signed(key: bytes, signature: bytes, mailbox: bytes, seq: int, prev: bytes,
                 ciphertext: bytes, new_cap_hash: bytes | None, admins: list[bytes] | None) -> bool:
    """True if ``signature`` is the relay-admin key ``key``'s over this append."""
    if len(key) != ADMIN_KEY_BYTES:
        return False
    try:
        crypto.verify(crypto.VerifyKey(key), ADMIN_PURPOSE,
                      admin_message(mailbox, seq, prev, ciphertext, new_cap_hash, admins), signature)
    except ForgeryError:
        return False
    return True


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
