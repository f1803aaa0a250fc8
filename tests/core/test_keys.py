"""Key generations: derivations, key blocks, walking back, commitments."""

from __future__ import annotations

import pytest

from hramada.core import crypto
from hramada.core.encoding import encode
from hramada.core.keys import (Generation, KeyBlock, box_label, check_commitment, commitment,
                               decode_key_block, make_key_block, open_key_block, walk_back)
from hramada.errors import DecryptionError, EncodingError, ForgeryError, KeyWithheldError

from .world import Rand

R = Rand("keys")


def test_every_derived_key_is_distinct():
    gen = Generation(3, R.bytes(32))
    keys = [gen.log_key, gen.content_key, gen.relay_cap, gen.label_key, gen.back_key,
            gen.commitment, gen.seed]
    assert len(set(keys)) == len(keys)
    assert all(len(k) == 32 for k in keys)
    assert gen.log_key == Generation(0, gen.seed).log_key  # keys depend on the seed only


def test_generation_seed_must_be_32_bytes_and_stays_out_of_repr():
    with pytest.raises(ValueError):
        Generation(0, bytes(16))
    gen = Generation(2, R.bytes(32))
    assert gen.seed.hex()[:16] not in repr(gen) and "2" in repr(gen)


def test_commitment_check():
    gen = Generation(0, R.bytes(32))
    check_commitment(gen, commitment(gen.seed))  # no error
    with pytest.raises(ForgeryError, match="generation 0"):
        check_commitment(gen, commitment(R.bytes(32)))


@pytest.fixture
def rotation():
    people = [R.identity() for _ in range(3)]
    old, new = Generation(4, R.bytes(32)), Generation(5, R.bytes(32))
    block = make_key_block(old, new, [p.boxing.public for p in people], R.bytes(32))
    return people, old, new, block


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
    label, box = block.boxes[0]
    bad = KeyBlock(block.ephemeral, ((label, box[:-1] + bytes([box[-1] ^ 1])),) + block.boxes[1:],
                   block.back)
    with pytest.raises(DecryptionError):
        open_key_block(bad, old, people[0].boxing)
    assert bad.digest != block.digest


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
                          aad=encode(["hramada:v1:prev-seed", 0]))
    with pytest.raises(ForgeryError):
        walk_back(KeyBlock(bytes(32), (), back), new)


def test_key_blocks_only_go_one_generation_forward():
    with pytest.raises(ValueError):
        make_key_block(Generation(1, R.bytes(32)), Generation(3, R.bytes(32)), [], R.bytes(32))


def test_key_block_round_trips_and_digest_is_over_its_canonical_encoding(rotation):
    _, _, _, block = rotation
    again = decode_key_block(encode(block.to_value()))
    assert again == block
    assert block.digest == crypto.hash32("hramada:v1:key-block", encode(block.to_value()))


@pytest.mark.parametrize("value", [
    {"e": bytes(32), "b": [], "p": b"", "x": 1},        # unknown field
    {"e": bytes(31), "b": [], "p": b""},                # short ephemeral key
    {"e": bytes(32), "b": [[bytes(7), b"box"]], "p": b""},  # short label
    {"e": bytes(32), "b": [[bytes(8)]], "p": b""},       # box missing
    {"e": bytes(32), "b": [[bytes(8), "box"]], "p": b""},  # box not bytes
    {"e": bytes(32), "b": {}, "p": b""},                 # boxes not a list
    [bytes(32), [], b""],                                # not a map
])
def test_malformed_key_blocks_are_encoding_errors(value):
    with pytest.raises(EncodingError):
        KeyBlock.from_value(value)
