"""Known-answer vectors of device linking and the recovery kit (docs/spec/vectors/
linking.json, backup.json): every output recomputed from its inputs with hashlib, raw
libsodium (nacl.bindings) and the independent suite-2 construction in hpke_reference,
following docs/spec/devices.md; then read back by the core."""

from __future__ import annotations

import base64
import json
from hashlib import blake2b
from pathlib import Path

import nacl.bindings as sodium
import pytest

from hramada.core import backup, link_answers, linking
from hramada.core.encoding import encode
from hramada.core.suite2 import HybridPrivateKey
from hramada.core.textcode import Refused

from . import hpke_reference as ref

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "spec" / "vectors"
LINK = json.loads((VECTORS / "linking.json").read_text())
KIT = json.loads((VECTORS / "backup.json").read_text())


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def derive(secret: bytes, purpose: str, size: int = 32) -> bytes:
    return blake2b(purpose.encode(), key=secret, digest_size=size).digest()


def code_text(prefix: str, check_purpose: bytes, payload: bytes) -> str:
    check = blake2b(payload, key=check_purpose, digest_size=32).digest()[:4]
    return prefix + base64.b32encode(payload + check).decode().rstrip("=").lower()


def pad_to(data: bytes, size: int) -> bytes:
    return data + b"\x80" + bytes(size - len(data) - 1)


def bucket(n: int) -> int:
    size = 256
    while size < n + 1:
        size *= 2
    return size


# -- linking ----------------------------------------------------------------------------

def test_link_secret_derivations_and_the_answer_info():
    s, d = h(LINK["secret"]), LINK["derived"]
    assert derive(s, "hramada:v2:link-drop")[:16].hex() == d["drop_id"]
    assert derive(s, "hramada:v2:link-drop-cap").hex() == d["drop_cap"]
    assert derive(s, "hramada:v2:link-request-key").hex() == d["request_key"]
    assert derive(s, "hramada:v2:link-answer").hex() == d["answer_binding"]
    assert encode(["hramada:v2:device-link", 2, b"", h(d["drop_id"]) + h(d["answer_binding"])]).hex() == d["answer_info"]
    secret = linking.LinkSecret(s)
    assert (secret.drop_id.hex(), secret.drop_cap.hex(), secret.answer_info.hex()) == \
        (d["drop_id"], d["drop_cap"], d["answer_info"])


def test_link_code_text_rebuilt_and_read():
    c = LINK["code"]
    payload = encode([1, c["relay"], h(c["mailbox"]), h(LINK["secret"]), c["suites"], c["expires"]])
    assert payload.hex() == c["payload"]
    assert blake2b(payload, key=b"hramada:v2:link-code-check", digest_size=32).digest()[:4].hex() == c["check"]
    assert code_text("hramada-link1-", b"hramada:v2:link-code-check", payload) == c["text"]
    assert c["qr"] == c["text"].upper()
    code = linking.LinkCode.from_text(c["text"])
    assert (code.relay, code.mailbox.hex(), list(code.suites), code.expires) == \
        (c["relay"], c["mailbox"], c["suites"], c["expires"])


@pytest.mark.parametrize("case", LINK["refused_codes"], ids=lambda c: c["why"])
def test_link_codes_that_must_be_refused(case):
    with pytest.raises(Refused) as info:
        linking.LinkCode.from_text(case["text"])
    assert info.value.code == case["code"]


def slot_public(slot: dict) -> tuple[bytes, bytes]:
    sign = sodium.crypto_sign_seed_keypair(h(slot["sign_seed"]))[0]
    if slot["suite"] == 1:
        box = sodium.crypto_scalarmult_base(h(slot["box_secret"]))
    else:
        box = ref.key_pair(h(slot["box_secret"]))[2]
    assert (sign.hex(), box.hex()) == (slot["sign"], slot["box"])
    return sign, box


def test_link_request_rebuilt_byte_for_byte_and_read():
    r, d = LINK["request"], LINK["derived"]
    link_public = ref.key_pair(h(r["link_secret"]))[2]
    assert link_public.hex() == r["link_public"]
    slots = [slot_public(s) for s in r["slots"]]
    nonce_b = blake2b(b"hramada:v2:link-sas-nonce", key=h(r["entropy"]), digest_size=32).digest()
    assert nonce_b.hex() == r["nonce_b"]
    commit = blake2b(nonce_b, key=derive(h(LINK["secret"]), "hramada:v2:link-commit"), digest_size=32).digest()
    assert commit.hex() == r["commit"]
    payload = encode({"v": 1, "name": r["name"], "link": link_public, "slots": [list(s) for s in slots],
                      "commit": commit})
    assert payload.hex() == r["payload"]
    aad = encode(["hramada:v2:link-request", 1, h(d["drop_id"])])
    assert aad.hex() == r["aad"]
    chunk = 16344 - 16
    chunks = [payload[i:i + chunk] for i in range(0, len(payload), chunk)]
    assert len(chunks) == len(r["messages"])
    for k, (part, message) in enumerate(zip(chunks, r["messages"])):
        nonce = blake2b(b"hramada:v2:link-nonce" + bytes([k]), key=h(r["entropy"]), digest_size=24).digest()
        frame = pad_to(encode([k, len(chunks), part]), 16344)
        ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(frame, aad, nonce, h(d["request_key"]))
        assert (nonce + ct).hex() == message and len(nonce + ct) == 16384
    code = linking.LinkCode.from_text(LINK["code"]["text"])
    got = linking.read_link_request(code, [h(m) for m in r["messages"]])
    assert got.commit == commit and got.name == r["name"] and [(s.sign, s.box) for s in got.slots] == slots


def test_link_confirmation_rebuilt_byte_for_byte():
    r, c, s = LINK["request"], LINK["confirmation"], h(LINK["secret"])
    drop = h(LINK["derived"]["drop_id"])
    nonce_a, nonce_b = h(c["nonce_a"]), h(r["nonce_b"])
    challenge = h(c["challenge_nonce"]) + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        nonce_a, encode(["hramada:v2:link-challenge", 1, drop]), h(c["challenge_nonce"]),
        derive(s, "hramada:v2:link-challenge-key"))
    assert challenge.hex() == c["challenge"]
    reveal_nonce = blake2b(b"hramada:v2:link-nonce\xff", key=h(r["entropy"]), digest_size=24).digest()
    reveal = reveal_nonce + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        nonce_b, encode(["hramada:v2:link-reveal", 1, drop]), reveal_nonce, derive(s, "hramada:v2:link-request-key"))
    assert reveal.hex() == c["reveal"]
    data = encode([h(r["payload"]), nonce_a, nonce_b])
    n = int.from_bytes(blake2b(data, key=derive(s, "hramada:v2:link-confirm"), digest_size=32).digest(), "big")
    assert f"{n % 10**8:08d}"[:4] + " " + f"{n % 10**8:08d}"[4:] == c["digits"]
    code = linking.LinkCode.from_text(LINK["code"]["text"])
    request = linking.read_link_request(code, [h(m) for m in r["messages"]] + [reveal])
    assert linking.read_challenge(code, [challenge]) == nonce_a
    assert linking.read_reveal(code, request, [reveal]) == nonce_b
    assert linking.confirmation(code, request, nonce_a, nonce_b) == c["digits"]


@pytest.mark.parametrize("case", LINK["refused_requests"], ids=lambda c: c["why"])
def test_link_requests_that_must_be_refused(case):
    with pytest.raises(Refused) as info:
        linking.read_link_request(linking.LinkCode.from_text(LINK["code"]["text"]), [h(m) for m in case["messages"]])
    assert info.value.code == case["code"]


def rebuilt_answer(stream: int, payload: bytes, randomness: list[dict], messages: list[str]) -> None:
    link_public = h(LINK["request"]["link_public"])
    info = h(LINK["derived"]["answer_info"])
    chunk = 15248 - 16
    chunks = [payload[i:i + chunk] for i in range(0, len(payload), chunk)]
    assert len(chunks) == len(messages) == len(randomness)
    for k, (part, rnd, message) in enumerate(zip(chunks, randomness, messages)):
        frame = pad_to(encode([stream, k, len(chunks), part]), 15248)
        box = ref.seal(link_public, info, frame, h(rnd["mlkem_randomness"]), h(rnd["ephemeral_secret"]))
        assert box.hex() == message and len(box) == 16384
        assert ref.open_box(h(LINK["request"]["link_secret"]), info, box) == frame


def test_link_answers_rebuilt_byte_for_byte_and_read():
    g, p = LINK["group_answer"], LINK["profile_answer"]
    payload = encode({"v": 1, "slot": g["slot"], "ref": [g["ref"][0], h(g["ref"][1]), h(g["ref"][2]), *g["ref"][3:]],
                      "seed": h(g["member_seed"]), "added": [g["added"][0], h(g["added"][1])],
                      "seeds": [[n, s, h(seed)] for n, s, seed in g["seeds"]]})
    assert payload.hex() == g["payload"]
    rebuilt_answer(g["slot"], payload, g["randomness"], g["messages"])
    profile = encode({"v": 1, "name": p["name"], "devices": [
        {"name": d["name"], "ids": [[h(a), h(b)] for a, b in d["ids"]]} for d in p["devices"]]})
    assert profile.hex() == p["payload"]
    rebuilt_answer(p["stream"], profile, p["randomness"], p["messages"])
    r = LINK["group_refusal"]
    refusal = encode({"v": 1, "slot": r["slot"], "refused": r["reason"]})
    assert refusal.hex() == r["payload"]
    rebuilt_answer(r["slot"], refusal, r["randomness"], r["messages"])
    code = linking.LinkCode.from_text(LINK["code"]["text"])
    key = HybridPrivateKey.from_secret(h(LINK["request"]["link_secret"]))
    got = link_answers.read_answers(code, key, [h(m) for m in g["messages"] + p["messages"]])
    assert got.groups[0].member_seed.hex() == g["member_seed"] and got.profile.name == p["name"]
    assert not got.complete  # slot 1 not yet told
    got = link_answers.read_answers(code, key, [h(m) for m in g["messages"] + p["messages"] + r["messages"]])
    assert got.complete and got.refused == {1: "too-many-devices"}


# -- the recovery kit -------------------------------------------------------------------

def test_kit_file_rebuilt_byte_for_byte_and_read():
    k = KIT["kit"]
    root = sodium.crypto_pwhash_alg(32, k["passphrase"].encode(), h(k["salt"]), k["ops"], k["mem"],
                                    sodium.crypto_pwhash_ALG_ARGON2ID13)
    assert root.hex() == k["root"]
    key, check = derive(root, "hramada:v2:kit-key"), derive(root, "hramada:v2:kit-key-check")[:16]
    assert (key.hex(), check.hex()) == (k["key"], k["key_check"])
    g = k["groups"][0]
    ref_value = [g["ref"][0], h(g["ref"][1]), h(g["ref"][2]), *g["ref"][3:]]
    contents = encode({"v": 1, "name": k["name"], "groups": [[ref_value, h(g["member_seed"]), g["suite"]]]})
    assert contents.hex() == k["contents"]
    magic = b"HRAMADA-KIT\n\x01"
    aad = magic + encode([k["ops"], k["mem"], h(k["salt"]), h(k["nonce"]), check])
    sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        pad_to(contents, bucket(len(contents))), aad, h(k["nonce"]), key)
    body = magic + encode([k["ops"], k["mem"], h(k["salt"]), h(k["nonce"]), check, sealed])
    data = body + blake2b(body, key=b"hramada:v2:kit-check", digest_size=32).digest()
    assert data.hex() == k["file"]
    kit = backup.import_kit(data, k["passphrase"])
    assert kit.name == k["name"] and kit.groups[0].member_seed.hex() == g["member_seed"]
    with pytest.raises(Refused) as info:
        backup.import_kit(data, k["wrong_passphrase"])
    assert info.value.code == "kit-passphrase"


@pytest.mark.parametrize("case", KIT["refused_kits"], ids=lambda c: c["why"])
def test_kit_files_that_must_be_refused(case):
    with pytest.raises(Refused) as info:
        backup.import_kit(h(case["file"]), KIT["kit"]["passphrase"])
    assert info.value.code == case["code"]


def test_recovery_request_rebuilt_byte_for_byte_and_read():
    r = KIT["recovery"]
    member_pk, member_sk = sodium.crypto_sign_seed_keypair(h(r["member_seed"]))
    sign = sodium.crypto_sign_seed_keypair(h(r["sign_seed"]))[0]
    box = ref.key_pair(h(r["box_secret"]))[2]
    assert (member_pk.hex(), sign.hex(), box.hex()) == (r["member"], r["sign"], r["box"])
    message = b"hramada:v1:device-cert\x00" + encode([h(r["group"]), 2, member_pk, sign, box, r["name"]])
    assert message.hex() == r["cert_message"]
    assert sodium.crypto_sign(message, member_sk)[:64].hex() == r["cert"]
    ds = h(r["drop_secret"])
    assert derive(ds, "hramada:v2:recover-drop")[:16].hex() == r["drop_id"]
    assert derive(ds, "hramada:v2:recover-drop-cap").hex() == r["drop_cap"]
    payload = encode([1, h(r["group"]), 2, member_pk, r["name"], sign, box, h(r["cert"]), ds])
    assert code_text("hramada-recover1-", b"hramada:v2:recover-code-check", payload) == r["text"]
    got = backup.RecoveryRequest.from_text(r["text"])
    assert got.record == {"name": r["name"], "sign": sign, "box": box, "cert": h(r["cert"])}


@pytest.mark.parametrize("case", KIT["refused_recoveries"], ids=lambda c: c["why"])
def test_recovery_codes_that_must_be_refused(case):
    with pytest.raises(Refused) as info:
        backup.RecoveryRequest.from_text(case["text"])
    assert info.value.code == case["code"]
