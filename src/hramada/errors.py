"""The one root of every error Hramada raises on purpose.

    HramadaError
    ├── EncodingError          bytes that are not canonical Hramada encoding
    ├── VerificationError      something signed or chained did not check out
    │   ├── ForkError          the relay showed a history that contradicts one seen before
    │   └── ForgeryError       a signature, key or author is not what the log allows
    ├── DecryptionError        a ciphertext could not be opened with the keys we hold
    │   └── KeyWithheldError   a key rotation left this identity out (removed)
    │       └── DeviceRevokedError   … because this device was revoked
    ├── SuspicionError         the relay may be withholding something; not proven tampering
    ├── PolicyError            the group's rules forbid what was asked (say what is missing)
    ├── NotFoundError          no such group, member, request or item
    ├── ProfileError           the local profile is missing, locked or the passphrase is wrong
    ├── RelayError             the relay answered with a refusal or with nonsense
    │   └── RelayUnreachable   the relay could not be reached at all (not an alarm)
    └── core.textcode.Refused  a link code, link message, recovery kit or recovery code
                               refused, with a reason code (``devices.md``)

Docstrings are written for the person who will read them in the CLI.
"""

from __future__ import annotations


class HramadaError(Exception):
    """Something went wrong."""


class EncodingError(HramadaError, ValueError):
    """The data is not in Hramada's canonical encoding."""


class VerificationError(HramadaError):
    """A signature, hash chain or key did not verify. Treat the group as compromised
    until someone understands why."""


class ForkError(VerificationError):
    """The relay showed a group history that contradicts one this device saw before
    (rolled back, rewritten or forked)."""


class ForgeryError(VerificationError):
    """Something claims an author, key or right that the group's log does not give it."""


class DecryptionError(HramadaError):
    """A ciphertext could not be opened with the keys this device holds."""


class KeyWithheldError(DecryptionError):
    """An admin removed this identity from the group: the key rotation that removes it
    (signed by that admin) gives it no share of the new key. Also raised for an identity
    that left the group, at the first rotation after it left."""


class DeviceRevokedError(KeyWithheldError):
    """This device was revoked from the group (by another device of its member, or by an
    admin): the key rotation that revokes it gives it no share of the new key."""


class SuspicionError(HramadaError):
    """The relay may be withholding something from this device (log entries that items
    refer to, an author's missing item, a stuck head). This is not proof of tampering:
    sync again later, and if it persists, compare with another member or move the group
    to another relay. The CLI exits with status 4."""


class PolicyError(HramadaError):
    """The group's rules do not allow this yet."""


class NotFoundError(HramadaError, LookupError):
    """No such thing here."""


class ProfileError(HramadaError):
    """The local profile could not be opened."""


class RelayError(HramadaError):
    """The relay refused the request or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 detail: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.detail = detail or {}


class RelayUnreachable(RelayError):
    """The relay could not be reached (network down, relay stopped, timeout). Nothing is
    wrong with the group: what is queued is sent at the next sync."""
