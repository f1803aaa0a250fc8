"""Write the known-answer vectors of device linking and the recovery kit
(``linking.json``, ``backup.json``; ``docs/spec/devices.md``).

    .venv/bin/python docs/spec/vectors/generate_devices.py

Every input is fixed (``BLAKE2b(label)``), as in ``generate.py``; suite-2 boxes are
built by the independent construction of ``tests/core/hpke_reference.py`` with their
encapsulation randomness given. ``tests/core/test_device_vectors.py`` recomputes every
output from its inputs with hashlib, raw libsodium and that reference.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import nacl.bindings as sodium

from hramada.core import backup, crypto, link_answers, linking, suite2, textcode
from hramada.core.encoding import encode

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[2] / "tests" / "core"))
import hpke_reference as ref  # noqa: E402


def fixed(label: str, n: int = 32) -> bytes:
    return hashlib.blake2b(label.encode(), digest_size=n).digest()


def write(name: str, content: dict) -> None:
    path = HERE / name
    path.write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {path}")


def refusal(fn, *args) -> str:
    try:
        fn(*args)
    except textcode.Refused as exc:
        return exc.code
    raise AssertionError("expected a refusal")


class FixedSealer:
    """A sealer whose randomness is given, built on the reference construction."""

    def __init__(self, label: str) -> None:
        self.label, self.count, self.used = label, 0, []

    def seal(self, recipients, info, plaintext):
        out = []
        for r in recipients:
            m, eph = fixed(f"{self.label}/{self.count}/m"), fixed(f"{self.label}/{self.count}/ephemeral")
            self.used.append({"mlkem_randomness": m.hex(), "ephemeral_secret": eph.hex()})
            self.count += 1
            out.append(ref.seal(r.raw, info, plaintext, m, eph))
        return out


def slot_keys(i: int, suite: int) -> tuple[dict, linking.SlotKeys]:
    sign_seed, box_secret = fixed(f"device {i}/sign"), fixed(f"device {i}/box")
    sign = crypto.SigningKey.from_seed(sign_seed).public.raw
    if suite == 1:
        box = crypto.BoxPrivateKey.from_secret(box_secret).public.raw
    else:
        box = suite2.HybridPrivateKey.from_secret(box_secret).public.raw
    return ({"suite": suite, "sign_seed": sign_seed.hex(), "sign": sign.hex(), "box_secret": box_secret.hex(),
             "box": box.hex()}, linking.SlotKeys(sign, box))


def link_vectors() -> None:
    secret = linking.LinkSecret(fixed("link secret"))
    code = linking.LinkCode("https://relay.example.org", fixed("mailbox", 16), secret, (2, 1), 1_900_000_000)
    text = code.to_text()
    payload = code.payload()
    b32 = "abcdefghijklmnopqrstuvwxyz234567"
    i = len(linking.LINK_PREFIX) + 10
    typo = text[:i] + b32[(b32.index(text[i]) + 1) % 32] + text[i + 1:]

    def coded(v: list) -> str:
        return textcode.to_text(linking.LINK_PREFIX, linking.CHECK, encode(v))

    bad_codes = [(typo, "a typo"), (text[:-1], "truncated"), (text.replace("hramada-link1-", "hramada-link2-"),
                                                             "another prefix"),
                 (text[:-1] + "8", "a character outside base32"),
                 (coded([2, code.relay, code.mailbox, secret.secret, [2], 5]), "version 2"),
                 (coded([1, code.relay, code.mailbox, secret.secret, [], 5]), "no groups"),
                 (coded([1, code.relay, code.mailbox, secret.secret, [2] * 129, 5]), "129 groups"),
                 (coded([1, code.relay, code.mailbox, secret.secret, [3], 5]), "suite 3"),
                 (coded([1, "https://a@relay.example.org", code.mailbox, secret.secret, [2], 5]), "a user name"),
                 (coded([1, code.relay, code.mailbox, secret.secret, [2], 0]), "expiry 0")]
    link_key = suite2.HybridPrivateKey.from_secret(fixed("link key"))
    slots_json, slots = zip(*(slot_keys(i, s) for i, s in enumerate(code.suites)))
    entropy = fixed("request entropy")
    request, messages = linking.make_link_request(code, "Kitchen laptop", link_key.public, list(slots), entropy)
    req_payload = encode({"v": 1, "name": "Kitchen laptop", "link": link_key.public.raw,
                          "slots": [[s.sign, s.box] for s in slots], "commit": request.commit})
    nonce_a, challenge_nonce = fixed("confirmation nonce of A"), fixed("challenge message nonce", 24)
    challenge = linking.make_challenge(code, nonce_a, challenge_nonce)
    reveal = linking.make_reveal(code, entropy)
    group_ref = link_answers.GroupRef("https://relay.example.org", fixed("mailbox", 16), fixed("group", 16),
                                 "Tenants' union", "ana")
    answer = link_answers.GroupAnswer(0, group_ref, fixed("member seed"), (9, fixed("entry 9 hash")),
                                 ((0, 1, fixed("seed 0")), (1, 4, fixed("seed 1"))))
    profile = link_answers.ProfileAnswer("Ana", (link_answers.LinkedDevice("Desk", ((fixed("group", 16), fixed("desk id")),)),))
    group_sealer, profile_sealer = FixedSealer("answer 0"), FixedSealer("profile")
    group_msgs = link_answers.make_group_answer(group_sealer, code, link_key.public, answer)
    profile_msgs = link_answers.make_profile_answer(profile_sealer, code, link_key.public, profile)
    refusal_sealer = FixedSealer("refusal 1")
    refusal_msgs = link_answers.make_group_refusal(refusal_sealer, code, link_key.public, 1, "too-many-devices")
    flipped = messages[0][:100] + bytes([messages[0][100] ^ 1]) + messages[0][101:]
    write("linking.json", {
        "description": "Device linking (devices.md): the link secret's derivations, a link code, a "
                       "request of two slots (suites 2 and 1) as guest messages, the confirmation's challenge and reveal, a group answer for "
                       "slot 0, a group refusal for slot 1 and a profile answer as suite-2 boxes with their randomness given, and codes and "
                       "messages that must be refused with their reason codes.",
        "secret": secret.secret.hex(),
        "derived": {"drop_id": secret.drop_id.hex(), "drop_cap": secret.drop_cap.hex(),
                    "request_key": secret.request_key.hex(),
                    "answer_binding": suite2.derive(secret.secret, linking.ANSWER_BINDING, 32).hex(),
                    "answer_info": secret.answer_info.hex()},
        "code": {"relay": code.relay, "mailbox": code.mailbox.hex(), "suites": list(code.suites),
                 "expires": code.expires, "payload": payload.hex(),
                 "check": textcode.checksum(linking.CHECK, payload).hex(), "text": text, "qr": code.to_qr()},
        "refused_codes": [{"text": t, "why": why, "code": refusal(linking.LinkCode.from_text, t)}
                          for t, why in bad_codes],
        "request": {"name": "Kitchen laptop", "link_secret": link_key.secret.hex(),
                    "link_public": link_key.public.raw.hex(), "slots": list(slots_json),
                    "entropy": entropy.hex(), "nonce_b": linking.own_nonce(entropy).hex(),
                    "commit": request.commit.hex(), "payload": req_payload.hex(),
                    "aad": encode([linking.REQUEST_AAD, 1, secret.drop_id]).hex(),
                    "messages": [m.hex() for m in messages]},
        "confirmation": {"nonce_a": nonce_a.hex(), "challenge_nonce": challenge_nonce.hex(),
                         "challenge": challenge.hex(), "reveal": reveal.hex(),
                         "digits": linking.confirmation(code, request, nonce_a, linking.own_nonce(entropy))},
        "refused_requests": [
            {"why": "a flipped byte", "messages": [flipped.hex()], "code": "link-request-forged"},
            {"why": "under another link's secret", "code": "link-request-forged", "messages": [
                linking.make_link_request(linking.LinkCode(code.relay, code.mailbox, linking.LinkSecret(
                    fixed("other secret")), code.suites, 5), "Kitchen laptop", link_key.public, list(slots),
                    entropy)[1][0].hex()]}],
        "group_answer": {"slot": 0, "ref": [group_ref.relay, group_ref.mailbox.hex(), group_ref.group.hex(),
                                            group_ref.name, group_ref.member],
                         "member_seed": answer.member_seed.hex(), "added": [9, answer.added[1].hex()],
                         "seeds": [[g, s, seed.hex()] for g, s, seed in answer.seeds],
                         "payload": encode(answer.value()).hex(), "randomness": group_sealer.used,
                         "messages": [m.hex() for m in group_msgs]},
        "group_refusal": {"slot": 1, "reason": "too-many-devices",
                          "payload": encode({"v": 1, "slot": 1, "refused": "too-many-devices"}).hex(),
                          "randomness": refusal_sealer.used, "messages": [m.hex() for m in refusal_msgs]},
        "profile_answer": {"name": "Ana", "devices": [{"name": "Desk", "ids": [[fixed("group", 16).hex(),
                                                                               fixed("desk id").hex()]]}],
                           "stream": len(code.suites), "payload": encode(profile.value()).hex(),
                           "randomness": profile_sealer.used, "messages": [m.hex() for m in profile_msgs]},
    })


def backup_vectors() -> None:
    refs = link_answers.GroupRef("https://relay.example.org", fixed("mailbox", 16), fixed("group", 16),
                            "Tenants' union", "ana")
    kit = backup.Kit("Ana", (backup.KitGroup(refs, fixed("member seed"), 2),))
    passphrase, salt, nonce = "maple orbit velvet canyon", fixed("kit salt", 16), fixed("kit nonce", 24)
    ops, mem = sodium.crypto_pwhash_argon2id_OPSLIMIT_MIN, sodium.crypto_pwhash_argon2id_MEMLIMIT_MIN
    data = backup.export_kit(kit, passphrase, salt, nonce, ops=ops, mem=mem)
    root = crypto.passphrase_key(passphrase, salt, opslimit=ops, memlimit=mem)
    body = data[:-32]

    def rechecked(b: bytes) -> bytes:
        return b + hashlib.blake2b(b, key=backup.KIT_CHECK.encode(), digest_size=32).digest()

    bad_files = [(data[:12] + b"\x02" + data[13:], "version 2"), (data[:-1], "truncated"),
                 (data[:40] + bytes([data[40] ^ 1]) + data[41:], "a flipped byte"),
                 (rechecked(body[:-1] + bytes([body[-1] ^ 1])), "altered, checksum recomputed"),
                 (rechecked(backup.MAGIC + b"\x01" + encode([0, mem, salt, nonce, bytes(16), b"x" * 32])),
                  "ops 0"), (b"PK\x03\x04", "not a kit")]
    sign = crypto.SigningKey.from_seed(fixed("recovered/sign")).public.raw
    box = suite2.HybridPrivateKey.from_secret(fixed("recovered/box")).public.raw
    request = backup.make_recovery_request(kit.groups[0], "New laptop", sign, box, fixed("recovery drop"))
    text = request.to_text()
    write("backup.json", {
        "description": "The recovery kit file (devices.md): Argon2id (small limits here; exports use the "
                       "profile keystore's), key and key check, contents, padding and file; files that "
                       "must be refused with their reason codes (wrong passphrase: 'wrong_passphrase'); "
                       "a recovery request code with its device cert.",
        "kit": {"passphrase": passphrase, "wrong_passphrase": passphrase + "!", "salt": salt.hex(),
                "nonce": nonce.hex(), "ops": ops, "mem": mem, "root": root.hex(),
                "key": suite2.derive(root, backup.KIT_KEY, 32).hex(),
                "key_check": suite2.derive(root, backup.KIT_KEY_CHECK, 32)[:16].hex(),
                "name": kit.name, "groups": [{"ref": [refs.relay, refs.mailbox.hex(), refs.group.hex(), refs.name,
                                                      refs.member], "member_seed": fixed("member seed").hex(),
                                              "suite": 2}],
                "contents": encode({"v": 1, "name": kit.name, "groups": [[refs.value(), fixed("member seed"), 2]]}).hex(),
                "file": data.hex()},
        "refused_kits": [{"why": why, "file": f.hex(), "code": refusal(backup.import_kit, f, passphrase)}
                         for f, why in bad_files],
        "recovery": {"group": request.group.hex(), "suite": 2, "member_seed": fixed("member seed").hex(),
                     "member": request.member.hex(), "name": request.name, "sign_seed": fixed("recovered/sign").hex(),
                     "sign": sign.hex(), "box_secret": fixed("recovered/box").hex(), "box": box.hex(),
                     "cert_message": backup.cert_message(request.group, 2, request.member, sign, box,
                                                         request.name).hex(),
                     "cert": request.cert.hex(), "drop_secret": request.drop_secret.hex(),
                     "drop_id": request.drop_id.hex(), "drop_cap": request.drop_cap.hex(), "text": text},
        "refused_recoveries": [
            {"why": "a typo", "text": text[:30] + ("a" if text[30] != "a" else "b") + text[31:],
             "code": "recover-damaged"},
            {"why": "renamed after certification", "code": "recover-cert", "text": textcode.to_text(
                backup.RECOVER_PREFIX, backup.RECOVER_CHECK, encode(
                    [1, request.group, 2, request.member, "Old laptop", sign, box, request.cert,
                     request.drop_secret]))}],
    })


if __name__ == "__main__":
    link_vectors()
    backup_vectors()
