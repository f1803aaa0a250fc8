"""An independent suite-2 box, built from other primitives than ``hramada.core.suite2``:
ML-KEM-768 from kyber-py (pure Python, FIPS 203), X25519 and ChaCha20-Poly1305 from
raw libsodium, SHA3-256 and HKDF-SHA256 from hashlib and hmac. It follows keys.md
"Suite 2" (X-Wing inside RFC 9180's base mode) step by step, with the encapsulation
randomness given, so a box can be rebuilt byte for byte."""

from __future__ import annotations

import hashlib
import hmac

import nacl.bindings as sodium
from kyber_py.ml_kem import ML_KEM_768

SUITE_ID = b"HPKE" + (0x647A).to_bytes(2, "big") + (0x0001).to_bytes(2, "big") + (0x0003).to_bytes(2, "big")
XWING_LABEL = b"\\.//^\\"


def key_pair(secret: bytes) -> tuple[bytes, bytes, bytes]:
    """(ML-KEM decapsulation key, X25519 secret, public key) of a suite-2 secret."""
    seed = hashlib.blake2b(b"hramada:v2:hybrid-mlkem768", key=secret, digest_size=64).digest()
    xsk = hashlib.blake2b(b"hramada:v2:hybrid-x25519", key=secret, digest_size=32).digest()
    ek, dk = ML_KEM_768._keygen_internal(seed[:32], seed[32:])
    return dk, xsk, ek + sodium.crypto_scalarmult_base(xsk)


def _extract(salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt or bytes(32), b"HPKE-v1" + SUITE_ID + label + ikm, hashlib.sha256).digest()


def _expand(prk: bytes, label: bytes, info: bytes, size: int) -> bytes:
    labeled = size.to_bytes(2, "big") + b"HPKE-v1" + SUITE_ID + label + info
    out, block, i = b"", b"", 1
    while len(out) < size:
        block = hmac.new(prk, block + labeled + bytes([i]), hashlib.sha256).digest()
        out, i = out + block, i + 1
    return out[:size]


def _schedule(shared: bytes, info: bytes) -> tuple[bytes, bytes]:
    context = b"\x00" + _extract(b"", b"psk_id_hash", b"") + _extract(b"", b"info_hash", info)
    secret = _extract(shared, b"secret", b"")
    return _expand(secret, b"key", context, 32), _expand(secret, b"base_nonce", context, 12)


def _combine(ss_m: bytes, ss_x: bytes, ct_x: bytes, pk_x: bytes) -> bytes:
    return hashlib.sha3_256(ss_m + ss_x + ct_x + pk_x + XWING_LABEL).digest()


def seal(public: bytes, info: bytes, plaintext: bytes, m: bytes, ephemeral: bytes) -> bytes:
    """The box for ``public`` with ML-KEM encapsulation randomness ``m`` (32 bytes) and
    X25519 ephemeral secret ``ephemeral`` (32 bytes)."""
    ek, pk_x = public[:1184], public[1184:]
    ss_m, ct_m = ML_KEM_768._encaps_internal(ek, m)
    ct_x = sodium.crypto_scalarmult_base(ephemeral)
    key, nonce = _schedule(_combine(ss_m, sodium.crypto_scalarmult(ephemeral, pk_x), ct_x, pk_x), info)
    return ct_m + ct_x + sodium.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, b"", nonce, key)


def seal_with_ephemeral_point(public: bytes, info: bytes, plaintext: bytes, m: bytes,
                              ct_x: bytes, ss_x: bytes) -> bytes:
    """A box whose X25519 part is the point ``ct_x`` and its shared secret ``ss_x``, as a
    malicious sender would build one with a low-order point (``ss_x`` all zero)."""
    ss_m, ct_m = ML_KEM_768._encaps_internal(public[:1184], m)
    key, nonce = _schedule(_combine(ss_m, ss_x, ct_x, public[1184:]), info)
    return ct_m + ct_x + sodium.crypto_aead_chacha20poly1305_ietf_encrypt(plaintext, b"", nonce, key)


def open_box(secret: bytes, info: bytes, box: bytes) -> bytes:
    dk, xsk, public = key_pair(secret)
    ct_m, ct_x, body = box[:1088], box[1088:1120], box[1120:]
    shared = _combine(ML_KEM_768.decaps(dk, ct_m), sodium.crypto_scalarmult(xsk, ct_x), ct_x, public[1184:])
    key, nonce = _schedule(shared, info)
    return sodium.crypto_aead_chacha20poly1305_ietf_decrypt(body, b"", nonce, key)
