"""Cryptographic helpers: domain separation, libsodium compatibility, tamper detection."""

from __future__ import annotations

import nacl.bindings as sodium
import pytest
from nacl.public import PrivateKey, SealedBox

from hramada.core import crypto
from hramada.core.crypto import BoxPrivateKey, SigningKey, VerifyKey
from hramada.errors import DecryptionError, EncodingError, ForgeryError, VerificationError

from .world import Rand

R = Rand("crypto")
KEY = R.bytes(32)
NONCE = R.bytes(24)


# -- purposes ---------------------------------------------------------------------

@pytest.mark.parametrize("purpose", ["", "v1:x", "hramada:v2:x", "HRAMADA:v1:x",
                                     "hramada:v1:" + "x" * 60, "hramada:v1:a\x00b"])
def test_purposes_must_be_short_hramada_v1_strings(purpose):
    with pytest.raises(ValueError):
        crypto.hash32(purpose, b"data")
    with pytest.raises(ValueError):
        crypto.derive_key(KEY, purpose)
    with pytest.raises(ValueError):
        crypto.sign(SigningKey.from_seed(KEY), purpose, b"data")


def test_hash_and_derivation_are_separated_by_purpose():
    a = crypto.hash32("hramada:v1:a", b"data")
    assert len(a) == 32
    assert a == crypto.hash32("hramada:v1:a", b"data")
    assert a != crypto.hash32("hramada:v1:b", b"data")
    assert a != crypto.hash32("hramada:v1:a", b"datA")
    k1, k2 = crypto.derive_key(KEY, "hramada:v1:a"), crypto.derive_key(KEY, "hramada:v1:b")
    assert len(k1) == 32 and k1 != k2 and k1 != KEY
    assert crypto.derive_key(R.bytes(32), "hramada:v1:a") != k1


def test_keyed_hash_depends_on_key_purpose_data_and_size():
    base = crypto.keyed_hash(KEY, "hramada:v1:a", b"data")
    assert len(base) == 32
    assert len(crypto.keyed_hash(KEY, "hramada:v1:a", b"data", 8)) == 8
    # a shorter output is not a prefix of the longer one (BLAKE2b binds the size)
    assert crypto.keyed_hash(KEY, "hramada:v1:a", b"data", 8) != base[:8]
    assert crypto.keyed_hash(R.bytes(32), "hramada:v1:a", b"data") != base
    assert crypto.keyed_hash(KEY, "hramada:v1:b", b"data") != base
    assert crypto.keyed_hash(KEY, "hramada:v1:a", b"dat") != base
    # the NUL separator keeps (purpose, data) pairs from running into each other
    assert crypto.keyed_hash(KEY, "hramada:v1:a", b"") != crypto.derive_key(KEY, "hramada:v1:a")


@pytest.mark.parametrize("bad", [b"", bytes(31), bytes(33), "x" * 32])
def test_keys_of_the_wrong_size_are_refused(bad):
    with pytest.raises(ValueError):
        crypto.derive_key(bad, "hramada:v1:a")
    with pytest.raises(ValueError):
        crypto.keyed_hash(bad, "hramada:v1:a", b"")
    with pytest.raises(ValueError):
        crypto.encrypt(bad, NONCE, b"")
    with pytest.raises(ValueError):
        SigningKey.from_seed(bad)
    with pytest.raises(ValueError):
        BoxPrivateKey.from_secret(bad)


def test_equal_is_exact():
    assert crypto.equal(b"abc", b"abc")
    assert not crypto.equal(b"abc", b"abd")
    assert not crypto.equal(b"abc", b"ab")
    assert crypto.equal(b"", b"")


# -- signatures ---------------------------------------------------------------------

def test_signature_verifies_only_for_its_purpose_message_and_key():
    key = SigningKey.from_seed(R.bytes(32))
    sig = crypto.sign(key, "hramada:v1:log-entry", b"message")
    assert len(sig) == crypto.SIG_BYTES
    crypto.verify(key.public, "hramada:v1:log-entry", b"message", sig)  # no error
    with pytest.raises(ForgeryError):
        crypto.verify(key.public, "hramada:v1:item", b"message", sig)  # wrong purpose
    with pytest.raises(ForgeryError):
        crypto.verify(key.public, "hramada:v1:log-entry", b"messagE", sig)
    with pytest.raises(ForgeryError):
        crypto.verify(SigningKey.from_seed(R.bytes(32)).public, "hramada:v1:log-entry",
                      b"message", sig)
    for i in range(0, 64, 7):
        bad = bytearray(sig)
        bad[i] ^= 0x01
        with pytest.raises(ForgeryError):
            crypto.verify(key.public, "hramada:v1:log-entry", b"message", bytes(bad))


def test_a_signature_of_the_wrong_length_or_type_is_a_forgery_not_a_crash():
    key = SigningKey.from_seed(R.bytes(32))
    for sig in (b"", bytes(63), bytes(65), bytearray(64), "s" * 64):
        with pytest.raises(ForgeryError):
            crypto.verify(key.public, "hramada:v1:x", b"m", sig)
    assert issubclass(ForgeryError, VerificationError)


def test_signatures_are_plain_ed25519_over_purpose_nul_message():
    """An implementation with any Ed25519 library can check Hramada signatures."""
    seed = R.bytes(32)
    key = SigningKey.from_seed(seed)
    sig = crypto.sign(key, "hramada:v1:x", b"m")
    pk, sk = sodium.crypto_sign_seed_keypair(seed)
    assert pk == key.public.raw
    assert sodium.crypto_sign(b"hramada:v1:x\x00m", sk)[:64] == sig


def test_verify_key_must_be_32_bytes():
    with pytest.raises(ValueError):
        VerifyKey(bytes(31))


def test_private_key_reprs_do_not_show_secrets():
    seed, secret = R.bytes(32), R.bytes(32)
    text = repr(SigningKey.from_seed(seed)) + repr(BoxPrivateKey.from_secret(secret))
    assert seed.hex() not in text and secret.hex() not in text
    assert seed.hex()[:16] not in text and secret.hex()[:16] not in text


# -- sealed boxes -------------------------------------------------------------------

def test_one_box_of_seal_many_is_exactly_libsodium_crypto_box_seal():
    recipient = PrivateKey(R.bytes(32))
    me = BoxPrivateKey.from_secret(bytes(recipient))
    assert me.public.raw == bytes(recipient.public_key)
    epk, (box,) = crypto.seal_many([me.public], R.bytes(32), b"the group seed")
    # libsodium (through PyNaCl's SealedBox and the raw binding) opens it
    assert SealedBox(recipient).decrypt(epk + box) == b"the group seed"
    assert sodium.crypto_box_seal_open(epk + box, me.public.raw, me.raw) == b"the group seed"


def test_libsodium_sealed_boxes_open_with_open_sealed():
    me = BoxPrivateKey.from_secret(R.bytes(32))
    sealed = sodium.crypto_box_seal(b"from libsodium", me.public.raw)
    assert crypto.open_sealed(me, sealed[:32], sealed[32:]) == b"from libsodium"


def test_seal_many_gives_each_recipient_their_own_box():
    people = [BoxPrivateKey.from_secret(R.bytes(32)) for _ in range(4)]
    epk, boxes = crypto.seal_many([p.public for p in people], R.bytes(32), b"seed")
    assert len(boxes) == 4 and len(set(boxes)) == 4
    for person, box in zip(people, boxes):
        assert crypto.open_sealed(person, epk, box) == b"seed"
        assert sodium.crypto_box_seal_open(epk + box, person.public.raw, person.raw) == b"seed"
    # nobody can open someone else's box
    with pytest.raises(DecryptionError):
        crypto.open_sealed(people[0], epk, boxes[1])
    outsider = BoxPrivateKey.from_secret(R.bytes(32))
    for box in boxes:
        with pytest.raises(DecryptionError):
            crypto.open_sealed(outsider, epk, box)


def test_seal_many_is_deterministic_in_its_inputs():
    people = [BoxPrivateKey.from_secret(R.bytes(32)).public for _ in range(2)]
    eph = R.bytes(32)
    assert crypto.seal_many(people, eph, b"x") == crypto.seal_many(people, eph, b"x")
    assert crypto.seal_many(people, R.bytes(32), b"x") != crypto.seal_many(people, eph, b"x")


def test_tampered_sealed_boxes_do_not_open():
    me = BoxPrivateKey.from_secret(R.bytes(32))
    epk, (box,) = crypto.seal_many([me.public], R.bytes(32), b"seed")
    for i in range(len(box)):
        bad = bytearray(box)
        bad[i] ^= 0x80
        with pytest.raises(DecryptionError):
            crypto.open_sealed(me, epk, bytes(bad))
    bad_epk = bytes([epk[0] ^ 1]) + epk[1:]
    with pytest.raises(DecryptionError):
        crypto.open_sealed(me, bad_epk, box)
    for junk in (b"", epk[:31], box):
        with pytest.raises(DecryptionError):
            crypto.open_sealed(me, junk, box)
    with pytest.raises(DecryptionError):
        crypto.open_sealed(me, epk, box[:15])


# -- AEAD ---------------------------------------------------------------------------

def test_aead_round_trip_and_size():
    ct = crypto.encrypt(KEY, NONCE, b"plaintext", b"aad")
    assert len(ct) == len(b"plaintext") + crypto.AEAD_TAG_BYTES
    assert crypto.decrypt(KEY, NONCE, ct, b"aad") == b"plaintext"


def test_aead_is_libsodium_xchacha20poly1305_ietf():
    ct = crypto.encrypt(KEY, NONCE, b"plaintext", b"aad")
    assert sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ct, b"aad", NONCE, KEY) == b"plaintext"


def test_aead_detects_every_single_bit_flip():
    ct = crypto.encrypt(KEY, NONCE, b"plaintext", b"aad")
    for i in range(len(ct)):
        for bit in (0x01, 0x80):
            bad = bytearray(ct)
            bad[i] ^= bit
            with pytest.raises(DecryptionError):
                crypto.decrypt(KEY, NONCE, bytes(bad), b"aad")


@pytest.mark.parametrize(("key", "nonce", "ct_cut", "aad"), [
    (R.bytes(32), NONCE, 0, b"aad"),      # wrong key
    (KEY, R.bytes(24), 0, b"aad"),        # wrong nonce
    (KEY, NONCE, 0, b"other"),            # wrong associated data
    (KEY, NONCE, 0, b""),                 # associated data dropped
    (KEY, NONCE, 1, b"aad"),              # truncated
    (KEY, NONCE, 25, b"aad"),             # shorter than a tag
    (KEY, bytes(23), 0, b"aad"),          # malformed nonce
    (bytes(31), NONCE, 0, b"aad"),        # malformed key
])
def test_aead_refuses_the_wrong_context(key, nonce, ct_cut, aad):
    ct = crypto.encrypt(KEY, NONCE, b"plaintext", b"aad")
    ct = ct[:len(ct) - ct_cut]
    with pytest.raises(DecryptionError):
        crypto.decrypt(key, nonce, ct, aad)


def test_nonce_must_be_24_bytes_when_encrypting():
    with pytest.raises(ValueError):
        crypto.encrypt(KEY, bytes(12), b"x")


# -- passphrases --------------------------------------------------------------------

def test_passphrase_key_depends_on_passphrase_and_salt():
    salt = R.bytes(crypto.SALT_BYTES)
    fast = {"opslimit": sodium.crypto_pwhash_argon2id_OPSLIMIT_MIN,
            "memlimit": sodium.crypto_pwhash_argon2id_MEMLIMIT_MIN}
    k = crypto.passphrase_key("correct horse", salt, **fast)
    assert len(k) == 32
    assert k == crypto.passphrase_key("correct horse", salt, **fast)
    assert k != crypto.passphrase_key("correct horsE", salt, **fast)
    assert k != crypto.passphrase_key("correct horse", R.bytes(crypto.SALT_BYTES), **fast)
    with pytest.raises(ValueError):
        crypto.passphrase_key("x", bytes(8), **fast)


# -- low-order box keys ---------------------------------------------------------------

SMALL_ORDER = [bytes.fromhex(x) for x in (
    "00" * 32, "01" + "00" * 31,
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ec" + "ff" * 30 + "7f",  # p - 1
    "ed" + "ff" * 30 + "7f",  # p (non-canonical 0)
    "ee" + "ff" * 30 + "7f",  # p + 1 (non-canonical 1)
)]


@pytest.mark.parametrize("raw", SMALL_ORDER + [bytes(31) + b"\x80", b"\xff" * 32],
                         ids=lambda r: r.hex()[:8] + "…" + r.hex()[-4:])
def test_low_order_and_non_canonical_box_keys_are_refused(raw):
    """The issue's all-zero key and every other point sealing to which gives a shared
    secret anyone can compute; refused where a key enters, as malformed data."""
    assert crypto.low_order(raw)
    with pytest.raises(EncodingError, match="low-order"):
        crypto.BoxPublicKey(raw)


def test_libsodium_agrees_that_the_refused_keys_are_the_small_order_ones():
    """A clamped scalar is a multiple of 8, so it takes each of these to zero, which
    libsodium refuses; a random key goes through."""
    import nacl.bindings
    for raw in SMALL_ORDER[:5]:
        with pytest.raises(Exception):
            nacl.bindings.crypto_scalarmult(R.bytes(32), raw)
    for _ in range(50):
        key = crypto.BoxPrivateKey.from_secret(R.bytes(32)).public
        assert not crypto.low_order(key.raw)


# -- padding ------------------------------------------------------------------------------

def test_padding_hides_the_size_within_a_bucket_and_round_trips():
    sizes = {n: len(crypto.pad(bytes(n))) for n in (0, 1, 255, 256, 511, 70_000)}
    assert sizes == {0: 256, 1: 256, 255: 256, 256: 512, 511: 512, 70_000: 131_072}
    for n in (0, 7, 255, 256, 65_535, 65_536, 70_000):
        assert crypto.unpad(crypto.pad(b"\x00" * n)) == b"\x00" * n


@pytest.mark.parametrize("bad", [b"", bytes(256), b"x" * 255 + b"\x80" + bytes(1),
                                 b"abc\x80", b"\x80" + bytes(511)])
def test_anything_pad_does_not_make_is_refused(bad):
    with pytest.raises(EncodingError):
        crypto.unpad(bad)
