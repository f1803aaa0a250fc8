"""Suite 2 (keys.md "Suite 2"): hybrid X25519 + ML-KEM-768 key delivery through HPKE.

A box opens only with both halves of its recipient's key, under the info it was sealed
with, untouched; keys are checked where they enter; the construction is the one the
spec states, as an independent build from kyber-py, libsodium and hashlib shows."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings, strategies as st

from hramada.client.sealing import OsSealer
from hramada.core import crypto
from hramada.core.encoding import encode
from hramada.core.suite2 import (BOX_OVERHEAD, DEVICE_LINK, ENC_BYTES, JOIN_REQUEST, KEY_BLOCK_BOX,
                                 MLKEM_PUBLIC_BYTES, PUBLIC_BYTES, WELCOME, HybridPrivateKey,
                                 HybridPublicKey, derive, hybrid_info, open_box, seal_many)
from hramada.errors import DecryptionError, EncodingError

from . import hpke_reference as ref

GROUP = bytes(range(16))
SEED = bytes(range(100, 132))  # a generation seed: what suite 2 delivers


def secret(label: str) -> bytes:
    return hashlib.blake2b(label.encode(), digest_size=32).digest()


ALICE = HybridPrivateKey.from_secret(secret("alice"))
BOB = HybridPrivateKey.from_secret(secret("bob"))
INFO = hybrid_info(KEY_BLOCK_BOX, GROUP, 7)


def seal_one(key: HybridPrivateKey, plaintext: bytes = SEED, info: bytes = INFO) -> bytes:
    return seal_many(OsSealer(), [key.public], info, plaintext)[0]


BOX = seal_one(ALICE)


# -- round trip and sizes -----------------------------------------------------------

@pytest.mark.parametrize("size", [0, 1, 32, 1000])
def test_a_box_opens_for_its_recipient_to_the_sealed_plaintext(size):
    plaintext = bytes(range(256)) * 4
    box = seal_one(ALICE, plaintext[:size])
    assert len(box) == size + BOX_OVERHEAD == size + 1136
    assert open_box(ALICE, INFO, box) == plaintext[:size]


def test_sizes_are_as_the_spec_states():
    assert len(ALICE.public.raw) == PUBLIC_BYTES == 1216
    assert len(BOX) == ENC_BYTES + 32 + 16 == 1168  # a seed box: about 1.1 KB per member


def test_sealing_twice_gives_different_boxes_that_both_open():
    again = seal_one(ALICE)
    assert again[:ENC_BYTES] != BOX[:ENC_BYTES]  # fresh encapsulation every time
    assert open_box(ALICE, INFO, again) == open_box(ALICE, INFO, BOX) == SEED


def test_each_recipient_opens_only_its_own_box_in_recipient_order():
    boxes = seal_many(OsSealer(), [ALICE.public, BOB.public], INFO, SEED)
    assert open_box(ALICE, INFO, boxes[0]) == open_box(BOB, INFO, boxes[1]) == SEED
    for key, box in ((ALICE, boxes[1]), (BOB, boxes[0])):
        with pytest.raises(DecryptionError):
            open_box(key, INFO, box)


def test_a_sealer_that_returns_too_few_boxes_or_a_box_of_the_wrong_size_is_refused():
    class Short:
        def seal(self, recipients, info, plaintext):
            return [b[:-1] for b in OsSealer().seal(recipients, info, plaintext)]

    class Fewer:
        def seal(self, recipients, info, plaintext):
            return OsSealer().seal(recipients[1:], info, plaintext)
    for sealer in (Short(), Fewer()):
        with pytest.raises(ValueError, match="wrong"):
            seal_many(sealer, [ALICE.public, BOB.public], INFO, SEED)
    with pytest.raises(TypeError):
        seal_many(OsSealer(), [crypto.BoxPrivateKey.from_secret(secret("x")).public], INFO, SEED)


# -- tampering ------------------------------------------------------------------

# Across the ML-KEM ciphertext (0..1087), the X25519 ephemeral key (1088..1119), the
# sealed seed (1120..1151) and the tag (1152..1167).
POSITIONS = [0, 1, 543, 1086, 1087, 1088, 1100, 1119, 1120, 1135, 1151, 1152, 1167]


@pytest.mark.parametrize("position", POSITIONS)
def test_flipping_a_byte_anywhere_in_a_box_breaks_it(position):
    tampered = bytearray(BOX)
    tampered[position] ^= 0x01
    with pytest.raises(DecryptionError):
        open_box(ALICE, INFO, bytes(tampered))


@settings(max_examples=60, deadline=None)
@given(position=st.integers(0, len(BOX) - 1), mask=st.integers(1, 255))
def test_any_changed_byte_of_a_box_breaks_it(position, mask):
    tampered = bytearray(BOX)
    tampered[position] ^= mask
    with pytest.raises(DecryptionError):
        open_box(ALICE, INFO, bytes(tampered))


@pytest.mark.parametrize("box", [BOX[:-1], BOX + b"\x00", BOX[:BOX_OVERHEAD - 1], b"", BOX[ENC_BYTES:]])
def test_a_truncated_or_extended_box_does_not_open(box):
    with pytest.raises(DecryptionError):
        open_box(ALICE, INFO, box)


@pytest.mark.parametrize("info", [
    hybrid_info(KEY_BLOCK_BOX, GROUP, 8),                 # another position
    hybrid_info(KEY_BLOCK_BOX, bytes(16), 7),             # another group
    hybrid_info(WELCOME, GROUP, 7),                       # another use
    b"",
], ids=["position", "group", "purpose", "empty"])
def test_a_box_does_not_open_under_another_info(info):
    with pytest.raises(DecryptionError):
        open_box(ALICE, info, BOX)


@pytest.mark.parametrize("point", [bytes(32), b"\x01" + bytes(31), b"\xec" + b"\xff" * 30 + b"\x7f"])
def test_a_box_with_a_low_order_ephemeral_key_is_refused_even_when_well_formed(point):
    """A sender who puts a low-order X25519 point in a box makes the X25519 shared secret
    public (zero); such a box is refused whatever the X25519 library would do."""
    box = ref.seal_with_ephemeral_point(ALICE.public.raw, INFO, SEED, secret("m"), point, bytes(32))
    with pytest.raises(DecryptionError, match="low-order"):
        open_box(ALICE, INFO, box)


# -- both halves are needed -------------------------------------------------------

def halves(s: bytes) -> tuple[bytes, bytes]:
    return derive(s, "hramada:v2:hybrid-mlkem768", 64), derive(s, "hramada:v2:hybrid-x25519", 32)


def test_a_box_does_not_open_for_someone_who_knows_only_the_x25519_half():
    """What a quantum attacker has if X25519 falls: the recipient's X25519 secret."""
    right_kem, right_dh = halves(secret("alice"))
    wrong_kem, _ = halves(secret("mallory"))
    attacker = HybridPrivateKey.from_halves(wrong_kem, right_dh)
    assert attacker.public.x25519 == ALICE.public.x25519 and attacker.public.mlkem != ALICE.public.mlkem
    with pytest.raises(DecryptionError):
        open_box(attacker, INFO, BOX)
    assert open_box(HybridPrivateKey.from_halves(right_kem, right_dh), INFO, BOX) == SEED


def test_a_box_does_not_open_for_someone_who_knows_only_the_mlkem_half():
    right_kem, _ = halves(secret("alice"))
    _, wrong_dh = halves(secret("mallory"))
    attacker = HybridPrivateKey.from_halves(right_kem, wrong_dh)
    assert attacker.public.mlkem == ALICE.public.mlkem and attacker.public.x25519 != ALICE.public.x25519
    with pytest.raises(DecryptionError):
        open_box(attacker, INFO, BOX)


def test_a_box_does_not_open_with_the_mlkem_shared_secret_withheld():
    """Below the API: with the X25519 shared secret computed honestly and every ML-KEM
    contribution an attacker could guess without breaking ML-KEM, the key schedule gives
    another key (the combiner hashes both shared secrets)."""
    import nacl.bindings as sodium
    _, xsk, public = ref.key_pair(secret("alice"))
    ct_x = BOX[1088:1120]
    ss_x = sodium.crypto_scalarmult(xsk, ct_x)
    for guess in (bytes(32), BOX[:32], ss_x):
        key, nonce = ref._schedule(ref._combine(guess, ss_x, ct_x, public[1184:]), INFO)
        with pytest.raises(Exception, match="Decryption failed"):
            sodium.crypto_aead_chacha20poly1305_ietf_decrypt(BOX[1120:], b"", nonce, key)


# -- the construction, checked independently ----------------------------------------

def test_the_key_pair_derives_from_the_secret_as_the_spec_states():
    _, xsk, public = ref.key_pair(secret("alice"))
    assert ALICE.public.raw == public
    assert ALICE.public.mlkem == public[:MLKEM_PUBLIC_BYTES]
    assert derive(secret("alice"), "hramada:v2:hybrid-x25519", 32) == xsk


def test_a_client_box_opens_with_the_independent_construction():
    assert ref.open_box(secret("alice"), INFO, BOX) == SEED


def test_an_independently_built_box_opens_and_is_rebuilt_byte_for_byte():
    m, eph = secret("m"), secret("ephemeral")
    box = ref.seal(ALICE.public.raw, INFO, SEED, m, eph)
    assert box == ref.seal(ALICE.public.raw, INFO, SEED, m, eph)
    assert open_box(ALICE, INFO, box) == SEED


def test_info_is_the_encoding_of_purpose_suite_group_and_position():
    # CBOR by hand: array(4), text(24), unsigned 2, bytes(16), unsigned 7.
    assert hybrid_info(KEY_BLOCK_BOX, GROUP, 7) == (
        b"\x84\x78\x18hramada:v2:key-block-box\x02\x50" + GROUP + b"\x07")
    for purpose in (KEY_BLOCK_BOX, WELCOME, JOIN_REQUEST, DEVICE_LINK):
        assert hybrid_info(purpose, b"", b"\x01") == encode([purpose, 2, b"", b"\x01"])


@pytest.mark.parametrize("args", [
    ("hramada:v1:key-block-box", GROUP, 1), ("hramada:v2:other", GROUP, 1),
    (KEY_BLOCK_BOX, GROUP[:15], 1), (KEY_BLOCK_BOX, bytes(32), 1), (KEY_BLOCK_BOX, GROUP, -1), (KEY_BLOCK_BOX, GROUP, "7"),
    (KEY_BLOCK_BOX, GROUP, True),
])
def test_a_malformed_info_is_refused(args):
    with pytest.raises(ValueError):
        hybrid_info(*args)


# -- key validation ----------------------------------------------------------------

LOW_ORDER = [bytes(32), b"\x01" + bytes(31),
             bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
             bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
             b"\xec" + b"\xff" * 30 + b"\x7f",          # p - 1: order 2
             b"\xed" + b"\xff" * 30 + b"\x7f",          # p: non-canonical
             ALICE.public.x25519[:31] + bytes([ALICE.public.x25519[31] | 0x80])]  # top bit set


@pytest.mark.parametrize("half", LOW_ORDER)
def test_a_public_key_with_a_low_order_x25519_half_is_refused(half):
    with pytest.raises(EncodingError, match="X25519 half"):
        HybridPublicKey(ALICE.public.mlkem + half)


def test_a_public_key_whose_mlkem_half_fails_the_modulus_check_is_refused():
    # The first coefficient of the encapsulation key set to 4095 >= q = 3329.
    bad = b"\xff" + bytes([ALICE.public.raw[1] | 0x0F]) + ALICE.public.raw[2:]
    with pytest.raises(EncodingError, match="modulus check"):
        HybridPublicKey(bad)
    with pytest.raises(ValueError, match="Modulus check failed"):  # kyber-py agrees
        ref.ML_KEM_768.encaps(bad[:MLKEM_PUBLIC_BYTES])


@pytest.mark.parametrize("raw", [b"", ALICE.public.raw[:-1], ALICE.public.raw + b"\x00",
                                 ALICE.public.mlkem, bytearray(ALICE.public.raw)])
def test_a_public_key_of_the_wrong_size_or_type_is_refused(raw):
    with pytest.raises(EncodingError, match="1216 bytes"):
        HybridPublicKey(raw)


def test_a_bad_secret_or_seed_is_refused_and_keys_do_not_print_secrets():
    for bad in (b"", bytes(31), bytes(33)):
        with pytest.raises(ValueError):
            HybridPrivateKey.from_secret(bad)
    with pytest.raises(ValueError):
        HybridPrivateKey.from_halves(bytes(63), bytes(32))
    with pytest.raises(ValueError):
        derive(secret("a"), "hramada:v1:hybrid-x25519", 32)
    assert secret("alice").hex()[:16] not in repr(ALICE)
