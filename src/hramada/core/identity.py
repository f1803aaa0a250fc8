"""Identities: one fresh pseudonymous key pair per person per group.

An identity is an Ed25519 signing key (who said it) and an X25519 box key (what keys
are sealed to). A person's identities in two groups share nothing, so no one can link
the groups through them.
"""

from __future__ import annotations

from dataclasses import dataclass

from hramada.core import crypto
from hramada.core.crypto import BoxPrivateKey, BoxPublicKey, SigningKey, VerifyKey

RELAY_ADMIN_PURPOSE = "hramada:v1:relay-admin"


@dataclass(frozen=True, slots=True)
class MemberKey:
    """The public half of an identity, as the group log records it."""

    sign: VerifyKey
    box: BoxPublicKey

    @property
    def id(self) -> bytes:
        """The member's id in the log: their Ed25519 public key."""
        return self.sign.raw

    @property
    def fingerprint(self) -> str:
        return fingerprint(self)


@dataclass(frozen=True, slots=True, repr=False)
class Identity:
    """A private identity in one group."""

    signing: SigningKey
    boxing: BoxPrivateKey

    @classmethod
    def from_secrets(cls, sign_seed: bytes, box_secret: bytes) -> "Identity":
        """Rebuild an identity from 64 random bytes (or its stored secrets)."""
        return cls(SigningKey.from_seed(sign_seed), BoxPrivateKey.from_secret(box_secret))

    @property
    def public(self) -> MemberKey:
        return MemberKey(self.signing.public, self.boxing.public)

    @property
    def relay_admin(self) -> SigningKey:
        """This identity's relay-admin key (``keys.md`` §2): what signs, for the relay,
        an append that rotates the mailbox capability or changes the relay's admin set.
        Its public half enters the log with the member (``create``, join request) and
        is known to the relay while the member is an admin; it is unlinkable to the
        identity's other keys for anyone without the identity's secret."""
        return SigningKey.from_seed(crypto.derive_key(self.signing.seed, RELAY_ADMIN_PURPOSE))

    def secrets(self) -> tuple[bytes, bytes]:
        """The two 32-byte secrets, for the encrypted keystore."""
        return self.signing.seed, self.boxing.raw

    def __repr__(self) -> str:
        return f"Identity({fingerprint(self.public)})"


def fingerprint(key: MemberKey) -> str:
    """A short, stable, human-comparable name for a member key: 8 groups of 4 hex digits."""
    digest = crypto.hash32("hramada:v1:fingerprint", key.sign.raw + key.box.raw)
    text = digest[:16].hex()
    return " ".join(text[i:i + 4] for i in range(0, 32, 4))


def fingerprint_matches(key: MemberKey, text: str) -> bool:
    """True if ``text`` (any spacing, any case, at least 8 hex digits) is a prefix of the
    member's fingerprint."""
    wanted = "".join(text.split()).lower()
    full = fingerprint(key).replace(" ", "")
    return len(wanted) >= 8 and full.startswith(wanted)


def safety_code(group_id: bytes, key: MemberKey) -> str:
    """Twelve groups of five digits that two people compare in person.

    Every member's device computes the same code for the same member of the same
    group, so reading it aloud proves that both devices hold the same key for them.
    """
    material = group_id + key.sign.raw + key.box.raw
    digest = (crypto.hash32("hramada:v1:safety-code:1", material)
              + crypto.hash32("hramada:v1:safety-code:2", material))
    return " ".join(f"{int.from_bytes(digest[i * 5:i * 5 + 5], 'big') % 100000:05d}"
                    for i in range(12))
