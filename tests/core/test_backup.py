"""The recovery kit file and the recovery request code."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hramada.core import backup as B, crypto, textcode
from hramada.core.encoding import encode
from hramada.core.link_answers import GroupRef
from hramada.core.suite2 import HybridPrivateKey
from hramada.core.textcode import Refused

from .world import Rand

R = Rand("backup")
FAST = {"ops": 1, "mem": 8192}  # Argon2id at its minimum, for speed; the format is the same
PASS = "maple orbit velvet canyon"
REFS = [GroupRef("https://relay.example.org", R.bytes(16), R.bytes(16), "Tenants' union", "ana"),
        GroupRef("http://127.0.0.1:8470", R.bytes(16), R.bytes(16), "Allotment", "Ana K")]
KIT = B.Kit("Ana", (B.KitGroup(REFS[0], R.bytes(32), 2), B.KitGroup(REFS[1], R.bytes(32), 1)))
FILE = B.export_kit(KIT, PASS, R.bytes(16), R.bytes(24), **FAST)
SETTINGS = settings(deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])


def refused(code: str, fn, *args, **kw) -> Refused:
    with pytest.raises(Refused) as info:
        fn(*args, **kw)
    assert info.value.code == code, (info.value.code, str(info.value))
    return info.value


def rechecked(body: bytes) -> bytes:
    """``body`` with its file checksum recomputed, as someone altering it on purpose would."""
    return body + hashlib.blake2b(body, key=b"hramada:v2:kit-check", digest_size=32).digest()


# -- the kit ---------------------------------------------------------------------

def test_a_kit_round_trips_and_its_file_shows_nothing_but_its_header():
    assert FILE.startswith(b"HRAMADA-KIT\n\x01")
    assert B.import_kit(FILE, PASS) == KIT
    for g in KIT.groups:
        assert g.member_seed not in FILE and g.ref.group not in FILE and g.ref.name.encode() not in FILE
    assert b"Ana" not in FILE and b"relay.example" not in FILE
    assert "member_seed" not in repr(KIT) and KIT.groups[0].member_seed.hex() not in repr(KIT)


def test_a_kit_written_with_the_profile_stores_argon2id_settings_opens_with_them():
    data = B.export_kit(KIT, PASS, R.bytes(16), R.bytes(24))
    assert B.import_kit(data, PASS) == KIT
    refused("kit-passphrase", B.import_kit, data, PASS + " ")


def test_a_wrong_passphrase_is_told_apart_from_damage():
    refused("kit-passphrase", B.import_kit, FILE, "maple orbit velvet canyom")
    refused("kit-passphrase", B.import_kit, FILE, "")


def test_every_flipped_byte_of_a_kit_file_is_refused_before_the_passphrase_is_tried():
    for i in range(len(FILE)):
        bad = FILE[:i] + bytes([FILE[i] ^ 0x10]) + FILE[i + 1:]
        expected = "kit-not-a-kit" if i < 12 else "kit-version" if i == 12 else "kit-damaged"
        refused(expected, B.import_kit, bad, PASS)


def test_every_truncation_of_a_kit_file_is_refused():
    for n in range(len(FILE)):
        refused("kit-not-a-kit" if n < 12 else "kit-damaged", B.import_kit, FILE[:n], PASS)
    refused("kit-damaged", B.import_kit, FILE + b"\x00", PASS)


def test_a_kit_altered_on_purpose_with_its_checksum_recomputed_is_refused():
    body = FILE[:-32]
    refused("kit-altered", B.import_kit, rechecked(body[:-1] + bytes([body[-1] ^ 1])), PASS)
    refused("kit-altered", B.import_kit, rechecked(body[:-20] + bytes([body[-20] ^ 1]) + body[-19:]), PASS)
    # the salt or the key check changed: the passphrase no longer fits
    head = len(B.MAGIC) + 1
    salt_at = head + 1 + 1 + 3 + 1  # array(6), ops (1 byte), mem (0x19 xx xx), bytes(16) head
    refused("kit-passphrase", B.import_kit, rechecked(body[:salt_at] + bytes([body[salt_at] ^ 1])
                                                     + body[salt_at + 1:]), PASS)


def test_a_kit_of_another_version_or_with_settings_out_of_range_is_refused_before_argon2():
    refused("kit-version", B.import_kit, FILE[:12] + b"\x02" + FILE[13:], PASS)
    refused("kit-not-a-kit", B.import_kit, b"PK\x03\x04" + FILE, PASS)
    refused("kit-not-a-kit", B.import_kit, "HRAMADA-KIT", PASS)
    salt, nonce, check = R.bytes(16), R.bytes(24), R.bytes(16)
    for ops, mem in ((0, 8192), (65, 8192), (1, 8191), (1, 2**31)):
        e = refused("kit-settings", B.import_kit,
                    rechecked(B.MAGIC + b"\x01" + encode([ops, mem, salt, nonce, check, b"x" * 40])), PASS)
        assert e.params == {"ops": ops, "mem": mem}
    refused("kit-damaged", B.import_kit, rechecked(B.MAGIC + b"\x01" + encode([1, 8192, salt, nonce, check])), PASS)
    refused("kit-damaged", B.import_kit, rechecked(B.MAGIC + b"\x01" + encode([1, 8192, salt[:8], nonce, check, b""])),
            PASS)
    refused("kit-settings", B.export_kit, KIT, PASS, salt, nonce, ops=0, mem=8192)


def sealed_contents(contents: bytes) -> bytes:
    """A kit whose contents are ``contents``, sealed properly (as a faulty writer would)."""
    salt, nonce = R.bytes(16), R.bytes(24)
    root = crypto.passphrase_key(PASS, salt, opslimit=1, memlimit=8192)
    key = hashlib.blake2b(b"hramada:v2:kit-key", key=root, digest_size=32).digest()
    check = hashlib.blake2b(b"hramada:v2:kit-key-check", key=root, digest_size=32).digest()[:16]
    head = B.MAGIC + b"\x01" + encode([1, 8192, salt, nonce, check])
    sealed = crypto.encrypt(key, nonce, crypto.pad(contents), head)
    return rechecked(B.MAGIC + b"\x01" + encode([1, 8192, salt, nonce, check, sealed]))


def test_a_kit_is_rebuilt_byte_for_byte_from_the_spec():
    assert B.import_kit(sealed_contents(encode({"v": 1, "name": "Ana", "groups": []})), PASS) == B.Kit("Ana", ())


def test_kit_contents_that_open_but_break_the_format_are_refused():
    group = [REFS[0].value(), R.bytes(32), 2]
    for contents in (b"\xff", encode({"v": 2, "name": "Ana", "groups": []}),
                     encode({"v": True, "name": "Ana", "groups": []}),
                     encode({"v": 1, "name": "", "groups": []}),
                     encode({"v": 1, "name": "Ana", "groups": [group, group]}),
                     encode({"v": 1, "name": "Ana", "groups": [[REFS[0].value(), R.bytes(32), 3]]}),
                     encode({"v": 1, "name": "Ana", "groups": [[REFS[0].value()[:4], R.bytes(32), 2]]})):
        refused("kit-contents", B.import_kit, sealed_contents(contents), PASS)


@SETTINGS
@given(st.one_of(st.binary(max_size=200), st.binary(max_size=200).map(lambda b: B.MAGIC + b"\x01" + b),
                 st.binary(max_size=200).map(lambda b: rechecked(B.MAGIC + b"\x01" + b)),
                 st.integers(0, len(FILE) - 1).map(lambda i: FILE[:i] + bytes([FILE[i] ^ 0xFF]) + FILE[i + 1:])))
def test_reading_any_bytes_as_a_kit_raises_nothing_but_a_refusal(data):
    try:
        B.import_kit(data, PASS)
    except Refused:
        pass


# -- the recovery request ------------------------------------------------------------

DEVICE_SIGN = crypto.SigningKey.from_seed(R.bytes(32)).public.raw
DEVICE_BOX = HybridPrivateKey.from_secret(R.bytes(32)).public.raw
REQ = B.make_recovery_request(KIT.groups[0], "New laptop", DEVICE_SIGN, DEVICE_BOX, R.bytes(32))


def test_a_recovery_request_round_trips_and_its_cert_is_by_the_member_key():
    text = REQ.to_text()
    assert text.startswith("hramada-recover1-") and len(text) < 2400
    assert B.RecoveryRequest.from_text(text) == REQ == B.RecoveryRequest.from_text(REQ.to_qr())
    assert REQ.member == crypto.SigningKey.from_seed(KIT.groups[0].member_seed).public.raw
    assert REQ.drop_secret.hex() not in repr(REQ)
    assert REQ.record == {"name": "New laptop", "sign": DEVICE_SIGN, "box": DEVICE_BOX, "cert": REQ.cert}
    d = lambda p: hashlib.blake2b(p, key=REQ.drop_secret, digest_size=32).digest()  # noqa: E731
    assert REQ.drop_id == d(b"hramada:v2:recover-drop")[:16] and REQ.drop_cap == d(b"hramada:v2:recover-drop-cap")
    suite1 = B.make_recovery_request(KIT.groups[1], "Phone", DEVICE_SIGN,
                                     crypto.BoxPrivateKey.from_secret(R.bytes(32)).public.raw, R.bytes(32))
    assert B.RecoveryRequest.from_text(suite1.to_text()) == suite1 and len(suite1.to_text()) < 400


def test_every_single_character_change_of_a_recovery_code_is_refused():
    text = REQ.to_text()
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    for i in range(len(B.RECOVER_PREFIX), len(text), 3):
        c = alphabet[(alphabet.index(text[i]) + 1 + i % 31) % 32]
        refused("recover-damaged", B.RecoveryRequest.from_text, text[:i] + c + text[i + 1:])
    refused("recover-damaged", B.RecoveryRequest.from_text, text[:-1])
    refused("recover-not-a-code", B.RecoveryRequest.from_text, text[1:])
    refused("recover-characters", B.RecoveryRequest.from_text, text[:-1] + "1")


def recovery_code(fields: list) -> str:
    return textcode.to_text(B.RECOVER_PREFIX, B.RECOVER_CHECK, encode(fields))


def test_a_recovery_request_is_checked_field_by_field_even_with_a_good_checksum():
    f = [1, REQ.group, REQ.suite, REQ.member, REQ.name, REQ.sign, REQ.box, REQ.cert, REQ.drop_secret]
    other_member = crypto.SigningKey.from_seed(R.bytes(32)).public.raw
    low = bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")
    cases = [
        ("recover-version", {0: 2}), ("recover-malformed", {1: REQ.group[:8]}), ("recover-malformed", {2: 3}),
        ("recover-malformed", {8: b""}), ("recover-name", {4: "x\u200b"}),
        ("recover-cert", {4: "Old laptop"}),           # renamed after certification
        ("recover-cert", {1: R.bytes(16)}),            # certified for another group
        ("recover-cert", {3: other_member}),            # claimed for another member
        ("recover-cert", {7: REQ.cert[:32] + bytes(32)}),
        ("recover-key", {5: bytes(32)}), ("recover-key", {3: b"\x02" + bytes(31)}),
        ("recover-key", {6: REQ.box[:1184] + low}), ("recover-key", {6: REQ.box[:32]}),
        ("recover-key", {2: 1}),                        # a suite-2 key under suite 1
    ]
    for code, change in cases:
        g = list(f)
        for k, v in change.items():
            g[k] = v
        refused(code, B.RecoveryRequest.from_text, recovery_code(g))
    refused("recover-malformed", B.RecoveryRequest.from_text, recovery_code(f[:-1]))
    refused("recover-malformed", B.RecoveryRequest.from_text, textcode.to_text(B.RECOVER_PREFIX, B.RECOVER_CHECK, b"\xff"))


def test_the_cert_is_the_design_s_device_cert_checked_with_raw_libsodium():
    import nacl.bindings as sodium
    m = encode([REQ.group, 2, REQ.member, REQ.sign, REQ.box, REQ.name])
    sodium.crypto_sign_open(REQ.cert + b"hramada:v1:device-cert\x00" + m, REQ.member)


@SETTINGS
@given(st.one_of(st.text(max_size=100), st.binary(max_size=300).map(
    lambda b: textcode.to_text(B.RECOVER_PREFIX, B.RECOVER_CHECK, b)),
    st.lists(st.one_of(st.integers(-1, 3), st.binary(max_size=40), st.text(max_size=5)), max_size=10).map(
        lambda v: textcode.to_text(B.RECOVER_PREFIX, B.RECOVER_CHECK, encode(v)))))
def test_reading_any_text_as_a_recovery_code_raises_nothing_but_a_refusal(text):
    try:
        B.RecoveryRequest.from_text(text)
    except Refused:
        pass
