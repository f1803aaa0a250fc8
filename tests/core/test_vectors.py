"""Known-answer vectors (docs/spec/vectors/*.json): every output is recomputed from its
inputs, byte for byte. A failure here means the wire format changed: either a bug, or
a protocol change that needs new vectors, a new suite or version, and a spec update."""

from __future__ import annotations

import hashlib
import json
from hashlib import blake2b
from pathlib import Path

import nacl.bindings as sodium
import nacl.exceptions
import pytest

from hramada.core import build, crypto, items, wire
from hramada.core import invitation as inv
from hramada.core.crypto import BoxPrivateKey, BoxPublicKey, SigningKey, VerifyKey
from hramada.core.encoding import decode, encode
from hramada.core.entries import Envelope, open_entry
from hramada.core.identity import Identity, fingerprint, safety_code
from hramada.core.items import open_item
from hramada.core.keys import (Generation, KeyBlock, box_label, key_block_author, make_key_block,
                               open_key_block, walk_back)
from hramada.core.joining import adopt, walk_back_generations
from hramada.core.state import GroupLog, Keyring
from hramada.errors import DecryptionError, EncodingError, ForgeryError, ForkError, VerificationError

VECTORS = Path(__file__).resolve().parents[2] / "docs" / "spec" / "vectors"


def load(name: str) -> dict:
    return json.loads((VECTORS / name).read_text())


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def untyped(value):
    """Back from the vectors' JSON convention: {"hex": …} is bytes, {"int": …} an int."""
    if isinstance(value, dict):
        if set(value) == {"hex"}:
            return h(value["hex"])
        if set(value) == {"int"}:
            return int(value["int"])
        return {k: untyped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [untyped(v) for v in value]
    return value


def identity(p: dict) -> Identity:
    me = Identity.from_secrets(h(p["member_seed"]), h(p["sign_seed"]), h(p["box_secret"]), p["device_name"])
    assert me.public.sign.raw.hex() == p["member_public"]
    assert me.signing.public.raw.hex() == p["sign_public"]
    assert me.boxing.public.raw.hex() == p["box_public"]
    # the device record's cert, checked with raw libsodium: the member key over cert_signed
    signed = encode([h(p["cert_group"]), 1, h(p["member_public"]), h(p["sign_public"]), h(p["box_public"]),
                     p["device_name"]])
    assert signed.hex() == p["cert_signed"]
    assert sodium.crypto_sign_open(h(p["cert"]) + b"hramada:v1:device-cert\x00" + signed,
                                   h(p["member_public"])) == b"hramada:v1:device-cert\x00" + signed
    assert me.device_record(h(p["cert_group"])).cert.hex() == p["cert"]
    return me


def test_every_vector_file_is_checked_here():
    checked = {"encoding.json", "hashing.json", "signatures.json", "seal.json", "aead.json",
               "passphrase.json", "identity.json", "wire.json", "keys.json", "invitation.json",
               "log.json", "item.json", "suite2.json", "linking.json", "backup.json", "names.json"}
    assert {p.name for p in VECTORS.glob("*.json")} == checked


# -- encoding -------------------------------------------------------------------------

@pytest.mark.parametrize("case", load("encoding.json")["valid"])
def test_encoding_vectors(case):
    value = untyped(case["value"])
    assert encode(value).hex() == case["encoding"]
    assert decode(h(case["encoding"])) == value


@pytest.mark.parametrize("case", load("encoding.json")["invalid"], ids=lambda c: c["why"])
def test_encodings_that_must_be_refused(case):
    with pytest.raises(EncodingError):
        decode(h(case["encoding"]))


# -- primitives -----------------------------------------------------------------------

def test_hashing_vectors():
    v = load("hashing.json")
    for c in v["hash32"]:
        assert crypto.hash32(c["purpose"], h(c["data"])).hex() == c["hash"]
    for c in v["derive_key"]:
        assert crypto.derive_key(h(c["key"]), c["purpose"]).hex() == c["derived"]
    for c in v["keyed_hash"]:
        assert crypto.keyed_hash(h(c["key"]), c["purpose"], h(c["data"]), c["size"]).hex() == c["hash"]
    # the definitions, with another BLAKE2b implementation (Python's hashlib)
    for c in v["hash32"]:
        assert blake2b(h(c["data"]), key=c["purpose"].encode(), digest_size=32).hexdigest() == c["hash"]
    for c in v["derive_key"]:
        assert blake2b(c["purpose"].encode(), key=h(c["key"]), digest_size=32).hexdigest() == c["derived"]
    for c in v["keyed_hash"]:
        assert blake2b(c["purpose"].encode() + b"\x00" + h(c["data"]), key=h(c["key"]),
                       digest_size=c["size"]).hexdigest() == c["hash"]


def test_signature_vectors():
    for c in load("signatures.json")["cases"]:
        key = SigningKey.from_seed(h(c["seed"]))
        assert key.public.raw.hex() == c["public"]
        assert crypto.sign(key, c["purpose"], h(c["message"])).hex() == c["signature"]
        crypto.verify(key.public, c["purpose"], h(c["message"]), h(c["signature"]))
        # plain Ed25519 over signed_bytes
        assert sodium.crypto_sign_open(h(c["signature"]) + h(c["signed_bytes"]),
                                       key.public.raw) == h(c["signed_bytes"])


def test_signatures_a_lax_verifier_would_accept_are_refused():
    """Strict verification (keys.md): each refused vector satisfies the cofactorless
    equation (or would, after reducing S or decoding a non-canonical point), checked
    here with hashlib and raw point arithmetic, and is refused by raw libsodium and by
    the core."""
    refused = load("signatures.json")["refused"]
    assert {c["reason"] for c in refused} == {"s-not-reduced", "small-order-key", "non-canonical-key",
                                               "small-order-r", "non-canonical-r"}
    ell = 2**252 + 27742317777372353535851937790883648493
    for c in refused:
        pk, sig, m = h(c["public"]), h(c["signature"]), h(c["signed_bytes"])
        assert m == c["purpose"].encode() + b"\x00" + h(c["message"])
        s = int.from_bytes(sig[32:], "little")
        if c["reason"] in ("small-order-r", "non-canonical-r"):
            k = int.from_bytes(hashlib.sha512(sig[:32] + pk + m).digest(), "little") % ell
            # [S]B and [k]A are the same point, so [S]B - [k]A is the neutral point R claims to be
            assert sodium.crypto_scalarmult_ed25519_base_noclamp(sig[32:]) == \
                sodium.crypto_scalarmult_ed25519_noclamp(k.to_bytes(32, "little"), pk)
        elif c["reason"] == "s-not-reduced":
            assert s >= ell and sodium.crypto_sign_open(sig[:32] + (s - ell).to_bytes(32, "little") + m, pk)
        else:  # the key is the neutral point: [S]B = R
            assert sodium.crypto_scalarmult_ed25519_base_noclamp(sig[32:]) == sig[:32]
        with pytest.raises(nacl.exceptions.BadSignatureError):
            sodium.crypto_sign_open(sig + m, pk)
        with pytest.raises(ForgeryError):
            crypto.verify(VerifyKey(pk), c["purpose"], h(c["message"]), sig)


def test_seal_vectors():
    v = load("seal.json")
    people = [BoxPrivateKey.from_secret(h(r["secret"])) for r in v["recipients"]]
    epk, boxes = crypto.seal_many([p.public for p in people], h(v["ephemeral_secret"]),
                                  h(v["plaintext"]))
    assert epk.hex() == v["ephemeral_public"]
    for person, box, r in zip(people, boxes, v["recipients"]):
        assert person.public.raw.hex() == r["public"]
        assert box.hex() == r["box"]
        assert blake2b(epk + person.public.raw, digest_size=24).hexdigest() == r["nonce"]
        assert sodium.crypto_box_seal_open(epk + box, person.public.raw, person.raw) == h(v["plaintext"])


def test_suite2_vectors():
    """Keys and info recomputed by the core and by hand (kyber-py, libsodium, hashlib);
    every box opened by the core and rebuilt byte for byte from its given randomness."""
    from hramada.core import suite2

    from . import hpke_reference as ref
    v = load("suite2.json")
    keys = {}
    for name, k in v["keys"].items():
        key = suite2.HybridPrivateKey.from_secret(h(k["secret"]))
        assert key.public.raw.hex() == k["public"]
        assert blake2b(b"hramada:v2:hybrid-x25519", key=h(k["secret"]), digest_size=32).hexdigest() == k["x25519_secret"]
        assert blake2b(b"hramada:v2:hybrid-mlkem768", key=h(k["secret"]), digest_size=64).hexdigest() == k["mlkem_seed"]
        ek, _ = ref.ML_KEM_768.key_derive(h(k["mlkem_seed"]))
        assert ek + sodium.crypto_scalarmult_base(h(k["x25519_secret"])) == h(k["public"])
        keys[name] = key
    for case in v["infos"]:
        info = suite2.hybrid_info(case["purpose"], h(case["group"]), untyped(case["position"]))
        assert info.hex() == case["info"]
        assert info == encode([case["purpose"], 2, h(case["group"]), untyped(case["position"])])
    for case in v["boxes"]:
        info, box, plaintext = h(case["info"]), h(case["box"]), h(case["plaintext"])
        assert suite2.open_box(keys[case["recipient"]], info, box) == plaintext
        assert ref.seal(keys[case["recipient"]].public.raw, info, plaintext,
                        h(case["mlkem_randomness"]), h(case["ephemeral_secret"])) == box
        assert box[1088:1120].hex() == case["ephemeral_public"]
    for case in v["refused_boxes"]:
        with pytest.raises(DecryptionError):
            suite2.open_box(keys[case["recipient"]], h(case["info"]), h(case["box"]))
    for case in v["refused_public_keys"]:
        with pytest.raises(EncodingError):
            suite2.HybridPublicKey(h(case["public"]))


class _Given:
    """A sealer with the randomness of each box given (the vectors'), built by the
    independent construction."""

    def __init__(self, randomness):
        self.randomness = randomness

    def seal(self, recipients, info, plaintext):
        from . import hpke_reference as ref
        return [ref.seal(r.raw, info, plaintext, m, e) for r, (m, e) in zip(recipients, self.randomness)]


def test_suite2_key_block_vectors():
    """The suite-2 key block rebuilt byte for byte: boxes by the independent HPKE, labels,
    digest, signature and authorisation by hashlib and raw libsodium; then opened."""
    from hramada.core import pages, suite2

    from . import hpke_reference as ref
    kb = load("suite2.json")["key_block"]
    group, seq, a = h(kb["group"]), kb["seq"], kb["authorisation"]
    prev, new = Generation(0, h(kb["previous"]["seed"])), Generation(1, h(kb["new"]["seed"]))
    assert encode(["hramada:v2:key-block-box", 2, group, seq]).hex() == kb["info"]
    log_seed = blake2b(b"hramada:v1:log-seed", key=h(kb["previous"]["seed"]), digest_size=32).digest()
    label_key = blake2b(b"hramada:v1:box-label", key=log_seed, digest_size=32).digest()
    pairs = []
    for r in kb["recipients"]:
        public = h(r["public"])
        assert ref.key_pair(h(r["secret"]))[2] == public
        label = blake2b(b"hramada:v1:box-label\x00" + public, key=label_key, digest_size=8).digest()
        assert label.hex() == r["label"]
        box = ref.seal(public, h(kb["info"]), new.seed, h(r["mlkem_randomness"]), h(r["ephemeral_secret"]))
        assert box.hex() == r["box"]
        assert ref.open_box(h(r["secret"]), h(kb["info"]), box) == new.seed
        pairs.append([label, box])
    core = decode(h(kb["digested"]))
    assert core["s"] == 2 and core["b"] == sorted(pairs) and set(core) == {"s", "b", "p", "q"}
    assert blake2b(h(kb["digested"]), key=b"hramada:v1:key-block", digest_size=32).hexdigest() == kb["digest"]
    assert encode([group, seq, h(kb["digest"]), b"", 2]).hex() == a["signed"]
    message = b"hramada:v1:key-block-auth\x00" + h(a["signed"])
    assert sodium.crypto_sign_open(h(a["signature"]) + message, h(a["author"]["sign_public"])) == message
    assert encode([h(a["author"]["sign_public"]), b"", h(a["signature"])]).hex() == a["plaintext"]
    assert encode(["hramada:v1:key-block-auth", seq, 2]).hex() == a["aad"]
    auth_key = blake2b(b"hramada:v1:key-block-auth", key=log_seed, digest_size=32).digest()
    assert h(a["nonce"]) + sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        h(a["plaintext"]), h(a["aad"]), h(a["nonce"]), auth_key) == h(a["auth"])
    assert decode(h(kb["encoded"])) == {**core, "a": h(a["auth"])}
    # and the core builds the same bytes from the same inputs, and opens them
    keys = [suite2.HybridPrivateKey.from_secret(h(r["secret"])) for r in kb["recipients"]]
    block = make_key_block(prev, new, [k.public for k in keys], b"",
                           author=SigningKey.from_seed(h(a["author"]["sign_seed"])), group=group, seq=seq,
                           auth_nonce=h(a["nonce"]),
                           sealer=_Given([(h(r["mlkem_randomness"]), h(r["ephemeral_secret"]))
                                          for r in kb["recipients"]]))
    assert encode(block.to_value()).hex() == kb["encoded"]
    parsed = KeyBlock.from_value(decode(h(kb["encoded"])))
    assert key_block_author(parsed, prev, group, seq) == (h(a["author"]["sign_public"]), b"")
    for key in keys:
        assert open_key_block(parsed, prev, key, group=group, seq=seq).seed == new.seed
    assert walk_back(parsed, new).seed == prev.seed
    ex = kb["page_example"]
    assert blake2b(h(ex["page"]), key=b"hramada:v1:key-block-page", digest_size=32).hexdigest() == ex["digest"]
    assert pages.page_digest(h(ex["page"])).hex() == ex["digest"]


def test_suite2_welcome_vectors():
    from hramada.core import suite2

    from . import hpke_reference as ref
    v = load("suite2.json")
    w, bob = v["welcome"], v["keys"]["bob"]
    group, request = h(w["group"]), h(w["request"])
    assert encode(["hramada:v2:welcome", 2, group, request]).hex() == w["info"]
    message = decode(h(w["message"]))
    assert set(message) == {"s", "b"} and message["s"] == 2
    assert ref.open_box(h(bob["secret"]), h(w["info"]), message["b"]) == h(w["padded"])
    assert crypto.unpad(h(w["padded"])) == h(w["payload"])
    assert ref.seal(h(bob["public"]), h(w["info"]), h(w["padded"]), h(w["mlkem_randomness"]),
                    h(w["ephemeral_secret"])) == message["b"]
    key = suite2.HybridPrivateKey.from_secret(h(bob["secret"]))
    opened = inv.open_welcome(key, h(w["message"]), group, request=request)
    p = decode(h(w["payload"]))
    assert (opened.request, opened.generation.seed, opened.starts) == (request, p["seed"], tuple(p["starts"]))


def test_aead_vectors():
    for c in load("aead.json")["cases"]:
        args = (h(c["key"]), h(c["nonce"]))
        assert crypto.encrypt(*args, h(c["plaintext"]), h(c["aad"])).hex() == c["ciphertext"]
        assert crypto.decrypt(*args, h(c["ciphertext"]), h(c["aad"])) == h(c["plaintext"])


def test_passphrase_vectors():
    for c in load("passphrase.json")["cases"]:
        key = crypto.passphrase_key(c["passphrase"], h(c["salt"]), opslimit=c["opslimit"],
                                    memlimit=c["memlimit"])
        assert key.hex() == c["key"]


def test_identity_vectors():
    v = load("identity.json")
    for c in v["cases"]:
        me = identity(c)
        assert fingerprint(me.public) == c["fingerprint"]
        assert safety_code(h(v["group"]), me.public) == c["safety_code"]
        assert me.relay_admin.public.raw.hex() == c["relay_admin_public"]
        assert me.device_record(h(v["group"])).fingerprint == c["device_fingerprint"]
    # a second device of a member shows the member's fingerprint and safety code
    by_name = {c["name"]: c for c in v["cases"]}
    assert by_name["alice/phone"]["fingerprint"] == by_name["alice"]["fingerprint"]
    assert by_name["alice/phone"]["safety_code"] == by_name["alice"]["safety_code"]
    assert by_name["alice/phone"]["device_fingerprint"] != by_name["alice"]["device_fingerprint"]


def test_wire_vectors():
    v = load("wire.json")
    for c in v["entry_hash"]:
        args = (h(c["mailbox"]), c["seq"], h(c["prev"]), h(c["ciphertext"]))
        assert encode(list(args)).hex() == c["encoded"]
        assert wire.entry_hash(*args).hex() == c["hash"]
    for c in v["cap_hash"]:
        assert wire.cap_hash(h(c["cap"])).hex() == c["hash"]
    for c in v["base64url"]:
        assert wire.b64e(h(c["bytes"])) == c["text"]
        assert wire.b64d(c["text"]) == h(c["bytes"])
    assert len(v["admin_sig"]) == 2
    for c in v["admin_sig"]:
        key = Identity.from_secrets(h(c["member_seed"]), bytes(32), bytes(32)).relay_admin
        assert key.public.raw.hex() == c["admin_key"]
        new = None if c["new_cap_hash"] is None else h(c["new_cap_hash"])
        admins = None if c["admins"] is None else [h(a) for a in c["admins"]]
        args = (h(c["mailbox"]), c["seq"], h(c["prev"]), h(c["ciphertext"]), new, admins)
        assert wire.admin_message(*args).hex() == c["message"]
        assert wire.sign_admin_append(key, *args).hex() == c["admin_sig"]
        assert wire.admin_signed(key.public.raw, h(c["admin_sig"]), *args)
        assert not wire.admin_signed(key.public.raw, h(c["admin_sig"]), *args[:4], new, [])


def test_generation_vectors():
    v = load("keys.json")
    gens = []
    for c in v["generations"]:
        g = Generation(c["number"], h(c["seed"]))
        gens.append(g)
        assert (g.commitment.hex(), g.log_key.hex(), g.content_key.hex(), g.relay_cap.hex(),
                wire.cap_hash(g.relay_cap).hex(), g.label_key.hex(), g.back_key.hex(),
                g.auth_key.hex()) == \
               (c["commitment"], c["log_key"], c["content_key"], c["relay_cap"], c["cap_hash"],
                c["label_key"], c["back_key"], c["auth_key"])
        # the purpose strings, as keys.md names them: content from the seed, the log's
        # keys from the log seed (itself derived from the seed)
        assert blake2b(b"hramada:v1:log-seed", key=g.seed, digest_size=32).hexdigest() == c["log_seed"]
        for field, purpose, key in (
                ("log_key", "log-key", g.log_seed), ("content_key", "content-key", g.seed),
                ("relay_cap", "relay-cap", g.log_seed), ("label_key", "box-label", g.log_seed),
                ("back_key", "prev-log-seed-key", g.log_seed), ("content_back_key", "prev-seed-key", g.seed),
                ("auth_key", "key-block-auth", g.log_seed)):
            assert blake2b(f"hramada:v1:{purpose}".encode(), key=key,
                           digest_size=32).hexdigest() == c[field][:64]
        # the mailbox capability: the relay-cap secret, then the append public key, whose
        # Ed25519 seed is derived from the log seed with "hramada:v1:entry-append"
        append_seed = blake2b(b"hramada:v1:entry-append", key=g.log_seed, digest_size=32).digest()
        assert SigningKey.from_seed(append_seed).public.raw.hex() == c["append_public"] == c["relay_cap"][64:]
        assert blake2b(g.log_seed, key=b"hramada:v1:seed-commit", digest_size=32).hexdigest() == \
            c["commitment"]
    kb = v["key_block"]
    a = kb["authorisation"]
    author = SigningKey.from_seed(h(a["author"]["sign_seed"]))
    assert author.public.raw.hex() == a["author"]["sign_public"]
    people = [BoxPrivateKey.from_secret(h(r["box_secret"])) for r in kb["recipients"]]
    removed = h(a["removed"]["member_id"])
    assert len(removed) == 32
    block = make_key_block(gens[0], gens[1], [p.public for p in people], h(kb["ephemeral_secret"]),
                           author=author, group=h(a["group"]), seq=a["seq"], auth_nonce=h(a["nonce"]),
                           removed=removed)
    assert encode(block.to_value()).hex() == kb["encoded"]
    assert decode(h(kb["encoded"])) == {**decode(h(kb["digested"])), "a": h(a["auth"])}
    assert block.digest.hex() == kb["digest"]
    assert crypto.hash32("hramada:v1:key-block", h(kb["digested"])).hex() == kb["digest"]
    for person, r in zip(people, kb["recipients"]):
        assert person.public.raw.hex() == r["box_public"]
        assert box_label(gens[0], BoxPublicKey(h(r["box_public"]))).hex() == r["label"]
        assert open_key_block(block, gens[0], person).seed == gens[1].seed
    assert encode(["hramada:v1:prev-log-seed", 0]).hex() == kb["back_aad"]
    assert encode(["hramada:v1:prev-seed", 0]).hex() == kb["content_back_aad"]
    assert walk_back(block, gens[1]).seed == gens[0].seed
    # the authorisation, step by step (keys.md §4)
    assert encode([h(a["group"]), a["seq"], block.digest, removed]).hex() == a["signed"]
    assert crypto.sign(author, "hramada:v1:key-block-auth", h(a["signed"])).hex() == a["signature"]
    assert encode([author.public.raw, removed, h(a["signature"])]).hex() == a["plaintext"]
    assert encode(["hramada:v1:key-block-auth", a["seq"]]).hex() == a["aad"]
    assert (h(a["nonce"]) + crypto.encrypt(gens[0].auth_key, h(a["nonce"]), h(a["plaintext"]),
                                           h(a["aad"]))).hex() == a["auth"] == block.auth.hex()
    assert sodium.crypto_sign_open(h(a["signature"]) + b"hramada:v1:key-block-auth\x00" + h(a["signed"]),
                                   author.public.raw) == b"hramada:v1:key-block-auth\x00" + h(a["signed"])
    assert key_block_author(block, gens[0], h(a["group"]), a["seq"]) == (author.public.raw, removed)


# -- invitations ----------------------------------------------------------------------

def test_invitation_vectors():
    v = load("invitation.json")
    secret = inv.InvitationSecret(h(v["secret"]))
    d = v["derived"]
    assert (secret.invite_id.hex(), secret.drop_id.hex(), secret.drop_cap.hex(),
            wire.cap_hash(secret.drop_cap).hex(), secret.signing.public.raw.hex(),
            secret.box_key.hex(), encode(secret.log_body()).hex()) == \
           (d["invite_id"], d["drop_id"], d["drop_cap"], d["drop_cap_hash"], d["sign_public"],
            d["box_key"], d["log_body"])
    c = v["code"]
    code = inv.InvitationCode(c["relay"], h(c["mailbox"]), h(c["group"]), secret, 0, c["suite"])
    assert encode([3, c["relay"], h(c["mailbox"]), h(c["group"]), secret.secret, 0, c["suite"]]).hex() \
        == c["payload"]
    assert code.to_text() == c["text"]
    assert inv.InvitationCode.from_text(c["text"]) == code
    j = v["join_request"]
    bob = identity(j["identity"])
    signed = inv.make_join_request(h(j["group"]), secret, bob, j["name"], suite=1)
    assert signed.hex() == j["signed"]
    assert inv.request_id(signed).hex() == j["request_id"]
    request = inv.verify_join_request(signed, h(j["group"]), secret.signing.public)
    assert request.key == bob.public and request.relay == bob.relay_admin.public.raw
    g = v["guest_message"]
    message = inv.seal_guest_message(h(g["box_key"]), h(g["nonce"]), h(g["plaintext"]))
    assert message.hex() == g["message"]
    assert inv.open_guest_message(h(g["box_key"]), message) == h(g["plaintext"])
    w = v["welcome"]
    letter = inv.make_welcome(bob.boxing.public, h(w["ephemeral_secret"]), h(w["group"]),
                              h(w["request"]), Generation(w["generation"], h(w["seed"])),
                              admit=(w["admit"][0], h(w["admit"][1])), starts=w["starts"])
    assert letter.hex() == w["message"]
    welcome = inv.open_welcome(bob.boxing, letter, h(w["group"]))
    assert welcome.request.hex() == w["request"] and welcome.generation.seed.hex() == w["seed"]
    assert welcome.admit == (w["admit"][0], h(w["admit"][1]))


# -- the log ----------------------------------------------------------------------------

def state_summary(log: GroupLog) -> dict:
    """The vectors' state summary (see log.json's "state"), computed independently."""
    def hx(b):
        return None if b is None else b.hex()

    def member(pk, m):
        return {"id": pk.hex(), "name": m.name, "role": m.role, "since": m.since,
                "until": m.until, "request": hx(m.request), "vouchers": [x.hex() for x in m.vouchers],
                "devices": [d.hex() for d in m.devices]}
    return {
        "group": log.group.hex(), "name": log.name, "vouches_required": log.vouches_required,
        "head": {"seq": log.head[0], "hash": log.head[1].hex()}, "generation": log.generation,
        "members": [member(k, m) for k, m in log.members.items()],
        "former": [member(k, m) for k, m in log.former.items()],
        "devices": [{"id": k.hex(), "member": d.member.hex(), "name": d.name, "box": d.box.hex(),
                     "since": d.since, "until": d.until} for k, d in log.devices.items()],
        "invites": [{"id": k.hex(), "by": i.by.hex(), "seq": i.seq, "request": hx(i.request)}
                    for k, i in log.invites.items()],
        "requests": [{"id": k.hex(), "name": r.name, "invite": r.invite.hex(), "seq": r.seq,
                      "posted_by": r.posted_by.hex(), "vouches": [x.hex() for x in r.vouches],
                      "status": r.status} for k, r in log.requests.items()],
        "generations": [{"number": g.number, "commitment": g.commitment.hex(),
                         "cap_hash": g.cap_hash.hex(), "start": g.start, "end": g.end,
                         "items_cutoff": None if g.items_cutoff is None else
                         [[a.hex(), n, g.items_links[a].hex()] for a, n in sorted(g.items_cutoff.items())]}
                        for g in log.generations],
        "ignored": [[p["seq"], p["reason"]] for code, p in log.warnings if code == "ignored-entry"],
        "void": [[p["seq"], p["reason"]] for code, p in log.warnings if code == "void-entry"],
    }


def replay_log(v: dict) -> tuple[GroupLog, Keyring, dict[str, Identity]]:
    """Build every entry again from its inputs, check it byte for byte, and fold it."""
    people = {name: identity(p) for name, p in v["people"].items()}
    mailbox = h(v["mailbox"])
    log, keys = GroupLog(mailbox), None
    for step in v["steps"]:
        author = people[step["author"]]
        i = step["inputs"]
        if step["kind"] == "create":
            new, gen0 = build.create_group(mailbox=mailbox, name=i["name"], creator=author,
                                           creator_name=i["creator_name"], vouches=i["vouches"],
                                           seed=h(i["seed"]), group_nonce=h(i["group_nonce"]),
                                           nonce=h(i["nonce"]), suite=1)
            keys = Keyring(author.boxing, {0: gen0})
        elif step["kind"] in ("remove", "rotate"):
            new = build.rotation(log, author=author, keys=keys, seed=h(i["seed"]),
                                 ephemeral_secret=h(i["ephemeral_secret"]), nonce=h(i["nonce"]),
                                 auth_nonce=h(i["auth_nonce"]),
                                 items_cutoff={h(a): (n, h(link)) for a, n, link in i["items_cutoff"]},
                                 remove=people[i["remove"]].public.id if "remove" in i else None)
        elif step["kind"] == "device-revoke":
            new = build.device_revoke(log, [people[n].device_id for n in i["revoke"]], author=author,
                                      keys=keys, seed=h(i["seed"]), ephemeral_secret=h(i["ephemeral_secret"]),
                                      nonce=h(i["nonce"]), auth_nonce=h(i["auth_nonce"]),
                                      items_cutoff={h(a): (n, h(link)) for a, n, link in i["items_cutoff"]})
        else:
            new = build.entry(log, step["kind"], untyped(step["body"]), author=author, keys=keys,
                              nonce=h(i["nonce"]))
        assert (new.seq, new.prev.hex()) == (step["seq"], step["prev"])
        assert new.ciphertext.hex() == step["ciphertext"], f"entry {new.seq}"
        # the inside, step by step
        gen = new.new_generation or keys.generations[max(log.generation, 0)]
        assert gen.number == step["generation"]
        assert wire.open_append(keys.generations[max(log.generation, 0)].append_key.public, mailbox,
                                new.seq, new.prev, new.ciphertext).hex() == step["envelope"]
        entry, signature = open_entry(Envelope.parse(h(step["envelope"])), new.seq, gen)
        assert entry.inner.hex() == step["inner"] and signature.hex() == step["signature"]
        assert encode(untyped(step["body"])).hex() == step["body_encoded"]
        assert entry.body == untyped(step["body"])
        assert encode(["hramada:v1:log-entry", 1, new.seq]).hex() == step["aad"]
        # the entry's signature by its device and its hash, with raw libsodium and hashlib
        signed_by = decode(entry.inner)["device"]
        message = b"hramada:v1:log-entry\x00" + entry.inner
        assert sodium.crypto_sign_open(signature + message, signed_by) == message
        assert blake2b(encode([mailbox, new.seq, new.prev, new.ciphertext]), key=b"hramada:v1:entry-hash",
                       digest_size=32).hexdigest() == step["entry_hash"]
        warned = len(log.warnings)
        log.apply(new.seq, new.prev, new.ciphertext, keys)
        assert log.hash_at(new.seq).hex() == step["entry_hash"]
        assert verdict_of(log.warnings[warned:]) == (step["verdict"], step["reason"], untyped(step["detail"]),
                                                     None if step["by"] is None else h(step["by"]))
    return log, keys, people


def verdict_of(warnings: list) -> tuple:
    """An entry's verdict from the warnings its folding recorded: applied, ignored (an
    ignored-entry warning, its reason and detail) or void (a void-entry warning)."""
    assert len(warnings) <= 1
    if not warnings:
        return "applied", None, {}, None
    code, p = warnings[0]
    return {"ignored-entry": "ignored", "void-entry": "void"}[code], p["reason"], p.get("detail", {}), p["by"]


def test_log_vectors():
    v = load("log.json")
    log, _, people = replay_log(v)
    assert state_summary(log) == v["state"]
    for name, c in v["invitations"].items():
        secret = inv.InvitationSecret(h(c["secret"]))
        signed = inv.make_join_request(log.group, secret, people[name], name, suite=1)
        assert signed.hex() == c["join_request"] and inv.request_id(signed).hex() == c["request_id"]


def test_log_vectors_fold_for_a_newcomer_from_the_welcome():
    """Carol's device: open the welcome, walk back, fold the relay's ciphertexts."""
    v = load("log.json")
    people = {name: identity(p) for name, p in v["people"].items()}
    w = v["welcome"]
    carol = people[w["recipient"]]
    group = h(v["state"]["group"])
    letter = inv.make_welcome(carol.boxing.public, h(w["ephemeral_secret"]), group, h(w["request"]),
                              Generation(0, h(v["steps"][0]["inputs"]["seed"])),
                              admit=(w["admit"][0], h(w["admit"][1])), starts=w["starts"])
    assert letter.hex() == w["message"]
    # carol leaves at the last entry, so her welcome fits the log as it was before: entries
    # 1 to 26, which she folds to the state alice's laptop folds them to
    relay = [(s["seq"], h(s["prev"]), h(s["ciphertext"])) for s in v["steps"]][:-1]
    welcome = inv.open_welcome(carol.boxing, letter, group)
    log, keys = adopt(h(v["mailbox"]), group, relay, welcome, carol.boxing, carol.public.id)
    assert state_summary(log) == state_summary(fold(v, people["alice"], len(relay)))
    assert sorted(keys.generations) == [0, 1, 2, 3]


def fold(v: dict, me: Identity, through: int) -> GroupLog:
    """The log of log.json folded from its ciphertexts, entries 1 to ``through``, by a device
    that holds generation 0 (the creator's)."""
    log = GroupLog(h(v["mailbox"]))
    keys = Keyring(me.boxing, {0: Generation(0, h(v["steps"][0]["inputs"]["seed"]))})
    for s in v["steps"][:through]:
        log.apply(s["seq"], h(s["prev"]), h(s["ciphertext"]), keys)
    return log


def test_log_vectors_a_welcome_at_a_later_generation():
    """dave's welcome hands over generation 3; 'starts' skips the void entry 17's key
    block; the walk back recovers every older seed, checked by hand (raw libsodium
    crypto_box_seal, hashlib BLAKE2b, XChaCha20-Poly1305) and through the core."""
    v = load("log.json")
    people = {name: identity(p) for name, p in v["people"].items()}
    w = v["later_welcome"]
    dave = people[w["recipient"]]
    group, mailbox = h(v["state"]["group"]), h(v["mailbox"])
    message = decode(h(w["message"]))
    assert set(message) == {"s", "e", "b"} and message["s"] == 1
    assert message["e"] == sodium.crypto_scalarmult_base(h(w["ephemeral_secret"]))
    padded = sodium.crypto_box_seal_open(message["e"] + message["b"], dave.boxing.public.raw, dave.boxing.raw)
    payload = decode(crypto.unpad(padded))
    assert payload == {"group": group, "request": h(w["request"]), "admit": [w["admit"][0], h(w["admit"][1])],
                       "gen": 3, "seed": h(w["seed"]), "starts": w["starts"]}
    assert w["starts"] == [14, 15, 18]
    steps = {s["seq"]: s for s in v["steps"]}
    assert steps[17]["verdict"] == "void" and "key_block" in steps[17]
    letter = inv.make_welcome(dave.boxing.public, h(w["ephemeral_secret"]), group, h(w["request"]),
                              Generation(3, h(w["seed"])), admit=(w["admit"][0], h(w["admit"][1])),
                              starts=w["starts"])
    assert letter.hex() == w["message"]
    # the walk back by hand: each key block's 'p' is the previous log seed, sealed under
    # back_key = BLAKE2b(key=log seed, 'hramada:v1:prev-log-seed-key'), its 'q' the previous seed
    # under the content back key (keys.md); XChaCha20-Poly1305 with a zero nonce (each key
    # seals one message)
    seeds = {g["number"]: h(g["seed"]) for g in w["walk_back"]}
    assert [g["number"] for g in w["walk_back"]] == [3, 2, 1, 0]
    for number, start in zip((3, 2, 1), (18, 15, 14)):
        append_public = Generation(number - 1, seeds[number - 1]).append_key.public
        envelope = wire.open_append(append_public, mailbox, start, h(steps[start]["prev"]),
                                    h(steps[start]["ciphertext"]))
        block = Envelope.parse(envelope).key_block
        seed = seeds[number]
        log_seed = blake2b(b"hramada:v1:log-seed", key=seed, digest_size=32).digest()
        back_key = blake2b(b"hramada:v1:prev-log-seed-key", key=log_seed, digest_size=32).digest()
        content_back_key = blake2b(b"hramada:v1:prev-seed-key", key=seed, digest_size=32).digest()
        previous_log_seed = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
            block.back, encode(["hramada:v1:prev-log-seed", number - 1]), bytes(24), back_key)
        assert previous_log_seed == blake2b(b"hramada:v1:log-seed", key=seeds[number - 1], digest_size=32).digest()
        assert sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
            block.back_content, encode(["hramada:v1:prev-seed", number - 1]), bytes(24),
            content_back_key) == seeds[number - 1]
    relay = [(s["seq"], h(s["prev"]), h(s["ciphertext"])) for s in v["steps"]]
    gens = walk_back_generations([(seq, ct) for seq, _, ct in relay], Generation(3, h(w["seed"])), w["starts"])
    assert {n: g.seed for n, g in gens.items()} == seeds
    # without 'starts' the walk back would take entry 17's block (void, it made no generation)
    with pytest.raises((DecryptionError, VerificationError)):
        walk_back_generations([(seq, ct) for seq, _, ct in relay], Generation(3, h(w["seed"])))
    welcome = inv.open_welcome(dave.boxing, letter, group)
    log, keys = adopt(mailbox, group, relay, welcome, dave.boxing, dave.public.id)
    assert state_summary(log) == v["state"]
    assert {n: g.seed for n, g in keys.generations.items()} == seeds


def test_log_vectors_key_blocks_step_by_step():
    """The plain rotation (18) and the void one (17): boxes, labels, digest and authorisation
    checked with hashlib and raw libsodium; 17's is signed by carol's device while carol was
    no admin (void rotation-not-authorised), 18's by alice's, an admin."""
    v = load("log.json")
    people = {name: identity(p) for name, p in v["people"].items()}
    steps = {s["seq"]: s for s in v["steps"]}
    group = h(v["state"]["group"])
    with_blocks = [s for s in v["steps"] if "key_block" in s]
    assert [(s["seq"], s["kind"], s["verdict"]) for s in with_blocks] == [(17, "rotate", "void"),
                                                                          (18, "rotate", "applied")]
    for step in with_blocks:
        kb, a, seq = step["key_block"], step["key_block"]["authorisation"], step["seq"]
        previous_seed = h(steps[15]["inputs"]["seed"])  # generation 2, made by entry 15
        assert kb["previous"] == 2
        log_seed = blake2b(b"hramada:v1:log-seed", key=previous_seed, digest_size=32).digest()
        label_key = blake2b(b"hramada:v1:box-label", key=log_seed, digest_size=32).digest()
        auth_key = blake2b(b"hramada:v1:key-block-auth", key=log_seed, digest_size=32).digest()
        core = decode(h(kb["digested"]))
        assert set(core) == {"e", "b", "p", "q"} and core["e"] == h(kb["ephemeral_public"])
        assert core["e"] == sodium.crypto_scalarmult_base(h(step["inputs"]["ephemeral_secret"]))
        assert blake2b(h(kb["digested"]), key=b"hramada:v1:key-block", digest_size=32).hexdigest() == kb["digest"]
        # one box per current device (alice's laptop, carol's), each opening to the new seed
        assert sorted(r["device"] for r in kb["recipients"]) == ["alice", "carol"]
        assert sorted([h(r["label"]), h(r["box"])] for r in kb["recipients"]) == core["b"]
        for r in kb["recipients"]:
            me = people[r["device"]].boxing
            assert blake2b(b"hramada:v1:box-label\x00" + me.public.raw, key=label_key,
                           digest_size=8).hexdigest() == r["label"]
            assert sodium.crypto_box_seal_open(core["e"] + h(r["box"]), me.public.raw, me.raw) == \
                h(step["inputs"]["seed"])
        assert encode(["hramada:v1:prev-log-seed", 2]).hex() == kb["back_aad"]
        assert encode(["hramada:v1:prev-seed", 2]).hex() == kb["content_back_aad"]
        # the authorisation: nonce || XChaCha20-Poly1305(auth key, encode([device, removed, signature]))
        auth = h(a["auth"])
        assert auth[:24] == h(a["nonce"]) == h(step["inputs"]["auth_nonce"])
        assert encode(["hramada:v1:key-block-auth", seq]).hex() == a["aad"]
        plaintext = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(auth[24:], h(a["aad"]), auth[:24], auth_key)
        assert plaintext.hex() == a["plaintext"]
        device, removed, signature = decode(plaintext)
        signer = people[a["signer"]]
        assert device == signer.signing.public.raw and removed == b"" == h(a["removed"])
        assert encode([group, seq, h(kb["digest"]), removed]).hex() == a["signed"]
        m = b"hramada:v1:key-block-auth\x00" + h(a["signed"])
        assert sodium.crypto_sign_open(signature + m, device) == m and signature.hex() == a["signature"]
        assert decode(h(kb["encoded"])) == {**core, "a": auth}
        env = Envelope.parse(h(step["envelope"]))
        assert encode(env.key_block.to_value()).hex() == kb["encoded"]
        assert key_block_author(env.key_block, Generation(2, previous_seed), group, seq) == (device, b"")
    assert steps[17]["key_block"]["authorisation"]["signer"] == "carol"
    assert (steps[17]["reason"], steps[17]["by"]) == ("rotation-not-authorised", v["people"]["carol"]["member_public"])
    assert steps[18]["key_block"]["authorisation"]["signer"] == "alice"


def test_log_vectors_refused():
    """What a device stops at: a tampered entry (ForgeryError, nothing applied), and a
    join request signed for another group (ForgeryError; ignored request-invalid in the log)."""
    v = load("log.json")
    people = {name: identity(p) for name, p in v["people"].items()}
    refused = {c["what"]: c for c in v["refused"]}
    assert set(refused) == {"tampered-entry", "wrong-group-request"}
    t = refused["tampered-entry"]
    assert t["error"] == "ForgeryError"
    original = h(v["steps"][t["seq"] - 1]["ciphertext"])
    tampered = h(t["ciphertext"])
    assert len(tampered) == len(original) and sum(x != y for x, y in zip(tampered, original)) == 1
    log = fold(v, people["alice"], t["after"])
    keys = Keyring(people["alice"].boxing, {0: Generation(0, h(v["steps"][0]["inputs"]["seed"])),
                                            1: Generation(1, h(v["steps"][13]["inputs"]["seed"])),
                                            2: Generation(2, h(v["steps"][14]["inputs"]["seed"]))})
    before = state_summary(log)
    with pytest.raises(ForgeryError):
        log.apply(t["seq"], h(t["prev"]), tampered, keys)
    assert state_summary(log) == before
    # the same bytes fail the append signature by hand: Ed25519 by generation 2's append key
    append_public = Generation(2, h(v["steps"][14]["inputs"]["seed"])).append_key.public
    with pytest.raises(ForgeryError):
        wire.open_append(append_public, h(v["mailbox"]), t["seq"], h(t["prev"]), tampered)
    log.apply(t["seq"], h(t["prev"]), original, keys)  # the untampered entry applies
    r = refused["wrong-group-request"]
    assert r["error"] == "ForgeryError"
    secret = inv.InvitationSecret(h(v["invitations"][r["invitation"]]["secret"]))
    assert inv.make_join_request(h(r["group"]), secret, people["dave"], "dave", suite=1).hex() == r["join_request"]
    inv.verify_join_request(h(r["join_request"]), h(r["group"]), secret.signing.public)  # fine there
    with pytest.raises(ForgeryError):
        inv.verify_join_request(h(r["join_request"]), h(v["state"]["group"]), secret.signing.public)
    step = v["steps"][22]
    assert untyped(step["body"]) == {"request": h(r["join_request"])}
    assert (step["verdict"], step["reason"], step["detail"]) == ("ignored", "request-invalid", {"error": "forged"})


def test_name_vectors():
    """Every refusal code of the name rule with its parameters (invitations.md §3)."""
    from hramada.core.names import NameRefused, check_name
    v = load("names.json")
    for name in v["valid"]:
        assert check_name(name) == name
    assert {c["code"] for c in v["refused"]} == {"name-type", "name-empty", "name-too-long", "name-spaces",
                                                "name-character"}
    for c in v["refused"]:
        if isinstance(c["name"], str):
            assert " ".join(f"U+{ord(ch):04X}" for ch in c["name"]) == c["code_points"]
        with pytest.raises(NameRefused) as refused:
            check_name(c["name"])
        assert (refused.value.code, refused.value.params) == (c["code"], c["detail"])


def test_item_vectors():
    v = load("item.json")
    log, keys, people = replay_log(load(v["log"]))
    gen = keys.generations[v["generation"]]
    head = (v["head"]["seq"], h(v["head"]["hash"]))
    assert log.hash_at(head[0]) == head[1]
    author = people[v["author"]].signing
    iid, ct = items.seal_item(group=log.group, kind=v["kind"], body=untyped(v["body"]), author=author,
                              seq=v["seq"], head=head, time=v["time"], generation=gen, nonce=h(v["nonce"]))
    assert ct.hex() == v["ciphertext"] and iid.hex() == v["id"] and v["prev"] == "00" * 32
    # the layout: suite || generation (4, big-endian) || nonce || AEAD(signature || inner || padding)
    assert ct[0] == crypto.SUITE and int.from_bytes(ct[1:5], "big") == v["generation"]
    assert ct[5:29] == h(v["nonce"])
    assert h(v["aad"]) == b"hramada:v1:item\x00" + ct[:5]
    padded = crypto.decrypt(gen.content_key, ct[5:29], ct[29:], h(v["aad"]))
    assert padded.hex() == v["padded"]
    signed = h(v["signed"])
    assert len(padded) == items.padded_size(len(signed) + 1)
    assert padded == signed + b"\x80" + bytes(len(padded) - len(signed) - 1)
    assert signed.hex() == v["signature"] + v["inner"]
    assert encode(decode(h(v["inner"]))).hex() == v["inner"]
    content = h(v["content"])
    assert decode(h(v["inner"]))[4] == content and encode(decode(content)) == content
    assert decode(content)[:2] == [1, bytes(32)]  # [seq, prev, author, kind, body]
    assert crypto.hash32("hramada:v1:item-link", content).hex() == v["link"]
    assert v["link"][:32] == v["id"]
    for verdict in v["verdicts"]:
        if verdict["result"] == "ok":
            item = open_item(ct, verdict["cursor"], log, keys.generations)
            assert (item.id.hex(), item.body) == (v["id"], untyped(v["body"]))
        else:
            with pytest.raises(ForgeryError):
                open_item(ct, verdict["cursor"], log, keys.generations)
    resigned = v["resigned"]
    _, resigned_ct = items.seal_item(group=log.group, kind="bulletin", body=untyped(resigned["body"]),
                                     author=author, seq=resigned["seq"], head=head, time=resigned["time"],
                                     generation=gen, nonce=h(resigned["nonce"]))
    assert resigned_ct.hex() == resigned["ciphertext"]
    for verdict in resigned["verdicts"]:
        assert verdict["result"] == "unlinked"
        with pytest.raises(items.Unlinked, match="signed another item with that number"):
            open_item(resigned_ct, verdict["cursor"], log, keys.generations)
    late = v["late"]
    _, late_ct = items.seal_item(group=log.group, kind="bulletin", body=untyped(late["body"]),
                                 author=author, seq=late["seq"], head=head, time=late["time"],
                                 generation=gen, nonce=h(late["nonce"]), prev=h(v["link"]))
    assert late_ct.hex() == late["ciphertext"]
    for verdict in late["verdicts"]:
        assert verdict["result"] == "forgery"
        with pytest.raises(ForgeryError, match="after their removal"):
            open_item(late_ct, verdict["cursor"], log, keys.generations)


def reader(v: dict, readers: dict, name: str) -> GroupLog:
    """A reader state of item.json: log.json folded from its ciphertexts by alice's laptop,
    through some entry, then (for 'forked') another entry the relay served in its place."""
    people = {n: identity(p) for n, p in v["people"].items()}
    state = readers[name]
    log = fold(v, people["alice"], state["steps"])
    if "then" in state:
        t = state["then"]
        keys = Keyring(people["alice"].boxing, {n: Generation(n, h(v["steps"][s - 1]["inputs"]["seed"]))
                                                for n, s in ((0, 1), (1, 14), (2, 15))})
        new = build.entry(log, t["kind"], untyped(t["body"]), author=people[t["author"]], keys=keys,
                          nonce=h(t["nonce"]))
        assert (new.seq, new.prev.hex(), new.ciphertext.hex()) == (t["seq"], t["prev"], t["ciphertext"])
        log.apply(new.seq, new.prev, new.ciphertext, keys)
        assert log.hash_at(t["seq"]).hex() == t["entry_hash"] != v["steps"][t["seq"] - 1]["entry_hash"]
    return log


def open_by_hand(case: dict, seed: bytes, sign_public: bytes) -> dict:
    """An item opened with hashlib and raw libsodium: content key, XChaCha20-Poly1305,
    padding, Ed25519 over 'hramada:v1:item' || 0 || inner, the link."""
    ct = h(case["ciphertext"])
    assert ct[0] == 1 and int.from_bytes(ct[1:5], "big") == case["generation"] and ct[5:29] == h(case["nonce"])
    key = blake2b(b"hramada:v1:content-key", key=seed, digest_size=32).digest()
    padded = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ct[29:], b"hramada:v1:item\x00" + ct[:5],
                                                               ct[5:29], key)
    signed = padded[:padded.rindex(b"\x80")]
    assert set(padded[len(signed) + 1:]) <= {0}
    signature, inner = signed[:64], signed[64:]
    m = b"hramada:v1:item\x00" + inner
    assert sodium.crypto_sign_open(signature + m, sign_public) == m
    version, head, time, group, content = decode(inner)
    seq, prev, author, kind, body = decode(content)
    assert blake2b(content, key=b"hramada:v1:item-link", digest_size=32).hexdigest() == case["link"]
    assert (seq, prev.hex(), author, kind, time) == (case["seq"], case["prev"], sign_public, case["kind"], case["time"])
    assert head == [case["head"]["seq"], h(case["head"]["hash"])]
    return body


def test_item_vectors_comment_stale_not_yet_and_fork():
    """carol's comment and her stale item: built again from their inputs, opened by hand,
    and each verdict reached by opening them through the core against the reader state
    it names."""
    v = load("item.json")
    lv = load(v["log"])
    people = {n: identity(p) for n, p in lv["people"].items()}
    steps = {s["seq"]: s for s in lv["steps"]}
    gen2 = Generation(2, h(steps[15]["inputs"]["seed"]))
    readers = {n: reader(lv, v["readers"], n) for n in ("final", "through-15", "forked")}
    assert readers["final"].head[0] == len(lv["steps"]) == v["readers"]["final"]["steps"]
    carol = people["carol"]
    comment, stale = v["comment"], v["stale"]
    assert untyped(comment["body"])["parent"] == h(v["id"])  # a comment on bob's item
    for case, prev in ((comment, items.ZERO_LINK), (stale, h(comment["link"]))):
        head = (case["head"]["seq"], h(case["head"]["hash"]))
        assert head[1].hex() == steps[head[0]]["entry_hash"]
        link, ct = items.seal_item_linked(group=h(lv["state"]["group"]), kind=case["kind"],
                                          body=untyped(case["body"]), author=carol.signing, seq=case["seq"],
                                          head=head, time=case["time"], generation=gen2,
                                          nonce=h(case["nonce"]), prev=prev)
        assert (link.hex(), ct.hex()) == (case["link"], case["ciphertext"])
        assert open_by_hand(case, gen2.seed, carol.signing.public.raw) == untyped(case["body"])
    # the cut-off that makes the comment carol's last under generation 2, and her leave
    assert steps[18]["inputs"]["items_cutoff"] == [[carol.signing.public.raw.hex(), 1, comment["link"]]]
    assert untyped(steps[27]["body"]) == {"items": [[carol.signing.public.raw, 2]]}
    generations = {n: Generation(n, h(steps[s]["inputs"]["seed"])) for n, s in ((0, 1), (1, 14), (2, 15), (3, 18))}
    for case in (comment, stale):
        for verdict in case["verdicts"]:
            log, ct = readers[verdict["reader"]], h(case["ciphertext"])
            gens = {n: g for n, g in generations.items() if n <= log.generation}
            result = verdict["result"]
            if result == "ok":
                item = open_item(ct, verdict["cursor"], log, gens)
                assert (item.kind, item.body, item.link.hex()) == (case["kind"], untyped(case["body"]), case["link"])
            elif result == "not-yet":
                with pytest.raises(items.NotYet) as caught:
                    open_item(ct, verdict["cursor"], log, gens)
                assert caught.value.entry == verdict["detail"]["entry"] > log.head[0]
            elif result == "fork":
                with pytest.raises(ForkError, match="by carol"):
                    open_item(ct, verdict["cursor"], log, gens)
                member, entry = h(verdict["detail"]["member"]), verdict["detail"]["entry"]
                assert member == carol.public.id and log.device_at(carol.signing.public.raw, entry)[0].key.id == member
                assert log.hash_at(entry).hex() != case["head"]["hash"]
            else:
                assert result == "stale"
                with pytest.raises(items.Stale) as caught:
                    open_item(ct, verdict["cursor"], log, gens)
                assert caught.value.item.link.hex() == case["link"]
    assert {vd["result"] for c in (comment, stale) for vd in c["verdicts"]} == {"ok", "not-yet", "fork", "stale"}
