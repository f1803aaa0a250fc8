"""Codes a person carries from one device to another: ``prefix`` followed by the
payload and a checksum in lower-case base32, and the one error every device format
refuses with.

    text  = prefix || lower(base32(payload || check))     (RFC 4648 §6, no padding)
    check = BLAKE2b-256(key = purpose, payload)[0:4]

A reader drops every white-space character, refuses anything not ASCII (before any
case mapping), ignores case, and refuses (in this order) anything that does not start
with the prefix, a character outside the base32 alphabet, and a code whose checksum does not match or whose base32 is not the
canonical encoding of its bytes (unused bits set, impossible length): so a mistyped or
truncated code is refused before its payload is read. The upper-case form
(:func:`qr_text`) uses only characters of a QR code's alphanumeric mode, which makes
the QR code about a third smaller. A checksum defends against mistakes, not against an
attacker: anyone can recompute it (``docs/spec/devices.md``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from hramada.core.names import WHITE_SPACE
from hramada.errors import HramadaError

CHECK_BYTES = 4
_ALPHABET = frozenset("abcdefghijklmnopqrstuvwxyz234567")


class Refused(HramadaError, ValueError):
    """A device link, recovery kit or recovery request that this device will not use.
    ``code`` says why (a reason code of ``docs/spec/devices.md``), ``params`` gives its
    parameters; the client turns both into words."""

    def __init__(self, code: str, message: str, **params: object) -> None:
        super().__init__(message)
        self.code, self.params = code, params


def checksum(purpose: str, payload: bytes) -> bytes:
    if not purpose.startswith("hramada:v2:") or len(purpose) > 64:
        raise ValueError("a checksum purpose is a hramada:v2: purpose of at most 64 bytes")
    return hashlib.blake2b(payload, key=purpose.encode(), digest_size=32).digest()[:CHECK_BYTES]


def to_text(prefix: str, purpose: str, payload: bytes) -> str:
    return prefix + base64.b32encode(payload + checksum(purpose, payload)).decode().rstrip("=").lower()


def qr_text(text: str) -> str:
    """The same code in upper case: every character is in a QR code's alphanumeric set
    (``0-9 A-Z -``), so an encoder can use that mode. Readers take either case."""
    return text.upper()


def from_text(text: object, *, prefix: str, purpose: str, max_chars: int, what: str) -> bytes:
    """The payload of a code, or :class:`Refused` with ``{what}-not-a-code``,
    ``{what}-characters`` or ``{what}-damaged``."""
    if not isinstance(text, str) or len(text) > 4 * max_chars:
        raise Refused(f"{what}-not-a-code", f"this is not a Hramada {what} code")
    compact = "".join(c for c in text if c not in WHITE_SPACE)
    if not compact.isascii():  # before any case mapping: U+212A KELVIN SIGN lower-cases to "k"
        bad = next(c for c in compact if not c.isascii())
        raise Refused(f"{what}-characters", f"the {what} code has characters that do not belong in it",
                      char=f"U+{ord(bad):04X}")
    compact = compact.lower()
    if len(compact) > max_chars or not compact.startswith(prefix):
        raise Refused(f"{what}-not-a-code",
                      f"this is not a Hramada {what} code (it should start with {prefix!r})")
    body = compact[len(prefix):]
    bad = next((c for c in body if c not in _ALPHABET), None)
    if bad is not None:
        raise Refused(f"{what}-characters", f"the {what} code has characters that do not belong in it",
                      char=f"U+{ord(bad):04X}")
    try:
        raw = base64.b32decode(body.upper() + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError):
        raw = b""
    if (len(raw) <= CHECK_BYTES or base64.b32encode(raw).decode().rstrip("=").lower() != body
            or checksum(purpose, raw[:-CHECK_BYTES]) != raw[-CHECK_BYTES:]):
        raise Refused(f"{what}-damaged", f"the {what} code is damaged or incomplete (check for typos)")
    return raw[:-CHECK_BYTES]
