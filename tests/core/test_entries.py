"""Log entries: what the relay sees, what is sealed inside, and how it is opened."""

from __future__ import annotations

import pytest

from hramada.core import crypto, wire
from hramada.core.encoding import decode, encode
from hramada.core.entries import (KINDS, Envelope, check_position, envelope_bytes, group_id_of,
                                  open_entry, seal_entry, verify_signature)
from hramada.core.keys import Generation
from hramada.errors import DecryptionError, EncodingError, ForgeryError, VerificationError

from .world import Rand

R = Rand("entries")
AUTHOR = R.identity()
GEN = Generation(0, R.bytes(32))
GROUP = R.bytes(16)
MAILBOX = R.bytes(16)


def relay_ct(kind="vouch", body=None, seq=2, prev=None, gen=GEN, author=AUTHOR, nonce=None):
    """The relay ciphertext of an entry: envelope || append signature."""
    return seal_entry(mailbox=MAILBOX, group=GROUP, seq=seq, prev=prev or bytes(range(32)),
                      kind=kind, body={"request": bytes(8)} if body is None else body,
                      author=author.member_id, device=author.signing, generation=gen, nonce=nonce or R.bytes(24))


def sealed(**kw):
    """Just the envelope of an entry."""
    return envelope_bytes(relay_ct(**kw))


def test_the_relay_sees_no_kind_author_or_body():
    ct = sealed(kind="admit", body={"request": b"REQUEST!", "role": "member"})
    outer = decode(ct)
    assert set(outer) == {"s", "n", "c"}
    assert outer["s"] == crypto.SUITE
    for secret in (b"admit", b"member", b"REQUEST!", AUTHOR.public.id, GROUP):
        assert secret not in ct


def test_an_entry_opens_to_what_was_sealed():
    prev = R.bytes(32)
    entry, sig = open_entry(Envelope.parse(sealed(seq=7, prev=prev)), 7, GEN)
    assert (entry.seq, entry.prev, entry.kind, entry.author, entry.body, entry.group) == \
           (7, prev, "vouch", AUTHOR.public.id, {"request": bytes(8)}, GROUP)
    verify_signature(entry, sig)
    check_position(entry, 7, prev)


def test_entry_signed_by_someone_else_fails_verification():
    entry, sig = open_entry(Envelope.parse(sealed()), 2, GEN)
    other, other_sig = open_entry(Envelope.parse(sealed(author=R.identity())), 2, GEN)
    with pytest.raises(ForgeryError):
        verify_signature(entry, other_sig)
    with pytest.raises(ForgeryError):
        verify_signature(other, sig)


def test_an_entry_moved_to_another_position_is_refused():
    ct = sealed(seq=5)
    # the AEAD binds the position ...
    with pytest.raises(DecryptionError):
        open_entry(Envelope.parse(ct), 6, GEN)
    # ... and so does the signed content
    entry, _ = open_entry(Envelope.parse(ct), 5, GEN)
    with pytest.raises(VerificationError):
        check_position(entry, 5, R.bytes(32))
    with pytest.raises(VerificationError):
        check_position(entry, 6, entry.prev)


def test_wrong_generation_cannot_open_an_entry():
    with pytest.raises(DecryptionError):
        open_entry(Envelope.parse(sealed()), 2, Generation(0, R.bytes(32)))


def test_unknown_kinds_cannot_be_sealed():
    with pytest.raises(ValueError):
        sealed(kind="promote-me")
    assert set(KINDS) >= {"create", "invite", "request", "vouch", "admit", "remove",
                          "leave", "role", "policy", "rotate"}


def test_envelope_round_trip_and_refusals():
    ct = sealed()
    assert Envelope.parse(ct).to_bytes() == ct
    value = decode(ct)
    for bad in ({**value, "s": 3}, {**value, "n": bytes(12)}, {**value, "x": 1},
                {"s": 1, "n": value["n"]}, {**value, "k": {"e": b""}}):
        with pytest.raises(EncodingError):
            Envelope.parse(encode(bad))
    with pytest.raises(EncodingError):
        Envelope.parse(ct + b"\x00")


def _forge(inner_value, gen=GEN, seq=2, signer=AUTHOR, suite=crypto.SUITE):
    """An envelope whose plaintext is a hand-made (signed) inner entry."""
    inner = encode(inner_value)
    signed = encode([inner, crypto.sign(signer.signing, "hramada:v1:log-entry", inner)])
    nonce = R.bytes(24)
    return Envelope(nonce, crypto.encrypt(gen.log_key, nonce, crypto.pad(signed),
                                          encode(["hramada:v1:log-entry", suite, seq])), None)


GOOD_INNER = {"v": 2, "s": 1, "group": GROUP, "seq": 2, "prev": bytes(32), "kind": "vouch",
              "author": AUTHOR.public.id, "device": AUTHOR.device_id, "body": {}}


def test_a_hand_made_entry_opens():
    entry, _ = open_entry(_forge(GOOD_INNER), 2, GEN)
    assert entry.kind == "vouch"


def test_the_suite_is_bound_into_the_aead_and_the_signature():
    # sealed for another suite, the AEAD does not open under suite 1 ...
    with pytest.raises(DecryptionError):
        open_entry(_forge(GOOD_INNER, suite=2), 2, GEN)
    # ... and the signed entry names its suite too
    with pytest.raises(EncodingError, match="suite"):
        open_entry(_forge({**GOOD_INNER, "s": 2}), 2, GEN)


def test_the_append_signature_binds_mailbox_position_and_envelope():
    prev = R.bytes(32)
    ct = relay_ct(seq=4, prev=prev)
    key = GEN.append_key.public
    assert wire.open_append(key, MAILBOX, 4, prev, ct) == envelope_bytes(ct)
    assert len(ct) == len(envelope_bytes(ct)) + 64
    for args in ((R.bytes(16), 4, prev, ct), (MAILBOX, 5, prev, ct), (MAILBOX, 4, R.bytes(32), ct),
                 (MAILBOX, 4, prev, ct[:10] + bytes([ct[10] ^ 1]) + ct[11:]), (MAILBOX, 4, prev, ct[:64])):
        with pytest.raises(ForgeryError):
            wire.open_append(key, *args)
    with pytest.raises(ForgeryError):
        wire.open_append(Generation(0, R.bytes(32)).append_key.public, MAILBOX, 4, prev, ct)


def test_the_relay_checks_the_append_signature_of_a_mailbox_capability():
    prev = R.bytes(32)
    ct = relay_ct(seq=3, prev=prev)
    assert len(GEN.relay_cap) == 64 and GEN.relay_cap[32:] == GEN.append_key.public.raw
    assert wire.appended_by_holder(GEN.relay_cap, MAILBOX, 3, prev, ct)
    assert not wire.appended_by_holder(GEN.relay_cap, MAILBOX, 3, prev, envelope_bytes(ct) + bytes(64))
    assert not wire.appended_by_holder(Generation(0, R.bytes(32)).relay_cap, MAILBOX, 3, prev, ct)


def test_entry_plaintexts_are_padded_to_buckets():
    sizes = {n: len(Envelope.parse(sealed(body={"request": bytes(n)})).sealed) - 16
             for n in (0, 1, 8, 20, 100, 300, 2000)}
    assert set(sizes.values()) <= {256, 512, 1024, 4096}
    assert sizes[0] == sizes[1]  # one bucket hides the exact size


@pytest.mark.parametrize("change", [
    {"v": 1}, {"kind": "steal"}, {"author": bytes(31)}, {"device": bytes(31)}, {"body": []}, {"seq": "2"},
    {"extra": 1}, {"s": "1"},
])
def test_malformed_inner_entries_are_encoding_errors(change):
    with pytest.raises(EncodingError):
        open_entry(_forge({**GOOD_INNER, **change}), 2, GEN)


def test_a_plaintext_that_is_not_a_signed_pair_is_an_encoding_error():
    nonce = R.bytes(24)
    for plaintext in (encode([b"x"]), encode({"a": 1}), encode([b"x", "y"]), b"\xff",
                      encode([b"x", b"y"])):
        env = Envelope(nonce, crypto.encrypt(GEN.log_key, nonce, plaintext if plaintext == b"\xff"
                                             else crypto.pad(plaintext),
                                             encode(["hramada:v1:log-entry", 1, 2])), None)
        with pytest.raises(EncodingError):
            open_entry(env, 2, GEN)


def test_group_id_is_a_hash_of_the_signed_creation():
    entry, _ = open_entry(Envelope.parse(sealed(kind="create", seq=1, body={"x": 1})), 1, GEN)
    gid = group_id_of(entry)
    assert len(gid) == 16
    assert gid == crypto.hash32("hramada:v1:group-id", entry.inner)[:16]
    other, _ = open_entry(Envelope.parse(sealed(kind="create", seq=1, body={"x": 2})), 1, GEN)
    assert group_id_of(other) != gid


def test_entry_hash_binds_mailbox_position_and_bytes():
    args = (R.bytes(16), 3, R.bytes(32), b"ciphertext")
    h = wire.entry_hash(*args)
    assert len(h) == 32
    assert wire.entry_hash(R.bytes(16), *args[1:]) != h
    assert wire.entry_hash(args[0], 4, *args[2:]) != h
    assert wire.entry_hash(*args[:2], R.bytes(32), args[3]) != h
    assert wire.entry_hash(*args[:3], b"ciphertexT") != h
