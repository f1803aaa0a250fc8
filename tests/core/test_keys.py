"""Key generations: derivations, key blocks, walking back, commitments."""

from __future__ import annotations

import pytest

from hramada.core import crypto
from hramada.core.encoding import encode
from hramada.core.keys import (HistoryNotShared, Generation, KeyBlock, box_label, check_commitment, commitment,
                               decode_key_block, key_block_author, make_key_block, open_key_block,
                               walk_back)
from hramada.errors import DecryptionError, EncodingError, ForgeryError, KeyWithheldError

from .world import Rand, authorised

R = Rand("keys")
GROUP, SEQ = R.bytes(16), 9
ADMIN = R.identity()


def test_every_derived_key_is_distinct():
    gen = Generation(3, R.bytes(32))
    keys = [gen.log_key, gen.content_key, gen.relay_cap[:32], gen.label_key, gen.back_key,
            gen.auth_key, gen.commitment, gen.seed, gen.append_key.seed]
    assert len(set(keys)) == len(keys)
    assert all(len(k) == 32 for k in keys)
    # the mailbox capability is the relay-cap secret followed by the append public key
    assert gen.relay_cap == gen.relay_cap[:32] + gen.append_key.public.raw
    assert gen.log_key == Generation(0, gen.seed).log_key  # keys depend on the seed only


def test_generation_seed_must_be_32_bytes_and_stays_out_of_repr():
    with pytest.raises(ValueError):
        Generation(0, bytes(16))
    gen = Generation(2, R.bytes(32))
    assert gen.seed.hex()[:16] not in repr(gen) and "2" in repr(gen)


def test_commitment_check():
    gen = Generation(0, R.bytes(32))
    check_commitment(gen, commitment(gen.log_seed))  # no error
    with pytest.raises(ForgeryError, match="generation 0"):
        check_commitment(gen, commitment(R.bytes(32)))


@pytest.fixture
def rotation():
    people = [R.identity() for _ in range(3)]
    old, new = Generation(4, R.bytes(32)), Generation(5, R.bytes(32))
    block = make_key_block(old, new, [p.boxing.public for p in people], R.bytes(32),
                           author=ADMIN.signing, group=GROUP, seq=SEQ, auth_nonce=R.bytes(24))
    return people, old, new, block


def block_for(old: Generation, people) -> KeyBlock:
    """Another key block from ``old``, fairly authorised by the admin."""
    return make_key_block(old, Generation(old.number + 1, R.bytes(32)),
                          [p.boxing.public for p in people], R.bytes(32),
                          author=ADMIN.signing, group=GROUP, seq=SEQ, auth_nonce=R.bytes(24))


def reauthorised(block: KeyBlock, previous: Generation, *, signer=ADMIN, group=GROUP, seq=SEQ,
                 **change) -> KeyBlock:
    return authorised(block, previous, signer=signer, group=group, seq=seq, nonce=R.bytes(24),
                      **change)


def test_every_recipient_opens_the_new_generation(rotation):
    people, old, new, block = rotation
    assert len(block.boxes) == 3
    for p in people:
        got = open_key_block(block, old, p.boxing)
        assert got.number == 5 and got.seed == new.seed


def test_someone_left_out_learns_they_were_removed(rotation):
    _, old, _, block = rotation
    with pytest.raises(KeyWithheldError):
        open_key_block(block, old, R.identity().boxing)
    assert issubclass(KeyWithheldError, DecryptionError)


def test_labels_need_the_previous_generation(rotation):
    people, old, _, block = rotation
    wrong_previous = Generation(4, R.bytes(32))
    with pytest.raises(KeyWithheldError):
        open_key_block(block, wrong_previous, people[0].boxing)
    labels = {lab for lab, _ in block.boxes}
    assert labels == {box_label(old, p.boxing.public) for p in people}
    assert all(len(lab) == 8 for lab in labels)


def test_walk_back_recovers_the_previous_generation_only_with_the_new_one(rotation):
    _, old, new, block = rotation
    back = walk_back(block, new)
    assert back.number == 4 and back.seed == old.seed
    with pytest.raises(DecryptionError):
        walk_back(block, Generation(5, R.bytes(32)))
    # the generation number is bound: the same block cannot claim another position
    with pytest.raises(DecryptionError):
        walk_back(block, Generation(6, new.seed))


def test_walk_back_then_commitment_catches_a_swapped_seed(rotation):
    """A walked-back seed is only trusted once it matches the log's commitment."""
    _, old, new, block = rotation
    check_commitment(walk_back(block, new), old.commitment)
    with pytest.raises(ForgeryError):
        check_commitment(walk_back(block, new), commitment(R.bytes(32)))


def test_a_tampered_box_does_not_open(rotation):
    people, old, _, block = rotation
    mine = box_label(old, people[0].boxing.public)
    bad = KeyBlock(block.ephemeral, tuple((label, box[:-1] + bytes([box[-1] ^ 1]) if label == mine else box)
                                          for label, box in block.boxes), block.back, block.auth)
    # a box under my label that does not open is tampering, never "removed"
    with pytest.raises(ForgeryError, match="does not open"):
        open_key_block(bad, old, people[0].boxing)
    assert bad.digest != block.digest
    with pytest.raises(ForgeryError):  # and the authorisation no longer matches it
        key_block_author(bad, old, GROUP, SEQ)


def test_a_sealed_seed_of_the_wrong_size_is_refused(rotation):
    people, old, _, _ = rotation
    me = people[0]
    epk, (box,) = crypto.seal_many([me.boxing.public], R.bytes(32), b"short seed")
    block = KeyBlock(epk, ((box_label(old, me.boxing.public), box),), b"")
    with pytest.raises(ForgeryError):
        open_key_block(block, old, me.boxing)


def test_a_previous_seed_of_the_wrong_size_is_refused():
    new = Generation(1, R.bytes(32))
    back = crypto.encrypt(new.back_key, bytes(24), b"short",
                          aad=encode(["hramada:v1:prev-log-seed", 0]))
    with pytest.raises(ForgeryError):
        walk_back(KeyBlock(bytes(32), (), back), new)


def test_key_blocks_only_go_one_generation_forward():
    with pytest.raises(ValueError):
        make_key_block(Generation(1, R.bytes(32)), Generation(3, R.bytes(32)), [], R.bytes(32),
                       author=ADMIN.signing, group=GROUP, seq=SEQ, auth_nonce=R.bytes(24))


def test_key_block_round_trips_and_digest_leaves_out_the_authorisation(rotation):
    _, _, _, block = rotation
    again = decode_key_block(encode(block.to_value()))
    assert again == block
    assert set(block.to_value()) == {"e", "b", "p", "q", "a"}
    core = {"e": block.ephemeral, "b": [list(b) for b in block.boxes], "p": block.back,
            "q": block.back_content}
    assert block.digest == crypto.hash32("hramada:v1:key-block", encode(core))
    # the digest is what the authorisation signs, so it cannot cover the authorisation
    assert KeyBlock(block.ephemeral, block.boxes, block.back, b"other", block.back_content).digest == block.digest


@pytest.mark.parametrize("value", [
    {"e": bytes(32), "b": [], "p": b"", "q": b"", "a": b"", "x": 1},  # unknown field
    {"e": bytes(32), "b": [], "p": b"", "q": b""},                # no authorisation
    {"e": bytes(32), "b": [], "p": b"", "a": b""},                # no content link (even empty)
    {"e": bytes(32), "b": [], "p": b"", "q": b"", "a": "auth"},             # authorisation not bytes
    {"e": bytes(31), "b": [], "p": b"", "q": b"", "a": b""},                # short ephemeral key
    {"e": bytes(32), "b": [[bytes(7), b"box"]], "p": b"", "q": b"", "a": b""},  # short label
    {"e": bytes(32), "b": [[bytes(8)]], "p": b"", "q": b"", "a": b""},       # box missing
    {"e": bytes(32), "b": [[bytes(8), "box"]], "p": b"", "q": b"", "a": b""},  # box not bytes
    {"e": bytes(32), "b": {}, "p": b"", "q": b"", "a": b""},                 # boxes not a list
    [bytes(32), [], b"", b""],                                     # not a map
])
def test_malformed_key_blocks_are_encoding_errors(value):
    with pytest.raises(EncodingError):
        KeyBlock.from_value(value)


# -- the authorisation: who rotated, checked with the old generation ---------------------

def test_the_authorisation_names_the_admin_for_anyone_holding_the_old_generation(rotation):
    _, old, _, block = rotation
    assert key_block_author(block, old, GROUP, SEQ) == (ADMIN.device_id, b"")
    # a member left out of the block can check it too: it needs only the old generation
    assert key_block_author(decode_key_block(encode(block.to_value())), old, GROUP, SEQ) \
        == (ADMIN.device_id, b"")
    nonce, sealed = block.auth[:24], block.auth[24:]
    plain = crypto.decrypt(old.auth_key, nonce, sealed,
                           encode(["hramada:v1:key-block-auth", SEQ]))
    assert plain == encode([ADMIN.device_id, b"", crypto.sign(
        ADMIN.signing, "hramada:v1:key-block-auth", encode([GROUP, SEQ, block.digest, b""]))])
    assert old.auth_key == crypto.derive_key(old.log_seed, "hramada:v1:key-block-auth")


def test_the_authorisation_is_sealed_under_the_old_generation(rotation):
    _, old, new, block = rotation
    for wrong in (Generation(old.number, R.bytes(32)), new):
        with pytest.raises(ForgeryError, match="tampered"):
            key_block_author(block, wrong, GROUP, SEQ)


@pytest.mark.parametrize(("change", "why"), [
    ({"group": bytes(16)}, "signed for another group"),
    ({"seq": SEQ + 1}, "signed for another position"),
    ({"digest": bytes(32)}, "signed over another key block"),
    ({"sealed_seq": SEQ + 1}, "sealed for another position"),
])
def test_an_authorisation_for_another_group_position_or_block_is_a_forgery(rotation, change, why):
    _, old, _, block = rotation
    assert key_block_author(reauthorised(block, old), old, GROUP, SEQ) == (ADMIN.device_id, b"")
    with pytest.raises(ForgeryError):
        key_block_author(reauthorised(block, old, **change), old, GROUP, SEQ)


def test_the_authorisation_does_not_follow_a_changed_block(rotation):
    """Keeping an admin's authorisation but changing the boxes it was made for."""
    people, old, _, block = rotation
    other = block_for(old, people[:2])
    for boxes in (block.boxes[:2], other.boxes + block.boxes[2:], block.boxes[::-1]):
        moved = KeyBlock(block.ephemeral, tuple(boxes), block.back, block.auth)
        with pytest.raises(ForgeryError):
            key_block_author(moved, old, GROUP, SEQ)
    with pytest.raises(ForgeryError):  # and the other way round
        key_block_author(KeyBlock(other.ephemeral, other.boxes, other.back, block.auth), old,
                         GROUP, SEQ)


def test_any_flipped_byte_of_the_authorisation_is_a_forgery(rotation):
    _, old, _, block = rotation
    for i in range(len(block.auth)):
        auth = block.auth[:i] + bytes([block.auth[i] ^ 0x40]) + block.auth[i + 1:]
        with pytest.raises(ForgeryError):
            key_block_author(KeyBlock(block.ephemeral, block.boxes, block.back, auth), old,
                             GROUP, SEQ)


@pytest.mark.parametrize("auth", [b"", bytes(23), bytes(24), bytes(40)])
def test_a_missing_or_truncated_authorisation_is_a_forgery(rotation, auth):
    _, old, _, block = rotation
    with pytest.raises(ForgeryError):
        key_block_author(KeyBlock(block.ephemeral, block.boxes, block.back, auth), old, GROUP, SEQ)


@pytest.mark.parametrize("plaintext", [
    b"\xff",                                              # not canonical encoding
    encode([]),                                           # not a triple
    encode([bytes(32), bytes(64)]),                       # the pair it was before it named the removed
    encode([bytes(32), b"", bytes(64), b""]),             # one too many
    encode([bytes(31), b"", bytes(64)]),                  # short signer
    encode([bytes(32), bytes(31), bytes(64)]),            # short removed member
    encode([bytes(32), bytes(33), bytes(64)]),            # long removed member
    encode([bytes(32), None, bytes(64)]),                 # removed member not bytes
    encode([bytes(32), "", bytes(64)]),                   # removed member a text
    encode({"a": bytes(32), "r": b"", "s": bytes(64)}),   # a map
    encode([bytes(32), b"", "signature"]),                # signature not bytes
    encode([bytes(32), b"", bytes(63)]),                  # short signature
])
def test_a_malformed_authorisation_is_a_forgery(rotation, plaintext):
    """Sealed with the right key (only a member holds it) but not what a client writes."""
    _, old, _, block = rotation
    with pytest.raises(ForgeryError):
        key_block_author(reauthorised(block, old, plaintext=plaintext), old, GROUP, SEQ)


def test_whoever_signs_is_named(rotation):
    """The authorisation says who signed; whether they may rotate is the log's call."""
    people, old, _, block = rotation
    assert key_block_author(reauthorised(block, old, signer=people[1]), old, GROUP, SEQ) == \
        (people[1].device_id, b"")


# -- the authorisation names whom the rotation removes -----------------------------------

def test_the_authorisation_names_the_member_a_removal_removes():
    people, gone = [R.identity() for _ in range(2)], R.identity()
    old, new = Generation(4, R.bytes(32)), Generation(5, R.bytes(32))
    block = make_key_block(old, new, [p.boxing.public for p in people], R.bytes(32),
                           author=ADMIN.signing, group=GROUP, seq=SEQ, auth_nonce=R.bytes(24),
                           removed=gone.public.id)
    # whoever is left out (the one removed, or anyone else) reads whom it removes
    assert key_block_author(block, old, GROUP, SEQ) == (ADMIN.device_id, gone.public.id)
    plain = crypto.decrypt(old.auth_key, block.auth[:24], block.auth[24:],
                           encode(["hramada:v1:key-block-auth", SEQ]))
    assert plain == encode([ADMIN.device_id, gone.public.id, crypto.sign(
        ADMIN.signing, "hramada:v1:key-block-auth",
        encode([GROUP, SEQ, block.digest, gone.public.id]))])
    # made again by hand, it is the same authorisation
    assert key_block_author(reauthorised(block, old, removed=gone.public.id), old, GROUP, SEQ) \
        == (ADMIN.device_id, gone.public.id)


@pytest.mark.parametrize(("signed_for", "named"), [
    ("gone", ""), ("", "gone"), ("gone", "other"),
], ids=["removal named as a plain rotation", "plain rotation named as a removal",
        "another member named"])
def test_the_removed_member_cannot_be_changed_after_signing(rotation, signed_for, named):
    """Whoever holds the old generation could reseal the authorisation: the member it
    names must be the one the admin signed for."""
    _, old, _, block = rotation
    ids = {"": b"", "gone": R.identity().public.id, "other": R.identity().public.id}
    signature = crypto.sign(ADMIN.signing, "hramada:v1:key-block-auth",
                            encode([GROUP, SEQ, block.digest, ids[signed_for]]))
    plaintext = encode([ADMIN.device_id, ids[named], signature])
    with pytest.raises(ForgeryError, match="not for this key block"):
        key_block_author(reauthorised(block, old, plaintext=plaintext), old, GROUP, SEQ)


@pytest.mark.parametrize("removed", ["carol", None, 32])
def test_a_key_block_names_its_change_in_bytes(removed):
    """The change an authorisation names is bytes: empty, a member id or a revocation
    (log.md §5.13); the log, not the key block, judges what it means."""
    old = Generation(1, R.bytes(32))
    with pytest.raises(ValueError):
        make_key_block(old, Generation(2, R.bytes(32)), [], R.bytes(32), author=ADMIN.signing,
                       group=GROUP, seq=SEQ, auth_nonce=R.bytes(24), removed=removed)


def test_a_history_cut_walks_back_to_the_log_half_only():
    people = [ADMIN]
    old, new = Generation(4, R.bytes(32)), Generation(5, R.bytes(32))
    block = make_key_block(old, new, [p.boxing.public for p in people], R.bytes(32), author=ADMIN.signing,
                           group=GROUP, seq=SEQ, auth_nonce=R.bytes(24), cut=True)
    back = walk_back(block, new)
    assert (back.number, back.full, back.log_seed) == (4, False, old.log_seed)
    check_commitment(back, old.commitment)  # the log half is still checked against the log
    assert back.log_key == old.log_key and back.label_key == old.label_key
    with pytest.raises(HistoryNotShared):
        back.content_key
    assert old.seed not in encode(block.to_value())


def test_a_content_link_that_does_not_match_its_log_seed_is_a_forgery():
    old, new = Generation(4, R.bytes(32)), Generation(5, R.bytes(32))
    block = make_key_block(old, new, [ADMIN.boxing.public], R.bytes(32), author=ADMIN.signing,
                           group=GROUP, seq=SEQ, auth_nonce=R.bytes(24))
    other = crypto.encrypt(new.content_back_key, bytes(24), R.bytes(32), aad=encode(["hramada:v1:prev-seed", 4]))
    with pytest.raises(ForgeryError, match="does not match its log seed"):
        walk_back(KeyBlock(block.ephemeral, block.boxes, block.back, block.auth, other), new)
