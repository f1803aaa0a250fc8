"""Device linking: the link code, the new device's request, the linking device's answers."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hramada.client.sealing import OsSealer
from hramada.core import crypto, link_answers as LA, linking as L, suite2, textcode
from hramada.core.encoding import encode
from hramada.core.suite2 import HybridPrivateKey
from hramada.core.textcode import Refused

from .world import Rand

R = Rand("linking")
SECRET = L.LinkSecret(R.bytes(32))
CODE = L.LinkCode("https://relay.example.org:8470", R.bytes(16), SECRET, (2, 1, 2), 1_900_000_000)
LINK = HybridPrivateKey.from_secret(R.bytes(32))
B32 = "abcdefghijklmnopqrstuvwxyz234567"
SETTINGS = settings(deadline=None, max_examples=200,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# a random message of the drop's size, drawn from a small seed (Hypothesis need not draw 16 KiB)
FULL_SIZE = st.integers(0, 2**32).map(lambda n: random.Random(n).randbytes(16384))


def slot_keys(suite: int, rand: Rand = R) -> L.SlotKeys:
    sign = crypto.SigningKey.from_seed(rand.bytes(32)).public.raw
    if suite == 1:
        return L.SlotKeys(sign, crypto.BoxPrivateKey.from_secret(rand.bytes(32)).public.raw)
    return L.SlotKeys(sign, HybridPrivateKey.from_secret(rand.bytes(32)).public.raw)


SLOTS = [slot_keys(s) for s in CODE.suites]
ENTROPY = R.bytes(32)
MINE, REQUEST = L.make_link_request(CODE, "Kitchen laptop", LINK.public, SLOTS, ENTROPY)


def refused(code: str, fn, *args, **kw) -> Refused:
    with pytest.raises(Refused) as info:
        fn(*args, **kw)
    assert info.value.code == code, (info.value.code, str(info.value))
    return info.value


def request_messages(code: L.LinkCode, frames: list[list], nonce_label: str = "n") -> list[bytes]:
    """Guest messages built by hand from docs/spec/devices.md, as anyone holding the code
    could build them: frame, pad to 16,344 bytes, encrypt under the request key."""
    key = hashlib.blake2b(b"hramada:v2:link-request-key", key=code.secret.secret, digest_size=32).digest()
    aad = encode(["hramada:v2:link-request", 1, code.secret.drop_id])
    out = []
    for i, frame in enumerate(frames):
        raw = encode(frame)
        padded = raw + b"\x80" + bytes(16344 - len(raw) - 1)
        nonce = hashlib.blake2b(f"{nonce_label}{i}".encode(), digest_size=24).digest()
        out.append(nonce + crypto.encrypt(key, nonce, padded, aad))
    return out


def request_payload(name="Laptop", link=LINK.public.raw, slots=None, v=1, commit=bytes(32)) -> bytes:
    slots = [[s.sign, s.box] for s in (SLOTS if slots is None else slots)]
    return encode({"v": v, "name": name, "link": link, "slots": slots, "commit": commit})


# -- the code ------------------------------------------------------------------------

def test_a_link_code_round_trips_as_text_and_as_qr_text_in_any_case_and_spacing():
    text = CODE.to_text()
    assert text.startswith("hramada-link1-") and set(text[len("hramada-link1-"):]) <= set(B32)
    qr = CODE.to_qr()
    assert qr == text.upper() and set(qr) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    spaced = " ".join(text[i:i + 5] for i in range(0, len(text), 5))
    for variant in (text, qr, spaced, "\n" + text.upper() + "\t", text[:20] + "\u00a0\u3000\x1c" + text[20:]):
        assert L.LinkCode.from_text(variant) == CODE
    assert len(text) < 200


def test_everything_a_link_needs_derives_from_its_secret_under_v2_purposes():
    s = SECRET
    def d(p):
        return hashlib.blake2b(p.encode(), key=s.secret, digest_size=32).digest()
    assert s.drop_id == d("hramada:v2:link-drop")[:16]
    assert s.drop_cap == d("hramada:v2:link-drop-cap")
    assert s.request_key == d("hramada:v2:link-request-key")
    assert s.answer_info == encode(["hramada:v2:device-link", 2, b"",
                                    s.drop_id + d("hramada:v2:link-answer")])
    assert len({s.drop_id, s.drop_cap[:16], s.request_key[:16]}) == 3
    assert s.secret.hex() not in repr(s) and s.secret.hex() not in repr(CODE)


def test_every_single_character_change_of_a_code_is_refused_before_anything_is_read():
    text = CODE.to_text()
    start = len(L.LINK_PREFIX)
    for i in range(start, len(text)):
        for c in B32:
            if c != text[i]:
                refused("link-damaged", L.LinkCode.from_text, text[:i] + c + text[i + 1:])
        refused("link-characters", L.LinkCode.from_text, text[:i] + "0" + text[i + 1:])


def test_every_truncation_and_every_extension_of_a_code_is_refused():
    text = CODE.to_text()
    for n in range(len(L.LINK_PREFIX), len(text)):
        refused("link-damaged", L.LinkCode.from_text, text[:n])
    for n in range(len(L.LINK_PREFIX)):
        refused("link-not-a-code", L.LinkCode.from_text, text[:n])
    for c in B32:
        refused("link-damaged", L.LinkCode.from_text, text + c)


def test_what_is_not_a_link_code_says_so():
    refused("link-not-a-code", L.LinkCode.from_text, b"hramada-link1-aaaa")
    refused("link-not-a-code", L.LinkCode.from_text, "hramada1-" + CODE.to_text()[14:])
    refused("link-not-a-code", L.LinkCode.from_text, "hramada-link1-" + "a" * 3000)
    refused("link-characters", L.LinkCode.from_text, CODE.to_text() + "é")
    refused("link-characters", L.LinkCode.from_text, CODE.to_text()[:20] + "\u200b" + CODE.to_text()[20:])
    text = CODE.to_text()
    k = text.index("k", len(L.LINK_PREFIX)) if "k" in text[len(L.LINK_PREFIX):] else None
    kelvin = "hramada-lin\u212a1-" + text[len(L.LINK_PREFIX):]   # KELVIN SIGN lower-cases to "k"
    assert refused("link-characters", L.LinkCode.from_text, kelvin).params == {"char": "U+212A"}
    assert k is None or refused("link-characters", L.LinkCode.from_text,
                                text[:k] + "\u212a" + text[k + 1:]).params == {"char": "U+212A"}


def code_with(payload: bytes) -> str:
    return textcode.to_text(L.LINK_PREFIX, L.CHECK, payload)


def test_a_code_with_a_good_checksum_is_still_checked_field_by_field():
    relay, mb, sec = "https://relay.example.org", R.bytes(16), R.bytes(32)
    cases = {
        "link-version": [2, relay, mb, sec, [2], 5],
        "link-malformed": [1, relay, mb, sec, [2]],
        "link-relay": [1, "ftp://relay.example.org", mb, sec, [2], 5],
        "link-no-groups": [1, relay, mb, sec, [], 5],
        "link-suite": [1, relay, mb, sec, [2, 3], 5],
        "link-too-many-groups": [1, relay, mb, sec, [2] * 129, 5],
        "link-expiry": [1, relay, mb, sec, [2], 0],
    }
    for code, payload in cases.items():
        refused(code, L.LinkCode.from_text, code_with(encode(payload)))
    refused("link-malformed", L.LinkCode.from_text, code_with(b"\xff\x00"))
    refused("link-malformed", L.LinkCode.from_text, code_with(encode([1, relay, mb[:15], sec, [2], 5])))
    assert refused("link-version", L.LinkCode.from_text,
                   code_with(encode([7, "anything"]))).params == {"version": 7}


def test_a_code_is_created_only_for_1_to_128_groups_and_a_usable_relay():
    refused("link-too-many-groups", L.LinkCode, CODE.relay, CODE.mailbox, SECRET, (2,) * 129, 5)
    refused("link-no-groups", L.LinkCode, CODE.relay, CODE.mailbox, SECRET, (), 5)
    refused("link-relay", L.LinkCode, "https://user@relay.example.org", CODE.mailbox, SECRET, (2,), 5)
    assert L.LinkCode("HTTPS://Relay.Example.org/", CODE.mailbox, SECRET, [1], 5).relay == \
        "https://relay.example.org"


def test_an_expired_code_is_refused_at_its_expiry():
    CODE.check_fresh(CODE.expires - 1)
    refused("link-expired", CODE.check_fresh, CODE.expires)


@SETTINGS
@given(st.one_of(st.text(max_size=300), st.text(alphabet=B32, max_size=300).map(lambda t: "hramada-link1-" + t),
                 st.binary(max_size=400).map(code_with), st.none(), st.integers()))
def test_reading_any_text_as_a_code_raises_nothing_but_a_refusal(text):
    try:
        L.LinkCode.from_text(text)
    except Refused:
        pass


# -- the request -------------------------------------------------------------------

def test_a_request_round_trips_in_any_order_and_with_copies():
    assert all(len(m) == L.MESSAGE_BYTES for m in REQUEST)
    got = L.read_link_request(CODE, REQUEST[::-1] + REQUEST)
    assert got.name == "Kitchen laptop" and got.link == LINK.public and list(got.slots) == SLOTS
    assert got == MINE


def test_both_devices_show_the_same_confirmation_after_commit_challenge_and_reveal():
    # A reads the request and answers with its nonce; B reads it and reveals its own
    read = L.read_link_request(CODE, REQUEST)
    assert read == MINE and L.read_reveal(CODE, read, REQUEST) is None
    nonce_a = R.bytes(32)
    challenge = L.make_challenge(CODE, nonce_a, R.bytes(24))
    assert len(challenge) == L.SHORT_BYTES and L.read_challenge(CODE, []) is None
    assert L.read_challenge(CODE, [challenge, challenge]) == nonce_a
    reveal = L.make_reveal(CODE, ENTROPY)
    drop = REQUEST + [reveal]
    assert L.read_link_request(CODE, drop) == MINE  # the reveal is not a part of the request
    nonce_b = L.read_reveal(CODE, read, drop)
    assert nonce_b == L.own_nonce(ENTROPY)
    on_a = L.confirmation(CODE, read, nonce_a, nonce_b)
    on_b = L.confirmation(CODE, MINE, L.read_challenge(CODE, [challenge]), L.own_nonce(ENTROPY))
    assert on_a == on_b and len(on_a) == 9 and on_a[4] == " " and on_a.replace(" ", "").isdigit()
    # the answers' reader leaves the challenge to read_challenge
    assert LA.read_answers(CODE, LINK, [challenge]).groups == {}


def test_a_reveal_that_is_not_the_committed_nonce_is_refused():
    other_entropy = R.bytes(32)
    refused("link-reveal-mismatch", L.read_reveal, CODE, MINE, [L.make_reveal(CODE, other_entropy)])
    refused("link-reveal-conflict", L.read_reveal, CODE, MINE,
            [L.make_reveal(CODE, ENTROPY), L.make_reveal(CODE, other_entropy)])
    forged = bytearray(L.make_reveal(CODE, ENTROPY))
    forged[40] ^= 1
    refused("link-reveal-forged", L.read_reveal, CODE, MINE, [bytes(forged)])
    challenge = L.make_challenge(CODE, R.bytes(32), R.bytes(24))
    refused("link-reveal-forged", L.read_reveal, CODE, MINE, [challenge])   # keys differ by direction
    refused("link-challenge-forged", L.read_challenge, CODE, [L.make_reveal(CODE, ENTROPY)])
    refused("link-challenge-conflict", L.read_challenge, CODE,
            [challenge, L.make_challenge(CODE, R.bytes(32), R.bytes(24))])


def test_someone_holding_the_code_in_the_middle_cannot_make_the_digits_match():
    """A relay that also saw the code swaps B's request for its own: the two screens
    show different digits, since it committed before either nonce was known."""
    mallory_entropy = R.bytes(32)
    theirs, forged_request = L.make_link_request(CODE, "Kitchen laptop", HybridPrivateKey.from_secret(
        R.bytes(32)).public, [slot_keys(s) for s in CODE.suites], mallory_entropy)
    read = L.read_link_request(CODE, forged_request)          # A sees only Mallory's request
    nonce_a = R.bytes(32)
    nonce_b_seen_by_a = L.read_reveal(CODE, read, [L.make_reveal(CODE, mallory_entropy)])
    on_a = L.confirmation(CODE, read, nonce_a, nonce_b_seen_by_a)
    # Mallory may give B any challenge it likes, but must pick it before B reveals
    tries = {L.confirmation(CODE, MINE, R.bytes(32), L.own_nonce(ENTROPY)) for _ in range(50)}
    assert on_a not in tries


def test_128_suite_2_groups_and_the_reveal_fit_in_the_relays_16_guest_messages():
    rand = Rand("many")
    code = L.LinkCode(CODE.relay, CODE.mailbox, SECRET, (2,) * L.MAX_GROUPS, 5)
    slots = [slot_keys(2, rand) for _ in range(L.MAX_GROUPS)]
    _, msgs = L.make_link_request(code, "Phone", LINK.public, slots, rand.bytes(32))
    assert 1 < len(msgs) <= 15 and all(len(m) == 16384 for m in msgs)
    assert list(L.read_link_request(code, msgs[3:] + msgs[:3]).slots) == slots
    with pytest.raises(L.LinkIncomplete) as info:
        L.read_link_request(code, msgs[:-1])
    assert info.value.code == "link-incomplete" and info.value.params == {"have": len(msgs) - 1,
                                                                          "need": len(msgs)}


def test_no_messages_yet_is_incomplete_not_an_error():
    with pytest.raises(L.LinkIncomplete) as info:
        L.read_link_request(CODE, [])
    assert info.value.params == {"have": 0, "need": None}


def test_any_flipped_byte_of_a_request_message_is_refused():
    msg = REQUEST[0]
    for i in list(range(0, 64)) + list(range(64, len(msg) - 64, 97)) + list(range(len(msg) - 64, len(msg))):
        bad = msg[:i] + bytes([msg[i] ^ 0x01]) + msg[i + 1:]
        assert refused("link-request-forged", L.read_link_request, CODE, [bad]).params == {"index": 0}
    refused("link-request-forged", L.read_link_request, CODE, [msg[:-1]])
    refused("link-request-forged", L.read_link_request, CODE, [msg + b"\x00"])


def test_a_message_set_aside_by_its_index_leaves_the_rest_readable():
    junk = [R.bytes(16384), R.bytes(72), b"short"]
    messages = REQUEST[:1] + junk + REQUEST[1:]
    while True:
        try:
            got = L.read_link_request(CODE, messages)
            break
        except Refused as exc:
            assert exc.code == "link-request-forged"
            del messages[exc.params["index"]]
    assert got == MINE and len(messages) == len(REQUEST) + 1  # the 72-byte junk is read_reveal's
    refused("link-reveal-forged", L.read_reveal, CODE, got, messages)


def test_a_request_made_for_another_link_or_another_drop_does_not_authenticate():
    other = L.LinkCode(CODE.relay, CODE.mailbox, L.LinkSecret(R.bytes(32)), CODE.suites, 5)
    _, spliced = L.make_link_request(other, "Laptop", LINK.public, SLOTS, R.bytes(32))
    refused("link-request-forged", L.read_link_request, CODE, spliced)
    refused("link-request-forged", L.read_link_request, CODE, REQUEST + spliced)
    # the same key under another drop's associated data
    key = SECRET.request_key
    nonce = REQUEST[0][:24]
    plain = crypto.decrypt(key, nonce, REQUEST[0][24:], encode(["hramada:v2:link-request", 1, SECRET.drop_id]))
    moved = nonce + crypto.encrypt(key, nonce, plain, encode(["hramada:v2:link-request", 1, bytes(16)]))
    refused("link-request-forged", L.read_link_request, CODE, [moved])


def test_two_different_requests_in_one_drop_are_refused_not_merged():
    _, again = L.make_link_request(CODE, "Kitchen laptop", LINK.public, [slot_keys(s) for s in CODE.suites],
                                   R.bytes(32))
    refused("link-request-conflict", L.read_link_request, CODE, REQUEST + again)


def test_parts_that_disagree_on_their_count_or_number_past_it_are_refused():
    payload = request_payload()
    half = len(payload) // 2
    refused("link-request-parts", L.read_link_request, CODE,
            request_messages(CODE, [[0, 2, payload[:half]], [1, 3, payload[half:]]]))
    refused("link-request-parts", L.read_link_request, CODE, request_messages(CODE, [[2, 2, payload]]))
    refused("link-request-parts", L.read_link_request, CODE, request_messages(CODE, [[0, 16, payload]]))
    refused("link-request-parts", L.read_link_request, CODE, request_messages(CODE, [[0, 0, payload]]))
    got = L.read_link_request(CODE, request_messages(CODE, [[1, 2, payload[half:]], [0, 2, payload[:half]]]))
    assert got.name == "Laptop"
    # a relay that drops the second part leaves the link waiting, never shortened
    with pytest.raises(L.LinkIncomplete):
        L.read_link_request(CODE, request_messages(CODE, [[0, 2, payload[:half]]]))


def test_a_request_with_another_number_of_groups_than_the_code_is_refused():
    refused("link-request-slots", L.read_link_request, CODE,
            request_messages(CODE, [[0, 1, request_payload(slots=SLOTS[:2])]]))
    refused("link-request-slots", L.read_link_request, CODE,
            request_messages(CODE, [[0, 1, request_payload(slots=SLOTS + [slot_keys(2)])]]))
    refused("link-request-slots", L.make_link_request, CODE, "Laptop", LINK.public, SLOTS[:2], R.bytes(32))
    # a suite-1 key where the code says suite 2
    swapped = [SLOTS[1], SLOTS[0], SLOTS[2]]
    refused("link-request-key", L.make_link_request, CODE, "Laptop", LINK.public, swapped, R.bytes(32))


LOW_ORDER = bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")


def test_every_key_of_a_request_is_checked():
    s2 = SLOTS[0]
    bad_mlkem = b"\xff" * 1184 + s2.box[1184:]
    cases = {
        "low-order suite-1 box key": [SLOTS[0], L.SlotKeys(SLOTS[1].sign, LOW_ORDER), SLOTS[2]],
        "low-order X25519 half": [L.SlotKeys(s2.sign, s2.box[:1184] + LOW_ORDER), SLOTS[1], SLOTS[2]],
        "ML-KEM half out of range": [L.SlotKeys(s2.sign, bad_mlkem), SLOTS[1], SLOTS[2]],
        "small-order sign key": [L.SlotKeys(bytes(32), s2.box), SLOTS[1], SLOTS[2]],
        "sign key off the curve": [L.SlotKeys(b"\x02" + bytes(31), s2.box), SLOTS[1], SLOTS[2]],
        "short box key": [L.SlotKeys(s2.sign, s2.box[:-1]), SLOTS[1], SLOTS[2]],
    }
    for what, slots in cases.items():
        msgs = request_messages(CODE, [[0, 1, request_payload(slots=slots)]])
        e = refused("link-request-key", L.read_link_request, CODE, msgs)
        assert e.params["slot"] == 0 or (e.params["slot"] == 1 and "suite-1" in what), what
    msgs = request_messages(CODE, [[0, 1, request_payload(link=LINK.public.raw[:1184] + LOW_ORDER)]])
    assert refused("link-request-key", L.read_link_request, CODE, msgs).params == {"slot": None, "key": "link"}


def test_a_key_used_twice_is_refused_so_devices_stay_unlinkable_across_groups():
    for slots in ([SLOTS[0], SLOTS[1], SLOTS[0]],
                  [SLOTS[0], SLOTS[1], L.SlotKeys(SLOTS[1].sign, SLOTS[2].box)],
                  [SLOTS[0], L.SlotKeys(SLOTS[1].sign, LINK.public.x25519), SLOTS[2]]):
        msgs = request_messages(CODE, [[0, 1, request_payload(slots=slots)]])
        refused("link-request-key-reused", L.read_link_request, CODE, msgs)


def test_a_request_that_authenticates_but_is_not_well_formed_is_refused():
    for frame in ([0, 1], [0, 1, "text"], [0, True, b"x"], {"k": 0}):
        refused("link-request-malformed", L.read_link_request, CODE, request_messages(CODE, [frame]))
    for payload in (b"\xff", encode({"v": 2, "name": "a", "link": b"", "slots": []}),
                    encode([1, 2]), request_payload(v=2), request_payload(commit=bytes(31)),
                    encode({"v": 1, "name": "Laptop", "link": LINK.public.raw, "slots": []})):
        refused("link-request-malformed", L.read_link_request, CODE, request_messages(CODE, [[0, 1, payload]]))
    bad_pad = request_messages(CODE, [[0, 1, request_payload()]])
    key, aad = SECRET.request_key, encode(["hramada:v2:link-request", 1, SECRET.drop_id])
    plain = bytes(16344)
    refused("link-request-malformed", L.read_link_request, CODE,
            [bad_pad[0][:24] + crypto.encrypt(key, bad_pad[0][:24], plain, aad)])


def test_a_bad_device_name_is_refused_with_the_name_rules_reason():
    e = refused("link-request-name", L.read_link_request, CODE,
                request_messages(CODE, [[0, 1, request_payload(name=" Laptop")]]))
    assert e.params == {"reason": "name-spaces"}
    refused("link-request-name", L.make_link_request, CODE, "a\u202eb", LINK.public, SLOTS, R.bytes(32))


def test_nonces_come_from_the_entropy_given_so_two_requests_never_share_one():
    a = L.make_link_request(CODE, "Laptop", LINK.public, SLOTS, bytes(32))[1]
    b = L.make_link_request(CODE, "Laptop", LINK.public, SLOTS, b"\x01" * 32)[1]
    assert a == L.make_link_request(CODE, "Laptop", LINK.public, SLOTS, bytes(32))[1]
    assert a[0][:24] != b[0][:24] and L.make_reveal(CODE, bytes(32))[:24] not in {a[0][:24], b[0][:24]}


@SETTINGS
@given(st.lists(st.one_of(st.binary(max_size=80), FULL_SIZE,
                          st.sampled_from(REQUEST), st.integers()), max_size=4))
def test_reading_any_drop_messages_as_a_request_raises_nothing_but_a_refusal(messages):
    try:
        L.read_link_request(CODE, messages)
    except Refused:
        pass


@SETTINGS
@given(st.lists(st.tuples(st.integers(-3, 20), st.integers(-3, 20), st.binary(max_size=40)), max_size=3),
       st.binary(max_size=200))
def test_any_authenticated_frames_raise_nothing_but_a_refusal(frames, tail):
    frames = [list(f) for f in frames] or [[0, 1, tail]]
    try:
        L.read_link_request(CODE, request_messages(CODE, frames))
    except Refused:
        pass


# -- the answers ---------------------------------------------------------------------

REF = LA.GroupRef("https://relay.example.org", R.bytes(16), R.bytes(16), "Tenants' union", "ana")


def group_answer(slot: int, generations: int = 3) -> LA.GroupAnswer:
    return LA.GroupAnswer(slot, REF, R.bytes(32), (7 + slot, R.bytes(32)),
                         tuple((g, 1 + 5 * g, R.bytes(32)) for g in range(generations)))


PROFILE = LA.ProfileAnswer("Ana", (LA.LinkedDevice("Desk", ((REF.group, R.bytes(32)),)),
                                  LA.LinkedDevice("Kitchen laptop", ())))


def answer_all(code=CODE, link=LINK.public) -> tuple[list[LA.GroupAnswer], list[bytes]]:
    answers = [group_answer(i) for i in range(len(code.suites))]
    msgs = [m for a in answers for m in LA.make_group_answer(OsSealer(), code, link, a)]
    return answers, msgs + LA.make_profile_answer(OsSealer(), code, link, PROFILE)


def test_answers_round_trip_and_the_link_completes_with_the_profile():
    answers, msgs = answer_all()
    assert all(len(m) == L.MESSAGE_BYTES for m in msgs)
    got = LA.read_answers(CODE, LINK, msgs[::-1] + msgs[:2])
    assert got.complete and got.profile == PROFILE
    assert [got.groups[i] for i in range(3)] == answers
    assert answers[0].member_seed.hex() not in repr(got) and answers[0].seeds[0][2].hex() not in repr(got)
    partial = LA.read_answers(CODE, LINK, msgs[:2])
    assert not partial.complete and set(partial.groups) == {0, 1} and partial.profile is None


def test_a_slot_a_will_not_answer_is_said_so_and_the_link_completes_without_it():
    answers = {i: group_answer(i) for i in (0, 2)}
    msgs = [m for a in answers.values() for m in LA.make_group_answer(OsSealer(), CODE, LINK.public, a)]
    msgs += LA.make_group_refusal(OsSealer(), CODE, LINK.public, 1, "too-many-devices")
    got = LA.read_answers(CODE, LINK, msgs + LA.make_profile_answer(OsSealer(), CODE, LINK.public, PROFILE))
    assert got.complete and got.groups == answers and got.refused == {1: "too-many-devices"}
    assert not LA.read_answers(CODE, LINK, msgs).complete  # the profile is still to come
    with pytest.raises(ValueError):
        LA.make_group_refusal(OsSealer(), CODE, LINK.public, 1, "Too many devices!")
    refused("link-answer-slot", LA.make_group_refusal, OsSealer(), CODE, LINK.public, 3, "declined")
    for reason in ("", "a--b", "x" * 65, 7):
        refused("link-answer-malformed", LA.read_answers, CODE, LINK,
                [forged_answer([1, 0, 1, encode({"v": 1, "slot": 1, "refused": reason})])])


def test_a_version_or_slot_written_as_true_is_not_1():
    refused("link-answer-malformed", LA.read_answers, CODE, LINK,
            [forged_answer([1, 0, 1, encode({"v": True, "slot": 1, "refused": "declined"})])])
    refused("link-answer-malformed", LA.read_answers, CODE, LINK,
            [forged_answer([1, 0, 1, encode({"v": 1, "slot": True, "refused": "declined"})])])
    refused("link-request-malformed", L.read_link_request, CODE,
            request_messages(CODE, [[0, 1, encode({"v": True, "name": "Laptop", "link": LINK.public.raw,
                                                   "slots": [[s.sign, s.box] for s in SLOTS],
                                                   "commit": bytes(32)})]]))


def test_a_group_with_many_generations_is_answered_in_several_messages():
    big = group_answer(1, generations=1200)
    msgs = LA.make_group_answer(OsSealer(), CODE, LINK.public, big)
    assert len(msgs) > 2
    assert LA.read_answers(CODE, LINK, msgs[1:] + msgs[:1]).groups == {1: big}
    assert LA.read_answers(CODE, LINK, msgs[:-1]).groups == {}  # waits for the rest


def test_an_answer_over_256_messages_is_refused_before_anything_is_sealed():
    class Refuses:
        def seal(self, recipients, info, plaintext):
            raise AssertionError("nothing is sealed")
    rand = Rand("huge")
    ids = tuple((rand.bytes(16), rand.bytes(32)) for _ in range(300))
    huge = LA.ProfileAnswer("Ana", tuple(LA.LinkedDevice(f"Device {i}", ids) for i in range(256)))
    assert refused("link-too-large", LA.make_profile_answer, Refuses(), CODE, LINK.public,
                   huge).params == {"limit": 256}


def test_any_flipped_byte_of_an_answer_is_refused():
    msg = LA.make_group_answer(OsSealer(), CODE, LINK.public, group_answer(0))[0]
    for i in list(range(0, 1200, 37)) + list(range(1120, 1200)) + list(range(len(msg) - 40, len(msg))):
        bad = msg[:i] + bytes([msg[i] ^ 0x04]) + msg[i + 1:]
        refused("link-answer-forged", LA.read_answers, CODE, LINK, [bad])


def test_an_answer_for_another_link_or_without_the_secret_does_not_open():
    other = L.LinkCode(CODE.relay, CODE.mailbox, L.LinkSecret(R.bytes(32)), CODE.suites, 5)
    refused("link-answer-forged", LA.read_answers, CODE, LINK,
            LA.make_group_answer(OsSealer(), other, LINK.public, group_answer(0)))
    # a relay that learnt B's link key but not the link secret: sealed under the drop alone
    info = suite2.hybrid_info(suite2.DEVICE_LINK, b"", SECRET.drop_id)
    frame = encode([0, 0, 1, encode(group_answer(0).value())])
    forged = OsSealer().seal([LINK.public], info, frame + b"\x80" + bytes(LA.ANSWER_FRAME - len(frame) - 1))
    refused("link-answer-forged", LA.read_answers, CODE, LINK, forged)
    # sealed to another link key
    refused("link-answer-forged", LA.read_answers, CODE, LINK,
            LA.make_group_answer(OsSealer(), CODE, HybridPrivateKey.from_secret(R.bytes(32)).public, group_answer(0)))


def forged_answer(frame: list, code=CODE) -> bytes:
    raw = encode(frame)
    return OsSealer().seal([LINK.public], code.secret.answer_info,
                           raw + b"\x80" + bytes(LA.ANSWER_FRAME - len(raw) - 1))[0]


def test_two_different_answers_for_one_group_are_refused_but_copies_are_not():
    answer = group_answer(0)
    a = LA.make_group_answer(OsSealer(), CODE, LINK.public, answer)
    resealed = LA.make_group_answer(OsSealer(), CODE, LINK.public, answer)  # same answer, new boxes
    assert resealed != a
    assert LA.read_answers(CODE, LINK, a + a + resealed).groups == {0: answer}
    again = LA.make_group_answer(OsSealer(), CODE, LINK.public, group_answer(0))  # other seeds
    refused("link-answer-conflict", LA.read_answers, CODE, LINK, a + again)


def test_answers_for_a_slot_the_code_does_not_have_or_naming_another_slot_are_refused():
    refused("link-answer-slot", LA.make_group_answer, OsSealer(), CODE, LINK.public, group_answer(3))
    refused("link-answer-slot", LA.read_answers, CODE, LINK, [forged_answer([4, 0, 1, b"x"])])
    refused("link-answer-slot", LA.read_answers, CODE, LINK,
            [forged_answer([1, 0, 1, encode(group_answer(0).value())])])
    refused("link-answer-parts", LA.read_answers, CODE, LINK, [forged_answer([1, 1, 1, b"x"])])
    refused("link-answer-malformed", LA.read_answers, CODE, LINK, [forged_answer([1, 0, 1, b"\xff"])])
    refused("link-answer-malformed", LA.read_answers, CODE, LINK, [forged_answer([3, 0, 1, encode({"v": 1})])])


def test_a_group_answer_is_checked_field_by_field():
    good = group_answer(0)
    for seeds in ((), ((1, 1, R.bytes(32)), (1, 6, R.bytes(32))), ((0, 5, R.bytes(32)), (1, 5, R.bytes(32))),
                  ((0, 0, R.bytes(32)),), ((0, 1, R.bytes(31)),)):
        refused("link-answer-malformed", LA.GroupAnswer, 0, REF, good.member_seed, good.added, seeds)
    for added in ((1, R.bytes(32)), (5, R.bytes(16)), (5,)):
        refused("link-answer-malformed", LA.GroupAnswer, 0, REF, good.member_seed, added, good.seeds)
    refused("link-answer-malformed", LA.GroupAnswer, 0, REF, R.bytes(31), good.added, good.seeds)
    refused("group-ref", LA.GroupRef, "https://r.example", R.bytes(16), R.bytes(15), "G", "m")
    refused("group-ref", LA.GroupRef, "gopher://r.example", R.bytes(16), R.bytes(16), "G", "m")
    refused("group-ref", LA.GroupRef, "https://r.example", R.bytes(16), R.bytes(16), "", "m")
    value = dict(good.value(), seeds=[[0, 1, R.bytes(32)], [0, 2, R.bytes(32)]])
    refused("link-answer-malformed", LA.read_answers, CODE, LINK, [forged_answer([0, 0, 1, encode(value)])])
    value = dict(good.value(), ref=["https://r.example", R.bytes(16), R.bytes(16), "G", " m"])
    refused("link-answer-malformed", LA.read_answers, CODE, LINK, [forged_answer([0, 0, 1, encode(value)])])


def test_the_profile_answer_is_checked():
    refused("link-answer-malformed", LA.ProfileAnswer, "", ())
    refused("link-answer-malformed", LA.ProfileAnswer, "Ana", (LA.LinkedDevice("D", ((R.bytes(16), R.bytes(31)),)),))
    refused("link-answer-malformed", LA.ProfileAnswer, "Ana", (LA.LinkedDevice("\u200b", ()),))
    bad = {"v": 1, "name": "Ana", "devices": [{"name": "D", "ids": [[R.bytes(16)]]}]}
    refused("link-answer-malformed", LA.read_answers, CODE, LINK, [forged_answer([3, 0, 1, encode(bad)])])


@SETTINGS
@given(st.lists(st.one_of(st.binary(max_size=80), st.binary(min_size=72, max_size=72), st.none(),
                          st.sampled_from([L.make_reveal(CODE, ENTROPY), L.make_challenge(CODE, bytes(32), bytes(24))])),
                max_size=4))
def test_reading_any_drop_messages_for_the_confirmation_raises_nothing_but_a_refusal(messages):
    for read in (lambda: L.read_challenge(CODE, messages), lambda: L.read_reveal(CODE, MINE, messages)):
        try:
            got = read()
            assert got is None or len(got) == 32
        except Refused:
            pass


@settings(SETTINGS, max_examples=60)
@given(st.lists(st.one_of(st.binary(max_size=80), FULL_SIZE, st.none()),
                max_size=3))
def test_reading_any_drop_messages_as_answers_raises_nothing_but_a_refusal(messages):
    try:
        LA.read_answers(CODE, LINK, messages)
    except Refused:
        pass


@settings(SETTINGS, max_examples=100)
@given(st.tuples(st.integers(-2, 5), st.integers(-2, 5), st.integers(-2, 5)),
       st.one_of(st.binary(max_size=60), st.recursive(
           st.one_of(st.integers(-5, 2**40), st.binary(max_size=40), st.text(max_size=10), st.booleans()),
           lambda c: st.one_of(st.lists(c, max_size=6), st.dictionaries(
               st.sampled_from(["v", "slot", "ref", "seed", "added", "seeds", "name", "devices", "ids"]), c,
               max_size=6)), max_leaves=20).map(encode)))
def test_any_authenticated_answer_raises_nothing_but_a_refusal(head, payload):
    try:
        LA.read_answers(CODE, LINK, [forged_answer([*head, payload])])
    except Refused:
        pass


# -- the spec and the code agree -------------------------------------------------------

def test_the_spec_lists_exactly_the_reason_codes_the_code_raises():
    from pathlib import Path
    import re
    root = Path(__file__).resolve().parents[2]
    source = "".join((root / "src" / "hramada" / "core" / f).read_text()
                     for f in ("linking.py", "link_answers.py", "backup.py", "textcode.py"))
    raised = set(re.findall(r'"((?:link|kit|recover|group)-[a-z-]+)"', source))
    prefixes = {"link-request", "link-answer", "link-challenge", "link-reveal"}  # the {what} of templates
    assert prefixes <= raised
    raised -= prefixes
    templates = {"{what}-not-a-code", "{what}-characters", "{what}-damaged", "{what}-parts",
                 "{what}-conflict", "{what}-forged", "{what}-malformed"}
    assert set(re.findall(r'f"(\{what\}-[a-z-]+)"', source)) == templates
    raised |= {"link-not-a-code", "link-characters", "link-damaged", "recover-not-a-code",
               "recover-characters", "recover-damaged",                       # textcode, what = link | recover
               "link-request-parts", "link-request-conflict", "link-answer-parts", "link-answer-conflict",
               "link-request-malformed", "link-answer-malformed",             # frames, what = link-request | -answer
               "link-challenge-forged", "link-challenge-conflict", "link-reveal-forged", "link-reveal-conflict"}
    spec = (root / "docs" / "spec" / "devices.md").read_text()
    table = spec[spec.index("## 10. Reason codes"):spec.index("## 11. Limits")]
    listed = set(re.findall(r"`((?:link|kit|recover|group)-[a-z-]+)`", table))
    assert listed == raised, (listed - raised, raised - listed)
