"""Cryptographic helpers: plain functions over libsodium, each with a purpose string.

Nothing here draws randomness or reads a clock: every nonce, seed and ephemeral key
comes in as an argument, so every function is deterministic and testable byte for byte.

Suite 1 (the only suite today), named in every envelope as ``s: 1``:

==============  =====================================================
signatures      Ed25519
key delivery    X25519 + XSalsa20-Poly1305 (libsodium ``crypto_box``),
                nonce = BLAKE2b-192(ephemeral_pk || recipient_pk)
                (one sealed box per recipient is byte-identical to
                libsodium's ``crypto_box_seal``)
encryption      XChaCha20-Poly1305 (IETF), 24-byte nonces
hashing         BLAKE2b-256 keyed with the purpose string
derivation      BLAKE2b-256 keyed with the parent key, message = purpose
passphrases     Argon2id
==============  =====================================================

Every purpose string starts with ``hramada:v1:``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

import nacl.bindings as sodium
import nacl.exceptions
from nacl._sodium import ffi as _ffi, lib as _lib  # PyNaCl's own libsodium binding

from hramada.errors import DecryptionError, EncodingError, ForgeryError

SUITE = 1
PREFIX = "hramada:v1:"
KEY_BYTES = 32
NONCE_BYTES = 24
SIG_BYTES = 64
AEAD_TAG_BYTES = 16
BOX_TAG_BYTES = 16


_PURPOSES: dict[str, bytes] = {}


def _purpose(purpose: str) -> bytes:
    raw = _PURPOSES.get(purpose)
    if raw is not None:
        return raw
    if not purpose.startswith(PREFIX):
        raise ValueError(f"purpose {purpose!r} must start with {PREFIX!r}")
    raw = purpose.encode()
    if len(raw) > 64 or b"\x00" in raw:
        raise ValueError("purpose must be at most 64 bytes and contain no NUL")
    _PURPOSES[purpose] = raw
    return raw


def _need(name: str, value: bytes, size: int) -> None:
    if not isinstance(value, (bytes, bytearray)) or len(value) != size:
        raise ValueError(f"{name} must be {size} bytes")


# -- hashing and derivation ---------------------------------------------------

def _blake2b(data: bytes, key: bytes, size: int = 32) -> bytes:
    """libsodium's crypto_generichash (BLAKE2b), called without PyNaCl's slower
    argument checking (sizes are fixed by the callers below)."""
    out = _ffi.new("unsigned char[]", size)
    _lib.crypto_generichash_blake2b_salt_personal(out, size, data, len(data), key, len(key),
                                                  _ffi.NULL, _ffi.NULL)
    return _ffi.buffer(out, size)[:]


def hash32(purpose: str, data: bytes) -> bytes:
    """BLAKE2b-256 of ``data``, keyed with ``purpose`` (domain separation)."""
    return _blake2b(bytes(data), _purpose(purpose))


def derive_key(key: bytes, purpose: str) -> bytes:
    """A 32-byte subkey of ``key`` for one ``purpose``."""
    _need("key", key, KEY_BYTES)
    return _blake2b(_purpose(purpose), bytes(key))


def keyed_hash(key: bytes, purpose: str, data: bytes, size: int = 32) -> bytes:
    """BLAKE2b of ``purpose || 0 || data`` under ``key``: a MAC or an opaque label."""
    _need("key", key, KEY_BYTES)
    if not 16 <= size <= 64 and size != 8:
        raise ValueError("hash size must be 8 or 16 to 64 bytes")
    return _blake2b(_purpose(purpose) + b"\x00" + bytes(data), bytes(key), size)


def equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison of two byte strings (of public length)."""
    return hmac.compare_digest(a, b)


# -- signatures -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class VerifyKey:
    """An Ed25519 public key: who signed."""
    raw: bytes

    def __post_init__(self) -> None:
        _need("verify key", self.raw, 32)


@dataclass(frozen=True, slots=True, repr=False)
class SigningKey:
    """An Ed25519 private key, kept as its 32-byte seed."""
    seed: bytes
    public: VerifyKey
    _expanded: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> "SigningKey":
        _need("signing seed", seed, 32)
        pk, sk = sodium.crypto_sign_seed_keypair(bytes(seed))
        return cls(bytes(seed), VerifyKey(pk), sk)

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public.raw.hex()[:16]}…)"


# The functions below call libsodium through PyNaCl's own cffi binding (``nacl._sodium``)
# rather than ``nacl.bindings``, whose per-call argument checks cost as much as the
# cryptography itself for small messages; every size is checked here instead.

def sign(key: SigningKey, purpose: str, message: bytes) -> bytes:
    """Ed25519 signature over ``purpose || 0 || message``."""
    m = _purpose(purpose) + b"\x00" + message
    out = _ffi.new("unsigned char[]", len(m) + SIG_BYTES)
    if _lib.crypto_sign(out, _ffi.NULL, m, len(m), key._expanded) != 0:
        raise RuntimeError("crypto_sign failed")
    return _ffi.buffer(out, SIG_BYTES)[:]


def verify(key: VerifyKey, purpose: str, message: bytes, signature: bytes) -> None:
    """Raise :class:`ForgeryError` unless ``signature`` is ``key``'s over this message."""
    if type(signature) is not bytes or len(signature) != SIG_BYTES:
        raise ForgeryError("signature has the wrong length")
    sm = signature + _purpose(purpose) + b"\x00" + message
    out = _ffi.new("unsigned char[]", len(sm))
    mlen = _ffi.new("unsigned long long *")
    if _lib.crypto_sign_open(out, mlen, sm, len(sm), key.raw) != 0:
        raise ForgeryError("bad signature")


# -- key delivery (sealed boxes) ------------------------------------------------

_FIELD_PRIME = 2**255 - 19
# The canonical encodings of every X25519 point of order 1, 2, 4 or 8, on the curve or
# its twist (libsodium's list in crypto_scalarmult/curve25519, without the encodings at
# or above 2^255 - 19, which are refused as non-canonical anyway).
_SMALL_ORDER = frozenset(bytes.fromhex(x) for x in (
    "00" * 32,
    "01" + "00" * 31,
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ec" + "ff" * 30 + "7f",
))


def low_order(raw: bytes) -> bool:
    """True if ``raw`` is not the canonical encoding of an X25519 point of large order:
    the all-zero key and the other points of order 1, 2, 4 or 8, and encodings with the
    top bit set or at least 2^255 - 19. Sealing to such a key gives a shared secret
    anyone can compute, and libsodium refuses it."""
    return (raw[31] & 0x80 != 0 or int.from_bytes(raw, "little") >= _FIELD_PRIME
            or bytes(raw) in _SMALL_ORDER)


@dataclass(frozen=True, slots=True)
class BoxPublicKey:
    """An X25519 public key that can receive sealed keys. A low-order or non-canonical
    point is refused here, wherever a key enters (``EncodingError``, a ``ValueError``)."""
    raw: bytes

    def __post_init__(self) -> None:
        _need("box public key", self.raw, 32)
        if low_order(bytes(self.raw)):
            raise EncodingError("a box key that is a low-order or non-canonical X25519 point")


@dataclass(frozen=True, slots=True, repr=False)
class BoxPrivateKey:
    """An X25519 private key."""
    raw: bytes
    public: BoxPublicKey

    @classmethod
    def from_secret(cls, secret: bytes) -> "BoxPrivateKey":
        """The key pair whose X25519 secret is these 32 (random) bytes."""
        _need("box secret", secret, 32)
        return cls(bytes(secret), BoxPublicKey(sodium.crypto_scalarmult_base(bytes(secret))))

    def __repr__(self) -> str:
        return f"BoxPrivateKey(public={self.public.raw.hex()[:16]}…)"


def _box_nonce(epk: bytes, pk: bytes) -> bytes:
    return _blake2b(epk + pk, b"", 24)


def seal_many(recipients: list[BoxPublicKey], ephemeral_secret: bytes,
              plaintext: bytes) -> tuple[bytes, list[bytes]]:
    """Seal ``plaintext`` to each recipient under one ephemeral key.

    Returns ``(ephemeral_pk, [box, ...])`` in the order of ``recipients``. For one
    recipient, ``ephemeral_pk + box`` is exactly libsodium's ``crypto_box_seal``.
    """
    eph = BoxPrivateKey.from_secret(ephemeral_secret)
    epk = eph.public.raw
    boxes = []
    for r in recipients:
        shared = sodium.crypto_box_beforenm(r.raw, eph.raw)
        boxes.append(sodium.crypto_box_easy_afternm(plaintext, _box_nonce(epk, r.raw), shared))
    return epk, boxes


def open_sealed(key: BoxPrivateKey, ephemeral_pk: bytes, box: bytes) -> bytes:
    """Open one box made by :func:`seal_many` for ``key``."""
    try:
        _need("ephemeral key", ephemeral_pk, 32)
        shared = sodium.crypto_box_beforenm(ephemeral_pk, key.raw)
        return sodium.crypto_box_open_easy_afternm(
            box, _box_nonce(ephemeral_pk, key.public.raw), shared)
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        raise DecryptionError("a sealed key could not be opened with this identity") from None


# -- symmetric encryption -----------------------------------------------------

def encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """XChaCha20-Poly1305 of ``plaintext`` bound to ``aad``; returns ciphertext||tag."""
    _need("key", key, KEY_BYTES)
    _need("nonce", nonce, NONCE_BYTES)
    if type(plaintext) is not bytes or type(aad) is not bytes:
        raise TypeError("plaintext and associated data must be bytes")
    out = _ffi.new("unsigned char[]", len(plaintext) + AEAD_TAG_BYTES)
    _lib.crypto_aead_xchacha20poly1305_ietf_encrypt(out, _ffi.NULL, plaintext, len(plaintext), aad,
                                                    len(aad), _ffi.NULL, nonce, key)
    return _ffi.buffer(out, len(plaintext) + AEAD_TAG_BYTES)[:]


def decrypt(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
    """Open :func:`encrypt`'s output or raise :class:`DecryptionError`."""
    if (type(key) is not bytes or len(key) != KEY_BYTES or type(nonce) is not bytes
            or len(nonce) != NONCE_BYTES or type(ciphertext) is not bytes
            or len(ciphertext) < AEAD_TAG_BYTES or type(aad) is not bytes):
        raise DecryptionError("ciphertext could not be decrypted (malformed)")
    size = len(ciphertext) - AEAD_TAG_BYTES
    out = _ffi.new("unsigned char[]", max(size, 1))
    if _lib.crypto_aead_xchacha20poly1305_ietf_decrypt(out, _ffi.NULL, _ffi.NULL, ciphertext, len(ciphertext),
                                                       aad, len(aad), nonce, key) != 0:
        raise DecryptionError("ciphertext could not be decrypted (wrong key or tampered)")
    return _ffi.buffer(out, size)[:]


# -- padding ------------------------------------------------------------------

PAD_MIN = 256
PAD_STEP = 65536


def padded_size(n: int) -> int:
    """The bucket a plaintext of ``n`` bytes is padded to (its marker byte included):
    the next power of two from 256 bytes up to 64 KiB, then the next multiple of 64 KiB."""
    need = n + 1
    if need > PAD_STEP:
        return -(-need // PAD_STEP) * PAD_STEP
    size = PAD_MIN
    while size < need:
        size *= 2
    return size


def pad(plaintext: bytes) -> bytes:
    """``plaintext || 0x80 || 0x00 ...`` up to its bucket, so that a ciphertext shows its
    bucket, not its exact size."""
    return plaintext + b"\x80" + bytes(padded_size(len(plaintext)) - len(plaintext) - 1)


def unpad(padded: bytes) -> bytes:
    """Undo :func:`pad`; raise :class:`EncodingError` for anything :func:`pad` does not make."""
    body = padded.rstrip(b"\x00")
    if not body or body[-1] != 0x80 or len(padded) != padded_size(len(body) - 1):
        raise EncodingError("malformed padding")
    return body[:-1]


# -- passphrases --------------------------------------------------------------

ARGON2_OPSLIMIT = sodium.crypto_pwhash_argon2id_OPSLIMIT_MODERATE
ARGON2_MEMLIMIT = sodium.crypto_pwhash_argon2id_MEMLIMIT_MODERATE
SALT_BYTES = sodium.crypto_pwhash_SALTBYTES


def passphrase_key(passphrase: str, salt: bytes, *, opslimit: int = ARGON2_OPSLIMIT,
                   memlimit: int = ARGON2_MEMLIMIT) -> bytes:
    """A 32-byte key from a passphrase with Argon2id."""
    _need("salt", salt, SALT_BYTES)
    return sodium.crypto_pwhash_alg(32, passphrase.encode(), salt, opslimit, memlimit,
                                sodium.crypto_pwhash_ALG_ARGON2ID13)
