"""Write Hramada's known-answer test vectors (the JSON files next to this script).

    .venv/bin/python docs/spec/vectors/generate.py

Every input is fixed: secrets, seeds and nonces are ``BLAKE2b(label)`` of a short
label, so the vectors never change unless the protocol does. The files are read by
``tests/core/test_vectors.py``, which recomputes every output from its inputs. Change
them only on purpose: they are what a second implementation is checked against.

JSON conventions (see README.md here): byte strings are hex; inside encoded values a
byte string is ``{"hex": "…"}`` and an integer beyond ±2**53 is ``{"int": "…"}``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nacl.bindings as sodium

from hramada.core import build, crypto, items, wire
from hramada.core import invitation as inv
from hramada.core.encoding import decode, encode
from hramada.core.entries import Envelope, envelope_bytes, open_entry
from hramada.core.identity import Identity, cert_message, fingerprint, safety_code
from hramada.core.keys import Generation, box_label, make_key_block
from hramada.core.state import GroupLog, Keyring

HERE = Path(__file__).parent


def fixed(label: str, n: int = 32) -> bytes:
    """The fixed 'random' input called ``label``."""
    return hashlib.blake2b(label.encode(), digest_size=n).digest()


def typed(value):
    """An encodable value as JSON (bytes and big integers tagged)."""
    if isinstance(value, bytes):
        return {"hex": value.hex()}
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else {"int": str(value)}
    if isinstance(value, (list, tuple)):
        return [typed(v) for v in value]
    return {k: typed(v) for k, v in value.items()}


def write(name: str, content: dict) -> None:
    path = HERE / name
    path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {path}")


# a person's devices: the first is named by the person, another by "person/device"
DEVICES = {"alice/phone": ("alice", "phone")}


def person(name: str) -> Identity:
    member, device = DEVICES.get(name, (name, "laptop"))
    return Identity.from_secrets(fixed(f"{member}/member"), fixed(f"{name}/sign"), fixed(f"{name}/box"),
                                 device)


def person_json(name: str, group: bytes = b"") -> dict:
    """A device's secrets and public keys, and its device record certified for ``group``
    (``b""``: as inside a ``create`` entry)."""
    me = person(name)
    record = me.device_record(group)
    return {"member_seed": me.member.seed.hex(), "sign_seed": me.signing.seed.hex(),
            "box_secret": me.boxing.raw.hex(), "device_name": me.device_name,
            "member_public": me.public.sign.raw.hex(), "sign_public": me.signing.public.raw.hex(),
            "box_public": me.boxing.public.raw.hex(),
            "relay_admin_public": me.relay_admin.public.raw.hex(),
            "cert_group": group.hex(), "cert": record.cert.hex(),
            "cert_signed": cert_message(group, 1, me.member_id, me.device_id, me.boxing.public.raw,
                                        me.device_name).hex(),
            "device_fingerprint": record.fingerprint}


# -- encoding -----------------------------------------------------------------------

def encoding() -> None:
    values = [0, 1, 23, 24, 255, 256, 65535, 65536, 2**32, 2**53 + 1, 2**64 - 1, -1, -24, -25,
              -(2**63), b"", b"\x00\xff", bytes(range(24)), "", "a", "Ünïcödé ✓", "x" * 24,
              True, False, None, [], [1, [2, [3]]], {}, {"b": 1, "a": 2, "aa": 3, "B": 4},
              {"kind": "vouch", "body": {"request": bytes(8)}, "v": 1, "seq": 7},
              ["mixed", -7, b"\x01", None, {"z": [True]}]]
    valid = [{"value": typed(v), "encoding": encode(v).hex()} for v in values]
    invalid = [
        ("f93c00", "float (half)"), ("fb3ff0000000000000", "float (double)"),
        ("c11a514b67b0", "tag 1"), ("c24101", "tag 2 (bignum)"), ("d8184101", "tag 24"),
        ("5f4101ff", "indefinite-length byte string"), ("7f6161ff", "indefinite-length text"),
        ("9f01ff", "indefinite-length array"), ("bf616101ff", "indefinite-length map"),
        ("f7", "undefined"), ("f0", "simple value"), ("1801", "integer not in shortest form"),
        ("580100", "length not in shortest form"), ("a2616101616102", "duplicate map key"),
        ("a2616201616101", "map keys out of order"),
        ("a10101", "integer map key"), ("a1410101", "byte-string map key"),
        ("0100", "trailing bytes"), ("", "empty"), ("4201", "truncated"),
        ("3b8000000000000000", "integer below -2**63"), ("61ff", "invalid UTF-8"),
        ("81" * 17 + "01", "arrays nested 17 deep"),
    ]
    invalid = [{"encoding": h, "why": why} for h, why in invalid]
    write("encoding.json", {
        "description": "Canonical encoding (encoding.md): each value and its only encoding; "
                       "then encodings every implementation must refuse.",
        "valid": valid, "invalid": invalid})


# -- primitives -----------------------------------------------------------------------

def hashing() -> None:
    data = [b"", b"abc", bytes(range(100))]
    write("hashing.json", {
        "description": "hash32(purpose, data) = BLAKE2b-256(key=purpose, data); "
                       "derive_key(key, purpose) = BLAKE2b-256(key=key, purpose); "
                       "keyed_hash(key, purpose, data, size) = BLAKE2b-size(key=key, purpose || 0x00 || data).",
        "hash32": [{"purpose": p, "data": d.hex(), "hash": crypto.hash32(p, d).hex()}
                   for p in ("hramada:v1:entry-hash", "hramada:v1:group-id") for d in data],
        "derive_key": [{"key": fixed(f"parent {i}").hex(), "purpose": p,
                        "derived": crypto.derive_key(fixed(f"parent {i}"), p).hex()}
                       for i in range(2) for p in ("hramada:v1:log-key", "hramada:v1:content-key")],
        "keyed_hash": [{"key": fixed("label key").hex(), "purpose": "hramada:v1:box-label",
                        "data": d.hex(), "size": size,
                        "hash": crypto.keyed_hash(fixed("label key"), "hramada:v1:box-label", d,
                                                  size).hex()}
                       for d in data[:2] for size in (8, 32)],
    })


def signatures() -> None:
    cases = []
    for i, (purpose, message) in enumerate([("hramada:v1:log-entry", b""),
                                            ("hramada:v1:item", b"hello"),
                                            ("hramada:v1:join-request", bytes(range(64)))]):
        key = crypto.SigningKey.from_seed(fixed(f"signer {i}"))
        cases.append({"seed": key.seed.hex(), "public": key.public.raw.hex(), "purpose": purpose,
                      "message": message.hex(),
                      "signed_bytes": (purpose.encode() + b"\x00" + message).hex(),
                      "signature": crypto.sign(key, purpose, message).hex()})
    write("signatures.json", {
        "description": "Ed25519 (RFC 8032) over purpose || 0x00 || message; "
                       "signed_bytes is exactly what the Ed25519 signature covers. "
                       "'refused' are signatures that a lax verifier would accept and that "
                       "every Hramada implementation MUST refuse (keys.md, 'Signature strictness').",
        "cases": cases, "refused": refused_signatures()})


ED25519_L = 2**252 + 27742317777372353535851937790883648493
IDENTITY = (1).to_bytes(32, "little")                          # the neutral point, order 1
IDENTITY_NON_CANONICAL = (2**255 - 19 + 1).to_bytes(32, "little")  # y = p + 1, also order 1


def refused_signatures() -> list[dict]:
    """Signatures that satisfy the cofactorless equation [S]B = R + [k]A (or would after
    reducing S or decoding a non-canonical point) yet break a rule of strict verification."""
    purpose, message = "hramada:v1:item", b"strict"
    m = purpose.encode() + b"\x00" + message
    key = crypto.SigningKey.from_seed(fixed("strict signer"))
    a = bytearray(hashlib.sha512(key.seed).digest()[:32])
    a[0] &= 248
    a[31] = (a[31] & 127) | 64
    scalar = int.from_bytes(a, "little")

    def k(r: bytes, pk: bytes) -> int:
        return int.from_bytes(hashlib.sha512(r + pk + m).digest(), "little") % ED25519_L

    def le(n: int) -> bytes:
        return n.to_bytes(32, "little")

    good = crypto.sign(key, purpose, message)
    s = int.from_bytes(good[32:], "little")
    r_any = fixed("strict nonce")
    r_any_scalar = int.from_bytes(r_any, "little") % ED25519_L
    r_point = sodium.crypto_scalarmult_ed25519_base_noclamp(le(r_any_scalar))
    cases = [
        ("s-not-reduced", key.public.raw, good[:32] + le(s + ED25519_L),
         "S >= L: the valid signature with L added to S"),
        ("small-order-key", IDENTITY, r_point + le(r_any_scalar),
         "A is the neutral point: [S]B = R holds for every message"),
        ("non-canonical-key", IDENTITY_NON_CANONICAL, r_point + le(r_any_scalar),
         "A encodes y = p + 1 (the neutral point, not reduced)"),
        ("small-order-r", key.public.raw, IDENTITY + le(k(IDENTITY, key.public.raw) * scalar % ED25519_L),
         "R is the neutral point and S = k * a: [S]B - [k]A = R holds"),
        ("non-canonical-r", key.public.raw,
         IDENTITY_NON_CANONICAL + le(k(IDENTITY_NON_CANONICAL, key.public.raw) * scalar % ED25519_L),
         "R encodes the neutral point as y = p + 1 and S = k * a"),
    ]
    return [{"reason": reason, "public": pk.hex(), "purpose": purpose, "message": message.hex(),
             "signed_bytes": m.hex(), "signature": sig.hex(), "why": why}
            for reason, pk, sig, why in cases]


def sealing() -> None:
    people = [crypto.BoxPrivateKey.from_secret(fixed(f"recipient {i}")) for i in range(3)]
    eph = fixed("ephemeral")
    plaintext = fixed("a generation seed")
    epk, boxes = crypto.seal_many([p.public for p in people], eph, plaintext)
    write("seal.json", {
        "description": "seal_many: one ephemeral X25519 key, one crypto_box per recipient with "
                       "nonce = BLAKE2b-192(ephemeral_public || recipient_public). "
                       "ephemeral_public || box is libsodium's crypto_box_seal for that recipient.",
        "ephemeral_secret": eph.hex(), "ephemeral_public": epk.hex(), "plaintext": plaintext.hex(),
        "recipients": [{"secret": p.raw.hex(), "public": p.public.raw.hex(),
                        "nonce": crypto._box_nonce(epk, p.public.raw).hex(), "box": b.hex()}
                       for p, b in zip(people, boxes)]})


def suite2_vectors() -> None:
    """Suite 2 (keys.md "Suite 2"). pyca/cryptography cannot be given HPKE's encapsulation
    randomness, so the boxes are built by the independent construction the tests use
    (tests/core/hpke_reference.py: kyber-py, libsodium, hashlib) with the ML-KEM
    randomness ``m`` and the X25519 ephemeral secret fixed, and opened by the core."""
    import sys
    sys.path.insert(0, str(HERE.parents[2] / "tests" / "core"))
    import hpke_reference as ref
    from hramada.core import suite2

    def key_json(name: str) -> dict:
        k = suite2.HybridPrivateKey.from_secret(fixed(f"{name}/suite2"))
        return {"secret": k.secret.hex(),
                "x25519_secret": suite2.derive(k.secret, suite2.X25519_PURPOSE, 32).hex(),
                "mlkem_seed": suite2.derive(k.secret, suite2.MLKEM_PURPOSE, 64).hex(),
                "public": k.public.raw.hex()}

    keys = {n: key_json(n) for n in ("alice", "bob")}
    group = fixed("group id", 16)
    infos = [(suite2.KEY_BLOCK_BOX, group, 7), (suite2.WELCOME, group, fixed("invitation id", 16)),
             (suite2.JOIN_REQUEST, group, fixed("request id", 16)), (suite2.DEVICE_LINK, b"", 0)]
    boxes = []
    for who, (purpose, g, position), plaintext in (
            ("alice", infos[0], fixed("a generation seed")), ("bob", infos[0], fixed("a generation seed")),
            ("bob", infos[1], encode({"welcome": "a longer plaintext", "seed": fixed("seed")}))):
        info = suite2.hybrid_info(purpose, g, position)
        m, eph = fixed(f"{who}/{purpose}/m"), fixed(f"{who}/{purpose}/ephemeral")
        box = ref.seal(bytes.fromhex(keys[who]["public"]), info, plaintext, m, eph)
        boxes.append({"recipient": who, "info": info.hex(), "plaintext": plaintext.hex(),
                      "mlkem_randomness": m.hex(), "ephemeral_secret": eph.hex(),
                      "ephemeral_public": sodium.crypto_scalarmult_base(eph).hex(), "box": box.hex()})
    first = bytes.fromhex(boxes[0]["box"])
    flipped = first[:1100] + bytes([first[1100] ^ 1]) + first[1101:]
    alice_pk = bytes.fromhex(keys["alice"]["public"])
    write("suite2.json", {
        "description": "Suite 2: hybrid X25519 + ML-KEM-768 key delivery, HPKE (RFC 9180) base mode "
                       "with KEM MLKEM768-X25519 (0x647a), HKDF-SHA256, ChaCha20-Poly1305; "
                       "box = enc (1120) || ciphertext || tag. Key pairs derive from one secret; "
                       "boxes are built with the encapsulation randomness given (m for ML-KEM, "
                       "the ephemeral X25519 secret), which a real sealer draws afresh.",
        "keys": keys,
        "infos": [{"purpose": p, "group": g.hex(), "position": typed(pos),
                   "info": suite2.hybrid_info(p, g, pos).hex()} for p, g, pos in infos],
        "boxes": boxes,
        "refused_boxes": [
            {"reason": "flipped-byte", "recipient": "alice", "info": boxes[0]["info"], "box": flipped.hex()},
            {"reason": "wrong-recipient", "recipient": "bob", "info": boxes[0]["info"], "box": first.hex()},
            {"reason": "wrong-info", "recipient": "alice",
             "info": suite2.hybrid_info(suite2.KEY_BLOCK_BOX, group, 8).hex(), "box": first.hex()},
            {"reason": "truncated", "recipient": "alice", "info": boxes[0]["info"], "box": first[:-1].hex()},
            {"reason": "ephemeral-low-order", "recipient": "alice", "info": boxes[0]["info"],
             "box": ref.seal_with_ephemeral_point(bytes.fromhex(keys["alice"]["public"]), bytes.fromhex(boxes[0]["info"]),
                                                  fixed("a generation seed"), fixed("alice/low-order/m"),
                                                  bytes(32), bytes(32)).hex()}],
        "key_block": suite2_key_block(ref, group),
        "welcome": suite2_welcome(ref, group),
        "refused_public_keys": [
            {"reason": "x25519-low-order", "public": (alice_pk[:1184] + bytes(32)).hex()},
            {"reason": "x25519-non-canonical",
             "public": (alice_pk[:1184] + b"\xed" + b"\xff" * 30 + b"\x7f").hex()},
            {"reason": "mlkem-modulus", "public": (b"\xff" + bytes([alice_pk[1] | 0x0F]) + alice_pk[2:]).hex()},
            {"reason": "wrong-size", "public": alice_pk[:-1].hex()}]})


class GivenSealer:
    """A suite-2 sealer whose randomness is given: box i is sealed with ``randomness[i]``
    = (ML-KEM randomness m, X25519 ephemeral secret), by the independent construction."""

    def __init__(self, ref, randomness: list[tuple[bytes, bytes]]) -> None:
        self.ref, self.randomness = ref, randomness

    def seal(self, recipients, info: bytes, plaintext: bytes) -> list[bytes]:
        assert len(recipients) == len(self.randomness)
        return [self.ref.seal(r.raw, info, plaintext, m, e) for r, (m, e) in zip(recipients, self.randomness)]


def suite2_key_block(ref, group: bytes) -> dict:
    """A suite-2 key block (keys.md §4.1, inline) from generation 0 to 1 for alice and
    bob, authorised by carol's signing key for entry 12 as a plain rotation."""
    from hramada.core import pages, suite2
    gens = [Generation(n, fixed(f"generation {n}")) for n in range(2)]
    names = ("alice", "bob")
    keys = [suite2.HybridPrivateKey.from_secret(fixed(f"{n}/suite2")) for n in names]
    randomness = [(fixed(f"{n}/key-block/m"), fixed(f"{n}/key-block/ephemeral")) for n in names]
    author, seq, auth_nonce = person("carol"), 12, fixed("suite 2 auth nonce", 24)
    block = make_key_block(gens[0], gens[1], [k.public for k in keys], b"", author=author.signing,
                           group=group, seq=seq, auth_nonce=auth_nonce, sealer=GivenSealer(ref, randomness))
    core = {"s": 2, "b": [[lab, box] for lab, box in block.boxes], "p": block.back, "q": block.back_content}
    signed = encode([group, seq, block.digest, b"", 2])
    signature = crypto.sign(author.signing, "hramada:v1:key-block-auth", signed)
    plaintext = encode([author.signing.public.raw, b"", signature])
    aad = encode(["hramada:v1:key-block-auth", seq, 2])
    assert block.auth == auth_nonce + crypto.encrypt(gens[0].auth_key, auth_nonce, plaintext, aad)
    boxes = dict(block.boxes)
    page = encode([box for _, box in block.boxes])
    return {
        "description": "A suite-2 key block, inline (at most 256 boxes): one HPKE box per recipient "
                       "with info encode(['hramada:v2:key-block-box', 2, group, seq]), the randomness "
                       "of each box given; the suite bound into the digest ('s'), the signed "
                       "message and the AEAD data (trailing 2). 'page_example' pins the page "
                       "digest on a one-box page (real pages hold 256 boxes).",
        "previous": {"number": 0, "seed": gens[0].seed.hex()}, "new": {"number": 1, "seed": gens[1].seed.hex()},
        "group": group.hex(), "seq": seq,
        "info": suite2.hybrid_info(suite2.KEY_BLOCK_BOX, group, seq).hex(),
        "recipients": [{"name": n, "secret": k.secret.hex(), "public": k.public.raw.hex(),
                        "label": box_label(gens[0], k.public).hex(), "mlkem_randomness": m.hex(),
                        "ephemeral_secret": e.hex(), "box": boxes[box_label(gens[0], k.public)].hex()}
                       for n, k, (m, e) in zip(names, keys, randomness)],
        "digested": encode(core).hex(), "digest": block.digest.hex(),
        "authorisation": {"author": {"name": "carol", "sign_seed": author.signing.seed.hex(),
                                     "sign_public": author.signing.public.raw.hex()},
                          "nonce": auth_nonce.hex(), "removed": "", "signed": signed.hex(),
                          "signature": signature.hex(), "plaintext": plaintext.hex(), "aad": aad.hex(),
                          "auth": block.auth.hex()},
        "encoded": encode(block.to_value()).hex(),
        "page_example": {"page": page.hex(), "digest": pages.page_digest(page).hex()}}


def suite2_welcome(ref, group: bytes) -> dict:
    """A suite-2 welcome (invitations.md §6) for bob's request, at generation 1."""
    from hramada.core import suite2
    bob = suite2.HybridPrivateKey.from_secret(fixed("bob/suite2"))
    request, admit = fixed("request id", 8), (9, fixed("admit entry hash"))
    gen = Generation(1, fixed("generation 1"))
    m, e = fixed("bob/welcome/m"), fixed("bob/welcome/ephemeral")
    message = inv.make_welcome(bob.public, b"", group, request, gen, admit=admit, starts=[3],
                               sealer=GivenSealer(ref, [(m, e)]))
    payload = encode({"group": group, "request": request, "admit": [admit[0], admit[1]], "gen": 1,
                      "seed": gen.seed, "starts": [3]})
    return {"recipient": "bob", "group": group.hex(), "request": request.hex(),
            "info": suite2.hybrid_info(suite2.WELCOME, group, request).hex(),
            "payload": payload.hex(), "padded": crypto.pad(payload).hex(),
            "mlkem_randomness": m.hex(), "ephemeral_secret": e.hex(), "message": message.hex()}


def aead() -> None:
    cases = []
    for i, (plaintext, aad) in enumerate([(b"", b""), (b"hello", b""),
                                          (bytes(range(80)), b"hramada:v1:item\x00\x01\x00\x00\x00\x00")]):
        key, nonce = fixed(f"aead key {i}"), fixed(f"aead nonce {i}", 24)
        cases.append({"key": key.hex(), "nonce": nonce.hex(), "aad": aad.hex(),
                      "plaintext": plaintext.hex(),
                      "ciphertext": crypto.encrypt(key, nonce, plaintext, aad).hex()})
    write("aead.json", {"description": "XChaCha20-Poly1305 (IETF); ciphertext includes the 16-byte tag.",
                        "cases": cases})


def passphrase() -> None:
    salt = fixed("salt", crypto.SALT_BYTES)
    ops, mem = sodium.crypto_pwhash_argon2id_OPSLIMIT_MIN, sodium.crypto_pwhash_argon2id_MEMLIMIT_MIN
    write("passphrase.json", {
        "description": "passphrase_key: Argon2id v1.3, 32-byte output (small limits here; "
                       "profiles use libsodium's MODERATE limits).",
        "cases": [{"passphrase": p, "salt": salt.hex(), "opslimit": ops, "memlimit": mem,
                   "key": crypto.passphrase_key(p, salt, opslimit=ops, memlimit=mem).hex()}
                  for p in ("correct horse battery staple", "Жыве Беларусь!")]})


def identities_and_wire() -> None:
    group = fixed("group id", 16)
    write("identity.json", {
        "description": "Member and device keys (keys.md §2): member key = Ed25519 from member_seed "
                       "(member_public is the member id), device key = Ed25519 from sign_seed, device "
                       "box key = X25519 from box_secret; relay-admin key = Ed25519 from "
                       "derive_key(member_seed, 'hramada:v1:relay-admin'); the device record's cert "
                       "(by the member key over cert_signed, purpose 'hramada:v1:device-cert', for "
                       "cert_group and suite 1); the member's fingerprint and safety code (suite 1) "
                       "and the device's fingerprint. alice/phone is a second device of alice: same "
                       "member key, fingerprint and safety code.",
        "group": group.hex(),
        "cases": [{"name": n, **person_json(n, group), "fingerprint": fingerprint(person(n).public),
                   "safety_code": safety_code(group, person(n).public)}
                  for n in ("alice", "bob", "alice/phone")]})
    mailbox = fixed("mailbox", 16)
    cases = [(mailbox, 1, wire.GENESIS_PREV, b"\xa0"), (mailbox, 2, fixed("prev"), bytes(range(40)))]
    write("wire.json", {
        "description": "entry_hash = hash32('hramada:v1:entry-hash', encode([mailbox, seq, prev, ciphertext])); "
                       "cap_hash = hash32('hramada:v1:cap-hash', cap); base64url without padding.",
        "entry_hash": [{"mailbox": m.hex(), "seq": s, "prev": p.hex(), "ciphertext": c.hex(),
                        "encoded": encode([m, s, p, c]).hex(),
                        "hash": wire.entry_hash(m, s, p, c).hex()} for m, s, p, c in cases],
        "cap_hash": [{"cap": fixed(f"cap {i}").hex(), "hash": wire.cap_hash(fixed(f"cap {i}")).hex()}
                     for i in range(2)],
        "base64url": [{"bytes": b.hex(), "text": wire.b64e(b)}
                      for b in (b"", b"\xfb", b"\xfb\xff", b"\xfb\xff\xbf", fixed("cap 0"))],
        "admin_sig": [admin_case(person("alice"), mailbox, s, p, c, new, admins)
                      for (m, s, p, c), new, admins in
                      zip(cases, (wire.cap_hash(fixed("cap 1")), None),
                          (None, sorted([person("alice").relay_admin.public.raw,
                                         person("bob").relay_admin.public.raw])))]})


def admin_case(me: Identity, mailbox: bytes, seq: int, prev: bytes, ciphertext: bytes,
               new_cap_hash: bytes | None, admins: list[bytes] | None) -> dict:
    """An admin append's signature (relay-api-v1.md §5): Ed25519 by the relay-admin key
    over 'hramada:v1:relay-admin-append' || 0 || encode([entry_hash, new_cap_hash, admins])."""
    key = me.relay_admin
    return {"member_seed": me.member.seed.hex(), "admin_key": key.public.raw.hex(),
            "mailbox": mailbox.hex(), "seq": seq, "prev": prev.hex(), "ciphertext": ciphertext.hex(),
            "new_cap_hash": None if new_cap_hash is None else new_cap_hash.hex(),
            "admins": None if admins is None else [a.hex() for a in admins],
            "message": wire.admin_message(mailbox, seq, prev, ciphertext, new_cap_hash, admins).hex(),
            "admin_sig": wire.sign_admin_append(key, mailbox, seq, prev, ciphertext,
                                                new_cap_hash, admins).hex()}


def generations() -> None:
    gens = [Generation(n, fixed(f"generation {n}")) for n in range(2)]
    recipients = [person(n).boxing.public for n in ("alice", "carol")]
    eph = fixed("rotation ephemeral")
    author, group, seq, auth_nonce = person("alice"), fixed("group id", 16), 12, fixed("auth nonce", 24)
    removed = person("bob").public.id
    block = make_key_block(gens[0], gens[1], recipients, eph, author=author.signing, group=group,
                           seq=seq, auth_nonce=auth_nonce, removed=removed)
    core = {"e": block.ephemeral, "b": [[lab, box] for lab, box in block.boxes], "p": block.back,
            "q": block.back_content}
    signed = encode([group, seq, block.digest, removed])
    signature = crypto.sign(author.signing, "hramada:v1:key-block-auth", signed)
    auth_plaintext = encode([author.device_id, removed, signature])
    auth_aad = encode(["hramada:v1:key-block-auth", seq])
    assert block.auth == auth_nonce + crypto.encrypt(gens[0].auth_key, auth_nonce, auth_plaintext,
                                                     auth_aad)
    write("keys.json", {
        "description": "Generation keys derived from the seed and its log seed (keys.md), commitment, relay "
                       "capability hash, and one key block from generation 0 to 1 for alice and "
                       "carol, authorised by alice for entry 12 of a group as the removal of bob "
                       "(sealed under generation 0's auth key). For a plain rotation, 'removed' "
                       "is the empty byte string.",
        "generations": [{"number": g.number, "seed": g.seed.hex(), "log_seed": g.log_seed.hex(),
                         "content_back_key": g.content_back_key.hex(), "commitment": g.commitment.hex(),
                         "log_key": g.log_key.hex(), "content_key": g.content_key.hex(),
                         "relay_cap": g.relay_cap.hex(), "cap_hash": wire.cap_hash(g.relay_cap).hex(),
                         "append_public": g.append_key.public.raw.hex(),
                         "label_key": g.label_key.hex(), "back_key": g.back_key.hex(),
                         "auth_key": g.auth_key.hex()}
                        for g in gens],
        "key_block": {
            "previous": 0, "new": 1,
            "recipients": [{"name": n, "box_secret": person(n).boxing.raw.hex(),
                            "box_public": person(n).boxing.public.raw.hex(),
                            "label": box_label(gens[0], person(n).boxing.public).hex()}
                           for n in ("alice", "carol")],
            "ephemeral_secret": eph.hex(),
            "back_aad": encode(["hramada:v1:prev-log-seed", 0]).hex(),
            "content_back_aad": encode(["hramada:v1:prev-seed", 0]).hex(),
            "digested": encode(core).hex(),
            "digest": block.digest.hex(),
            "authorisation": {
                "author": {"name": "alice", "sign_seed": author.signing.seed.hex(),
                           "sign_public": author.signing.public.raw.hex()},
                "group": group.hex(), "seq": seq, "nonce": auth_nonce.hex(),
                "removed": {"name": "bob", "member_id": removed.hex()},
                "signed": signed.hex(), "signature": signature.hex(),
                "plaintext": auth_plaintext.hex(), "aad": auth_aad.hex(),
                "auth": block.auth.hex()},
            "encoded": encode(block.to_value()).hex()}})


# -- names ----------------------------------------------------------------------------

def names() -> None:
    from hramada.core.names import NameRefused, check_name
    valid = ["alice", "Аліна Кот", "x" * 64, "O'Brien-Łukasz", "李雷", "Zoë 👍"]
    refused = [(5, "not text"), (None, "not text"), ("", "empty"), ("a" * 65, "65 code points"),
               (" alice", "begins with U+0020"), ("alice ", "ends with U+0020"),
               ("ali\u202ece", "a bidirectional override (Cf)"), ("al\u200dice", "a zero-width joiner (Cf)"),
               ("a\tb", "a control character (Cc)"), ("a\u00a0b", "no-break space (Zs)"),
               ("a\ue000b", "private use (Co)"), ("a\U000e0001b", "a language tag (Cf)")]
    cases = []
    for value, why in refused:
        try:
            check_name(value)
        except NameRefused as exc:
            points = " ".join(f"U+{ord(c):04X}" for c in value) if isinstance(value, str) else None
            cases.append({"name": value, "code_points": points, "why": why, "code": exc.code,
                          "detail": exc.params})
        else:
            raise AssertionError(value)
    for name in valid:
        assert check_name(name) == name
    write("names.json", {
        "description": "Display and group names (invitations.md §3): names every reader accepts, and "
                       "values every reader refuses, with the reason code and its parameters "
                       "(name-type, name-empty, name-too-long: limit, name-spaces, name-character: "
                       "char, the first refused code point as U+XXXX).",
        "valid": valid, "refused": cases})


# -- invitations --------------------------------------------------------------------

def invitation() -> None:
    secret = inv.InvitationSecret(fixed("invitation secret"))
    group, mailbox = fixed("group id", 16), fixed("mailbox", 16)
    code = inv.InvitationCode("https://relay.example", mailbox, group, secret, 0, 2)
    bob = person("bob")
    request = inv.make_join_request(group, secret, bob, "bob", suite=1)
    guest_nonce = fixed("guest nonce", 24)
    welcome_gen = Generation(0, fixed("generation 0"))
    welcome = inv.make_welcome(bob.boxing.public, fixed("welcome ephemeral"), group,
                               inv.request_id(request), welcome_gen,
                               admit=(5, fixed("admit entry hash")), starts=[])
    write("invitation.json", {
        "description": "An invitation secret and what derives from it; its text code; a join "
                       "request; a guest message; a welcome (invitations.md).",
        "secret": secret.secret.hex(),
        "derived": {"invite_id": secret.invite_id.hex(), "drop_id": secret.drop_id.hex(),
                    "drop_cap": secret.drop_cap.hex(),
                    "drop_cap_hash": wire.cap_hash(secret.drop_cap).hex(),
                    "sign_public": secret.signing.public.raw.hex(), "box_key": secret.box_key.hex(),
                    "log_body": encode(secret.log_body()).hex()},
        "code": {"relay": code.relay, "mailbox": mailbox.hex(), "group": group.hex(), "suite": code.suite,
                 "payload": encode([3, code.relay, mailbox, group, secret.secret, 0, code.suite]).hex(),
                 "text": code.to_text()},
        "join_request": {"group": group.hex(), "name": "bob", "identity": person_json("bob", group),
                         "signed": request.hex(), "request_id": inv.request_id(request).hex()},
        "guest_message": {"box_key": secret.box_key.hex(), "nonce": guest_nonce.hex(),
                          "plaintext": request.hex(),
                          "message": inv.seal_guest_message(secret.box_key, guest_nonce, request).hex()},
        "welcome": {"recipient": "bob", "ephemeral_secret": fixed("welcome ephemeral").hex(),
                    "group": group.hex(), "request": inv.request_id(request).hex(),
                    "admit": [5, fixed("admit entry hash").hex()], "starts": [],
                    "generation": 0, "seed": welcome_gen.seed.hex(), "message": welcome.hex()}})


# -- a whole log ----------------------------------------------------------------------

def key_block_steps(ciphertext: bytes, seq: int, in_force: Generation, group: bytes, people: dict) -> dict:
    """A rotating entry's key block step by step (keys.md §4): the boxes by recipient
    device, the digested core, the authorisation opened under the generation in force."""
    block = Envelope.parse(envelope_bytes(ciphertext)).key_block
    core = {"e": block.ephemeral, "b": [[lab, box] for lab, box in block.boxes], "p": block.back,
            "q": block.back_content}
    nonce, sealed = block.auth[:24], block.auth[24:]
    aad = encode(["hramada:v1:key-block-auth", seq])
    plaintext = crypto.decrypt(in_force.auth_key, nonce, sealed, aad)
    device, removed, signature = decode(plaintext)
    signer = next(n for n, p in people.items() if p.device_id == device)
    boxes = dict(block.boxes)
    recipients = [{"device": n, "box_public": p.boxing.public.raw.hex(),
                   "label": box_label(in_force, p.boxing.public).hex(),
                   "box": boxes[box_label(in_force, p.boxing.public)].hex()}
                  for n, p in people.items() if box_label(in_force, p.boxing.public) in boxes]
    return {"previous": in_force.number, "ephemeral_public": block.ephemeral.hex(),
            "recipients": recipients,
            "back_aad": encode(["hramada:v1:prev-log-seed", in_force.number]).hex(),
            "content_back_aad": encode(["hramada:v1:prev-seed", in_force.number]).hex(),
            "digested": encode(core).hex(), "digest": block.digest.hex(),
            "authorisation": {"signer": signer, "nonce": nonce.hex(), "aad": aad.hex(),
                              "plaintext": plaintext.hex(), "removed": removed.hex(),
                              "signed": encode([group, seq, block.digest, removed]).hex(),
                              "signature": signature.hex(), "auth": block.auth.hex()},
            "encoded": encode(block.to_value()).hex()}


def state_summary(log: GroupLog) -> dict:
    def member(pk, m):
        return {"id": pk.hex(), "name": m.name, "role": m.role, "since": m.since, "until": m.until,
                "request": m.request.hex() if m.request else None,
                "vouchers": [v.hex() for v in m.vouchers], "devices": [d.hex() for d in m.devices]}
    return {
        "group": log.group.hex(), "name": log.name, "vouches_required": log.vouches_required,
        "head": {"seq": log.head[0], "hash": log.head[1].hex()}, "generation": log.generation,
        "members": [member(k, m) for k, m in log.members.items()],
        "former": [member(k, m) for k, m in log.former.items()],
        "devices": [{"id": k.hex(), "member": d.member.hex(), "name": d.name, "box": d.box.hex(),
                     "since": d.since, "until": d.until} for k, d in log.devices.items()],
        "invites": [{"id": k.hex(), "by": i.by.hex(), "seq": i.seq,
                     "request": i.request.hex() if i.request else None} for k, i in log.invites.items()],
        "requests": [{"id": k.hex(), "name": r.name, "invite": r.invite.hex(), "seq": r.seq,
                      "posted_by": r.posted_by.hex(), "vouches": [v.hex() for v in r.vouches],
                      "status": r.status} for k, r in log.requests.items()],
        "generations": [{"number": g.number, "commitment": g.commitment.hex(),
                         "cap_hash": g.cap_hash.hex(), "start": g.start, "end": g.end,
                         "items_cutoff": None if g.items_cutoff is None else
                         [[a.hex(), n, g.items_links[a].hex()] for a, n in sorted(g.items_cutoff.items())]}
                        for g in log.generations],
        "ignored": [[p["seq"], p["reason"]] for code, p in log.warnings if code == "ignored-entry"],
        "void": [[p["seq"], p["reason"]] for code, p in log.warnings if code == "void-entry"],
    }


def log_and_item() -> None:
    mailbox = fixed("mailbox", 16)
    alice, bob, carol, phone = person("alice"), person("bob"), person("carol"), person("alice/phone")
    dave = person("dave")
    people = {"alice": alice, "bob": bob, "carol": carol, "alice/phone": phone, "dave": dave}
    first, gen0 = build.create_group(mailbox=mailbox, name="Minsk mutual aid", creator=alice,
                                     creator_name="alice",
                                     vouches=2, seed=fixed("generation 0"),
                                     group_nonce=fixed("group nonce", 16), nonce=fixed("nonce 1", 24),
                                     suite=1)
    log, keys = GroupLog(mailbox), Keyring(alice.boxing, {0: gen0})
    steps = []

    def record(new: build.NewEntry, inputs: dict, author: str) -> None:
        gen = new.new_generation or keys.generations[max(log.generation, 0)]
        env = Envelope.parse(envelope_bytes(new.ciphertext))
        entry, signature = open_entry(env, new.seq, gen)
        in_force = keys.generations[max(log.generation, 0)]
        ignored_before = len(log.warnings)
        log.apply(new.seq, new.prev, new.ciphertext, keys)
        verdict, reason, detail, by = "applied", None, {}, None
        for code, p in log.warnings[ignored_before:]:
            verdict, reason = ("ignored" if code == "ignored-entry" else "void"), p["reason"]
            detail, by = typed(p.get("detail", {})), (p["by"].hex() if p["by"] else None)
        extra = {}
        if new.kind in ("rotate",) or (new.kind == "remove" and verdict == "void"):
            extra["key_block"] = key_block_steps(new.ciphertext, new.seq, in_force, log.group, people)
        steps.append({"seq": new.seq, "kind": entry.kind, "author": author, **inputs,
                      "body": typed(entry.body), "body_encoded": encode(entry.body).hex(),
                      "generation": gen.number, "prev": new.prev.hex(),
                      "inner": entry.inner.hex(), "signature": signature.hex(),
                      "aad": encode(["hramada:v1:log-entry", 1, new.seq]).hex(),
                      "envelope": envelope_bytes(new.ciphertext).hex(),
                      "ciphertext": new.ciphertext.hex(),
                      "entry_hash": log.hash_at(new.seq).hex(),
                      "verdict": verdict, "reason": reason, "detail": detail, "by": by, **extra})

    record(first, {"inputs": {"name": "Minsk mutual aid", "creator_name": "alice", "vouches": 2,
                              "seed": gen0.seed.hex(), "group_nonce": fixed("group nonce", 16).hex(),
                              "nonce": fixed("nonce 1", 24).hex()}}, "alice")

    def post(author: str, kind: str, body: dict) -> None:
        nonce = fixed(f"nonce {log.head[0] + 1}", 24)
        new = build.entry(log, kind, body, author=people[author], keys=keys, nonce=nonce)
        record(new, {"inputs": {"nonce": nonce.hex()}}, author)

    invitations = {n: inv.InvitationSecret(fixed(f"invitation for {n}")) for n in ("bob", "carol")}
    requests: dict[str, bytes] = {}
    post("alice", "invite", invitations["bob"].log_body())
    requests["bob"] = inv.make_join_request(log.group, invitations["bob"], bob, "bob", suite=1)
    post("alice", "request", {"request": requests["bob"]})
    post("alice", "vouch", {"request": inv.request_id(requests["bob"])})
    post("alice", "admit", {"request": inv.request_id(requests["bob"]), "role": "member"})
    post("bob", "invite", invitations["carol"].log_body())
    requests["carol"] = inv.make_join_request(log.group, invitations["carol"], carol, "carol", suite=1)
    post("bob", "request", {"request": requests["carol"]})
    post("bob", "vouch", {"request": inv.request_id(requests["carol"])})
    post("alice", "admit", {"request": inv.request_id(requests["carol"]), "role": "member"})  # ignored
    post("alice", "vouch", {"request": inv.request_id(requests["carol"])})
    post("alice", "admit", {"request": inv.request_id(requests["carol"]), "role": "member"})
    # bob tries to add alice's phone (its cert is by alice's member key, not his): ignored;
    # then alice adds her phone
    phone_record = phone.device_record(log.group).to_value()
    post("bob", "device-add", {"device": phone_record})  # ignored: device-cert-invalid
    post("alice", "device-add", {"device": phone_record})

    # carol's welcome, sealed by alice
    carol_since = log.members[carol.public.id].since
    welcome = inv.make_welcome(carol.boxing.public, fixed("welcome for carol"), log.group,
                               inv.request_id(requests["carol"]), gen0,
                               admit=(carol_since, log.hash_at(carol_since)), starts=[])
    # bob posts his item number 1, then alice removes bob (item cut-off: bob's number 1)
    item_head = log.head
    item_nonce = fixed("item nonce", 24)
    item_link, item_ct = items.seal_item_linked(group=log.group, kind="bulletin",
                                                body={"title": "Sunday", "text": "Packing parcels at 12:00."},
                                                author=bob.signing, seq=1, head=item_head, time=1_767_225_600_000,
                                                generation=gen0, nonce=item_nonce)
    item_id = item_link[:16]
    # bob's other number 1 (other content), signed after his removal to replace the first
    resigned_nonce = fixed("re-signed item nonce", 24)
    _, resigned_ct = items.seal_item(group=log.group, kind="bulletin", body={"text": "Never mind."},
                                     author=bob.signing, seq=1, head=item_head, time=1_767_312_000_000,
                                     generation=gen0, nonce=resigned_nonce)
    # bob's number 2, under the same key, placed by a colluding relay after his removal
    late_nonce = fixed("late item nonce", 24)
    _, late_ct = items.seal_item(group=log.group, kind="bulletin", body={"text": "Still here."},
                                 author=bob.signing, seq=2, head=item_head, time=1_767_312_000_000,
                                 generation=gen0, nonce=late_nonce, prev=item_link)
    seq = log.head[0] + 1
    rot = {"seed": fixed("generation 1"), "ephemeral_secret": fixed("rotation ephemeral"),
           "nonce": fixed(f"nonce {seq}", 24), "auth_nonce": fixed(f"auth nonce {seq}", 24)}
    cutoff = {bob.device_id: (1, item_link)}
    new = build.rotation(log, author=alice, keys=keys, remove=bob.public.id, items_cutoff=cutoff, **rot)
    record(new, {"inputs": {k: (v.hex() if isinstance(v, bytes) else v) for k, v in rot.items()}
                 | {"remove": "bob", "items_cutoff": [[a.hex(), n, link.hex()] for a, (n, link) in cutoff.items()]}},
           "alice")
    # alice's laptop revokes her phone (rotation to generation 2)
    seq = log.head[0] + 1
    rot = {"seed": fixed("generation 2"), "ephemeral_secret": fixed("revocation ephemeral"),
           "nonce": fixed(f"nonce {seq}", 24), "auth_nonce": fixed(f"auth nonce {seq}", 24)}
    new = build.device_revoke(log, [phone.device_id], author=alice, keys=keys, items_cutoff={}, **rot)
    record(new, {"inputs": {k: (v.hex() if isinstance(v, bytes) else v) for k, v in rot.items()}
                 | {"revoke": ["alice/phone"], "items_cutoff": []}}, "alice")

    # -- part two: role, a void rotation, a plain rotation, policy, a wrong-group request,
    # dave's admission at generation 3, carol's leave --
    post("carol", "role", {"member": carol.public.id, "role": "admin"})  # 16: ignored, not-admin
    comment_head, gen2 = log.head, keys.generations[2]
    comment_nonce, stale_nonce = fixed("comment nonce", 24), fixed("stale item nonce", 24)
    comment_body = {"parent": item_id, "text": "I can bring tape."}
    comment_link, comment_ct = items.seal_item_linked(group=log.group, kind="comment", body=comment_body,
                                                      author=carol.signing, seq=1, head=comment_head,
                                                      time=1_767_229_200_000, generation=gen2,
                                                      nonce=comment_nonce)
    stale_body = {"text": "And boxes."}
    stale_link, stale_ct = items.seal_item_linked(group=log.group, kind="bulletin", body=stale_body,
                                                  author=carol.signing, seq=2, head=comment_head,
                                                  time=1_767_229_300_000, generation=gen2, nonce=stale_nonce,
                                                  prev=comment_link)
    # a forked reader: entries 1 to 15, then another entry 16 (alice's policy entry), as a
    # relay showing members different logs would serve it
    fork_log, fork_keys = GroupLog(mailbox), Keyring(alice.boxing, {0: gen0})
    for st in steps[:15]:
        fork_log.apply(st["seq"], bytes.fromhex(st["prev"]), bytes.fromhex(st["ciphertext"]), fork_keys)
    fork_nonce = fixed("fork nonce 16", 24)
    fork_new = build.entry(fork_log, "policy", {"vouches": 1}, author=alice, keys=fork_keys, nonce=fork_nonce)
    fork_log.apply(fork_new.seq, fork_new.prev, fork_new.ciphertext, fork_keys)

    def rotate(author: str, label: str, cutoff: dict) -> None:
        seq = log.head[0] + 1
        rot = {"seed": fixed(f"generation {label}"), "ephemeral_secret": fixed(f"rotation ephemeral {label}"),
               "nonce": fixed(f"nonce {seq}", 24), "auth_nonce": fixed(f"auth nonce {seq}", 24)}
        new = build.rotation(log, author=people[author], keys=keys, items_cutoff=cutoff, **rot)
        record(new, {"inputs": {k: v.hex() for k, v in rot.items()}
                     | {"items_cutoff": [[a.hex(), n, link.hex()] for a, (n, link) in cutoff.items()]}},
               author)

    rotate("carol", "3 (void)", {})  # 17: void, rotation-not-authorised (carol is no admin)
    rotate("alice", "3", {carol.device_id: (1, comment_link)})  # 18: generation 3
    post("alice", "role", {"member": carol.public.id, "role": "admin"})  # 19
    post("alice", "policy", {"vouches": 0})  # 20: ignored, vouches-below-one
    post("alice", "policy", {"vouches": 1})  # 21
    invitations["dave"] = inv.InvitationSecret(fixed("invitation for dave"))
    post("alice", "invite", invitations["dave"].log_body())  # 22
    other_group = fixed("another group", 16)
    wrong_request = inv.make_join_request(other_group, invitations["dave"], dave, "dave", suite=1)
    post("carol", "request", {"request": wrong_request})  # 23: ignored, request-invalid (forged)
    requests["dave"] = inv.make_join_request(log.group, invitations["dave"], dave, "dave", suite=1)
    post("carol", "request", {"request": requests["dave"]})  # 24
    post("carol", "vouch", {"request": inv.request_id(requests["dave"])})  # 25
    post("alice", "admit", {"request": inv.request_id(requests["dave"]), "role": "member"})  # 26
    dave_since = log.members[dave.public.id].since
    gen3 = keys.generations[3]
    dave_starts = [g.start for g in log.generations[1:]]
    dave_welcome = inv.make_welcome(dave.boxing.public, fixed("welcome for dave"), log.group,
                                    inv.request_id(requests["dave"]), gen3,
                                    admit=(dave_since, log.hash_at(dave_since)), starts=dave_starts)
    post("carol", "leave", {"items": [[carol.device_id, 2]]})  # 27

    # a tampered entry: entry 16 with one byte of its envelope flipped, served after entry 15
    tampered = bytearray(bytes.fromhex(steps[15]["ciphertext"]))
    tampered[-1] ^= 0x01

    write("log.json", {
        "description": "A whole small log (log.md): alice creates a group needing 2 vouches, "
                       "invites bob (admitted with 1 vouch: only alice can vouch yet), bob invites "
                       "carol, an admit with 1 of 2 vouches is ignored, carol is admitted, alice "
                       "removes bob (rotation to generation 1, authorised under generation 0, item "
                       "cut-off [[bob's device, 1, the link of his item 1]]). Before that, bob's "
                       "device-add of a record certified by alice's member key is ignored "
                       "(device-cert-invalid) and alice's own device-add of her phone applies; "
                       "after it alice's laptop revokes her phone (device-revoke, rotation to "
                       "generation 2; the key block's authorisation names the change "
                       "encode({'revoke': [phone's device id]})). Then: carol's role entry is ignored "
                       "(not-admin); carol's plain rotation is void (rotation-not-authorised: its key "
                       "block is authorised by a device of a member who is not an admin; it carries a "
                       "key block but makes no generation); alice's plain rotation makes generation 3 "
                       "(item cut-off: carol's item 1, the comment in item.json); alice makes carol an "
                       "admin; a policy with vouches 0 is ignored (vouches-below-one), one with "
                       "vouches 1 applies; alice invites dave; carol posts dave's join request signed "
                       "for another group (ignored: request-invalid, detail error 'forged'), then his "
                       "real one, vouches, alice admits him at generation 3; carol leaves naming "
                       "item 2 as her device's last. Each step's 'verdict' is 'applied', 'ignored' "
                       "(with 'reason' and 'detail': the ignored-entry warning) or 'void' (with "
                       "'reason'; 'by' is the member whose signature it carries, or null). 'refused' "
                       "lists what a device must stop at. Fold it as alice's laptop holding "
                       "only generation 0; every step must reproduce byte for byte.",
        "mailbox": mailbox.hex(),
        "people": {n: person_json(n) for n in people},
        "invitations": {n: {"secret": s.secret.hex(), "join_request": requests[n].hex(),
                            "request_id": inv.request_id(requests[n]).hex()}
                        for n, s in invitations.items()},
        "steps": steps,
        "state": state_summary(log),
        "welcome": {"recipient": "carol", "ephemeral_secret": fixed("welcome for carol").hex(),
                    "request": inv.request_id(requests["carol"]).hex(), "generation": 0,
                    "admit": [carol_since, log.hash_at(carol_since).hex()], "starts": [],
                    "message": welcome.hex()},
        "later_welcome": {
            "description": "dave's welcome, sealed by alice after his admission (entry 26), hands over "
                           "generation 3; 'starts' names the entries that made generations 1, 2 and 3 "
                           "(14, 15, 18: entry 17 carries a key block but is void and made none). From "
                           "generation 3 dave walks back through the key blocks of 18, 15 and 14 "
                           "('walk_back': each generation's seed) and folds the whole log to 'state'.",
            "recipient": "dave", "ephemeral_secret": fixed("welcome for dave").hex(),
            "request": inv.request_id(requests["dave"]).hex(), "generation": 3, "seed": gen3.seed.hex(),
            "admit": [dave_since, log.hash_at(dave_since).hex()], "starts": dave_starts,
            "walk_back": [{"number": n, "seed": keys.generations[n].seed.hex()} for n in range(3, -1, -1)],
            "message": dave_welcome.hex()},
        "refused": [
            {"what": "tampered-entry", "after": 15, "seq": 16, "prev": steps[15]["prev"],
             "ciphertext": bytes(tampered).hex(), "error": "ForgeryError",
             "why": "entry 16 with its last byte flipped: the append signature (log.md §4 step 3) "
                    "does not verify, so no holder of the group's key appended it; the device "
                    "stops the group and applies nothing"},
            {"what": "wrong-group-request", "group": other_group.hex(), "invitation": "dave",
             "join_request": wrong_request.hex(), "error": "ForgeryError",
             "why": "dave's join request signed for another group: verify_join_request for "
                    "log.json's group refuses it (invitations.md); as entry 23 it is ignored "
                    "request-invalid with detail {'error': 'forged'}"}],
    })
    # envelope: suite (1) || generation (4) || nonce (24) || AEAD(padded)
    # padded: signature (64) || inner || 0x80 || 0x00 ... (items.md §1)
    padded = crypto.decrypt(gen0.content_key, item_ct[5:29], item_ct[29:],
                            b"hramada:v1:item\x00" + item_ct[:5])
    signed = items.unpad(padded)
    content = decode(signed[64:])[4]
    assert log.head[0] == len(steps)
    write("item.json", {
        "description": "An item (items.md) by bob in log.json's group: his number 1 (prev: 32 zero "
                       "bytes), written at head 13 under generation 0, time in milliseconds, padded to "
                       "its size bucket. Opened against log.json's final state it is readable wherever "
                       "the relay places it (its number and link are the removal's cut-off for bob). "
                       "'late' is bob's number 2 under the same key, chained to it: a forgery wherever "
                       "it is placed. 'resigned' is another number 1 bob signed: it is not the item the "
                       "cut-off binds, refused wherever it is placed.",
        "log": "log.json",
        "author": "bob", "seq": 1, "kind": "bulletin",
        "body": typed({"title": "Sunday", "text": "Packing parcels at 12:00."}),
        "head": {"seq": item_head[0], "hash": item_head[1].hex()}, "time": 1_767_225_600_000,
        "generation": 0, "nonce": item_nonce.hex(),
        "prev": items.ZERO_LINK.hex(), "content": content.hex(), "link": item_link.hex(),
        "inner": signed[64:].hex(), "signature": signed[:64].hex(), "signed": signed.hex(),
        "padded": padded.hex(), "aad": (b"hramada:v1:item\x00" + item_ct[:5]).hex(),
        "id": item_id.hex(), "ciphertext": item_ct.hex(),
        "verdicts": [{"cursor": 1, "result": "ok"}, {"cursor": 9, "result": "ok"}],
        "late": {"seq": 2, "body": typed({"text": "Still here."}), "time": 1_767_312_000_000,
                 "nonce": late_nonce.hex(), "ciphertext": late_ct.hex(),
                 "verdicts": [{"cursor": 1, "result": "forgery"}, {"cursor": 2, "result": "forgery"}]},
        "resigned": {"seq": 1, "body": typed({"text": "Never mind."}), "time": 1_767_312_000_000,
                     "nonce": resigned_nonce.hex(), "ciphertext": resigned_ct.hex(),
                     "verdicts": [{"cursor": 1, "result": "unlinked"}, {"cursor": 3, "result": "unlinked"}]},
        "readers": {
            "description": "Reader states the verdicts below name: 'final' is log.json folded whole; "
                           "'through-15' is its entries 1 to 15; 'forked' is entries 1 to 15 and then "
                           "another entry 16 (alice's policy {vouches: 1}, sealed with 'nonce'), as a relay "
                           "showing members different logs would serve it.",
            "final": {"steps": len(steps)}, "through-15": {"steps": 15},
            "forked": {"steps": 15, "then": {"seq": fork_new.seq, "author": "alice", "kind": "policy",
                                             "body": typed({"vouches": 1}), "nonce": fork_nonce.hex(),
                                             "prev": fork_new.prev.hex(), "ciphertext": fork_new.ciphertext.hex(),
                                             "entry_hash": fork_log.hash_at(16).hex()}}},
        "comment": {
            "description": "carol's number 1, a comment on bob's item (parent: its id), written at head "
                           "16 under generation 2; the rotation at entry 18 binds it as her last under "
                           "generation 2. ok for the final reader; not-yet for a reader whose log ends at "
                           "15 (detail: the entry it needs); fork for the forked reader (detail: the "
                           "member who signed it, the entry whose hash differs).",
            "author": "carol", "seq": 1, "kind": "comment", "body": typed(comment_body),
            "head": {"seq": comment_head[0], "hash": comment_head[1].hex()}, "time": 1_767_229_200_000,
            "generation": 2, "nonce": comment_nonce.hex(), "prev": items.ZERO_LINK.hex(),
            "link": comment_link.hex(), "ciphertext": comment_ct.hex(),
            "verdicts": [{"reader": "final", "cursor": 5, "result": "ok"},
                         {"reader": "through-15", "cursor": 5, "result": "not-yet", "detail": {"entry": 16}},
                         {"reader": "forked", "cursor": 5, "result": "fork",
                          "detail": {"member": carol.public.id.hex(), "entry": 16}}]},
        "stale": {
            "description": "carol's number 2, chained to her comment, under generation 2: above her bound "
                           "(1) in the rotation at entry 18 that retired generation 2, and she was a member "
                           "then: stale (readers skip it; her client may post it again under the new key). "
                           "Her leave (entry 27) names 2 as her device's last item.",
            "author": "carol", "seq": 2, "kind": "bulletin", "body": typed(stale_body),
            "head": {"seq": comment_head[0], "hash": comment_head[1].hex()}, "time": 1_767_229_300_000,
            "generation": 2, "nonce": stale_nonce.hex(), "prev": comment_link.hex(), "link": stale_link.hex(),
            "ciphertext": stale_ct.hex(),
            "verdicts": [{"reader": "final", "cursor": 6, "result": "stale"}]}})


if __name__ == "__main__":
    encoding()
    hashing()
    signatures()
    sealing()
    suite2_vectors()
    aead()
    passphrase()
    identities_and_wire()
    generations()
    invitation()
    names()
    log_and_item()
