"""Suite 2: hybrid post-quantum key delivery, X25519 + ML-KEM-768 through HPKE.

A key sealed under suite 2 stays closed unless *both* X25519 and ML-KEM-768 are broken,
so a key box harvested from a relay today is safe against a quantum computer later.
Signatures, hashing and symmetric encryption stay those of suite 1 (``crypto``).

==============  =====================================================================
KEM             ``MLKEM768-X25519`` (X-Wing, HPKE KEM id 0x647a): ML-KEM-768 (FIPS 203)
                and X25519, combined with SHA3-256
KDF             HKDF-SHA256 (id 0x0001)
AEAD            ChaCha20-Poly1305 (id 0x0003)
mode            base (RFC 9180 §5.1.1), single shot, empty AEAD data
info            ``encode([purpose, 2, group, position])``, purpose ``hramada:v2:…``
box             ``enc (1120) || ciphertext || tag (16)``
==============  =====================================================================

A key pair derives from one 32-byte random secret (:class:`HybridPrivateKey`), so the
core needs no randomness to make one. Sealing does: HPKE draws a fresh encapsulation
for every box, and pyca/cryptography cannot be handed it. So this module never seals;
the caller passes a :class:`Sealer` (the client's draws from the operating system),
and this module checks keys, builds ``info`` and opens boxes, all deterministically.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519

from hramada.core.crypto import low_order
from hramada.core.encoding import encode
from hramada.errors import DecryptionError, EncodingError

SUITE = 2
PREFIX = "hramada:v2:"
SECRET_BYTES = 32
X25519_BYTES = 32
MLKEM_SEED_BYTES = 64
MLKEM_PUBLIC_BYTES = 1184
PUBLIC_BYTES = MLKEM_PUBLIC_BYTES + X25519_BYTES          # 1216
ENC_BYTES = 1088 + X25519_BYTES                           # 1120: ML-KEM ciphertext || X25519 ephemeral
TAG_BYTES = 16
GROUP_ID_BYTES = 16                                       # log.md: the hash of the create entry, cut
BOX_OVERHEAD = ENC_BYTES + TAG_BYTES                      # 1136 bytes on top of the plaintext

# The purposes of suite 2 (keys.md, "Suite 2"). Key pairs:
X25519_PURPOSE = "hramada:v2:hybrid-x25519"
MLKEM_PURPOSE = "hramada:v2:hybrid-mlkem768"
# HPKE info, one per use:
KEY_BLOCK_BOX = "hramada:v2:key-block-box"
WELCOME = "hramada:v2:welcome"
JOIN_REQUEST = "hramada:v2:join-request"
DEVICE_LINK = "hramada:v2:device-link"
INFO_PURPOSES = frozenset({KEY_BLOCK_BOX, WELCOME, JOIN_REQUEST, DEVICE_LINK})

HPKE_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256,
                        hpke.AEAD.CHACHA20_POLY1305)


def _need(name: str, value: bytes, size: int) -> None:
    if type(value) is not bytes or len(value) != size:
        raise ValueError(f"{name} must be {size} bytes")


def derive(secret: bytes, purpose: str, size: int) -> bytes:
    """``BLAKE2b(out = size, key = secret, purpose)``: ``crypto.derive_key`` for the
    ``hramada:v2:`` purposes, at 32 or 64 bytes."""
    _need("secret", secret, SECRET_BYTES)
    if not purpose.startswith(PREFIX) or not purpose.isascii() or len(purpose) > 64:
        raise ValueError(f"purpose {purpose!r} must be ASCII, start with {PREFIX!r}, at most 64 bytes")
    if size not in (32, 64):
        raise ValueError("a derived key is 32 or 64 bytes")
    return hashlib.blake2b(purpose.encode(), key=secret, digest_size=size).digest()


# -- keys ---------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class HybridPublicKey:
    """A suite-2 public key: the ML-KEM-768 encapsulation key (1184 bytes) followed by
    the X25519 public key (32 bytes), as X-Wing and HPKE serialise it.

    Both halves are checked wherever a key enters: the ML-KEM half as FIPS 203 §7.2
    requires (every coefficient below q = 3329, the modulus check), the X25519 half as
    suite 1's box keys (no low-order or non-canonical point). Anything else is an
    :class:`EncodingError` (a ``ValueError``), and nothing is sealed to it."""
    raw: bytes
    hpke_key: hpke.MLKEM768X25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        raw = self.raw
        if type(raw) is not bytes or len(raw) != PUBLIC_BYTES:
            raise EncodingError(f"a suite-2 public key is {PUBLIC_BYTES} bytes")
        if low_order(raw[MLKEM_PUBLIC_BYTES:]):
            raise EncodingError("a suite-2 public key whose X25519 half is a low-order or "
                                "non-canonical point")
        try:
            kem_key = mlkem.MLKEM768PublicKey.from_public_bytes(raw[:MLKEM_PUBLIC_BYTES])
        except ValueError:
            raise EncodingError("a suite-2 public key whose ML-KEM-768 half fails the "
                                "FIPS 203 modulus check") from None
        dh_key = x25519.X25519PublicKey.from_public_bytes(raw[MLKEM_PUBLIC_BYTES:])
        object.__setattr__(self, "hpke_key", hpke.MLKEM768X25519PublicKey(kem_key, dh_key))

    @property
    def mlkem(self) -> bytes:
        return self.raw[:MLKEM_PUBLIC_BYTES]

    @property
    def x25519(self) -> bytes:
        return self.raw[MLKEM_PUBLIC_BYTES:]

    def __repr__(self) -> str:
        return f"HybridPublicKey({self.x25519.hex()[:16]}…)"


@dataclass(frozen=True, slots=True, repr=False)
class HybridPrivateKey:
    """A suite-2 private key, kept as the one 32-byte secret it derives from:

    ``x25519 secret = BLAKE2b(out = 32, key = secret, "hramada:v2:hybrid-x25519")``
    ``ML-KEM seed   = BLAKE2b(out = 64, key = secret, "hramada:v2:hybrid-mlkem768")``
    (the seed is ``d || z`` of FIPS 203 ``ML-KEM.KeyGen_internal``)."""
    secret: bytes
    public: HybridPublicKey
    hpke_key: hpke.MLKEM768X25519PrivateKey = field(compare=False)

    @classmethod
    def from_secret(cls, secret: bytes) -> "HybridPrivateKey":
        _need("suite-2 secret", secret, SECRET_BYTES)
        return cls.from_halves(derive(secret, MLKEM_PURPOSE, MLKEM_SEED_BYTES),
                               derive(secret, X25519_PURPOSE, X25519_BYTES), secret=secret)

    @classmethod
    def from_halves(cls, mlkem_seed: bytes, x25519_secret: bytes, *,
                    secret: bytes = b"") -> "HybridPrivateKey":
        """The key pair of an ML-KEM-768 seed (64 bytes) and an X25519 secret (32 bytes)
        given directly. Protocol keys come from :meth:`from_secret`; this exists so that
        tests can pair one half of a key with a different other half."""
        _need("ML-KEM-768 seed", mlkem_seed, MLKEM_SEED_BYTES)
        _need("X25519 secret", x25519_secret, X25519_BYTES)
        kem = mlkem.MLKEM768PrivateKey.from_seed_bytes(mlkem_seed)
        dh = x25519.X25519PrivateKey.from_private_bytes(x25519_secret)
        public = HybridPublicKey(kem.public_key().public_bytes_raw() + dh.public_key().public_bytes_raw())
        return cls(secret, public, hpke.MLKEM768X25519PrivateKey(kem, dh))

    def __repr__(self) -> str:
        return f"HybridPrivateKey(public={self.public!r})"


# -- sealing and opening ------------------------------------------------------------

def hybrid_info(purpose: str, group: bytes, position: int | bytes) -> bytes:
    """The HPKE ``info`` of one use: ``encode([purpose, 2, group, position])``.

    ``group`` is the 16-byte group id (empty where there is no group yet), ``position``
    says where in that group the box sits (for a key block: the seq of its entry)."""
    if purpose not in INFO_PURPOSES:
        raise ValueError(f"unknown suite-2 purpose {purpose!r}")
    if type(group) is not bytes or len(group) not in (0, GROUP_ID_BYTES):
        raise ValueError(f"group must be a {GROUP_ID_BYTES}-byte group id or empty")
    if not (type(position) is bytes or (type(position) is int and position >= 0)):
        raise ValueError("position must be a non-negative integer or bytes")
    return encode([purpose, SUITE, group, position])


class Sealer(Protocol):
    """Seals one plaintext to each of several suite-2 public keys, with fresh randomness
    for every box: HPKE ``SealBase(pk, info, aad = "", plaintext)`` with
    :data:`HPKE_SUITE`, each box ``enc || ciphertext``, in the order of the keys. The
    core never draws randomness, so whoever builds a key block, welcome or link passes
    one in (``hramada.client.sealing.OsSealer``); taking the whole list at once lets a
    sealer spread the work over processes without the core knowing."""

    def seal(self, recipients: list[HybridPublicKey], info: bytes, plaintext: bytes) -> list[bytes]: ...


def seal_many(sealer: Sealer, recipients: list[HybridPublicKey], info: bytes,
              plaintext: bytes) -> list[bytes]:
    """One box per recipient, in the order of ``recipients``; each box is
    ``len(plaintext) + 1136`` bytes (anything else from the sealer is refused)."""
    if type(plaintext) is not bytes or type(info) is not bytes:
        raise TypeError("plaintext and info must be bytes")
    if not all(isinstance(r, HybridPublicKey) for r in recipients):
        raise TypeError("recipients must be suite-2 public keys")
    boxes = sealer.seal(list(recipients), info, plaintext)
    if len(boxes) != len(recipients) or any(
            type(b) is not bytes or len(b) != len(plaintext) + BOX_OVERHEAD for b in boxes):
        raise ValueError("the sealer returned the wrong number of boxes or a box of the wrong size")
    return boxes


def open_box(key: HybridPrivateKey, info: bytes, box: bytes) -> bytes:
    """Open one suite-2 box for ``key`` under ``info``, or raise :class:`DecryptionError`
    (wrong key — either half —, wrong info, tampered, truncated)."""
    if type(box) is not bytes or len(box) < BOX_OVERHEAD or type(info) is not bytes:
        raise DecryptionError("a suite-2 box could not be opened (malformed)")
    if low_order(box[ENC_BYTES - X25519_BYTES:ENC_BYTES]):
        # An honest sealer's ephemeral key is never one; refusing it here means every
        # implementation gives the same verdict, whatever its X25519 does with one.
        raise DecryptionError("a suite-2 box whose X25519 ephemeral key is a low-order point")
    try:
        return HPKE_SUITE.decrypt(box, key.hpke_key, info=info)
    except (InvalidTag, ValueError):
        raise DecryptionError("a suite-2 box could not be opened with this key") from None
