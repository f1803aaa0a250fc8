"""A suite-2 group folded end to end in the core: its create entry, device box keys
that are hybrid keys, a rotation sealed through a sealer, and a paged key block that
a device opens once the page holding its box is at hand."""

from __future__ import annotations

import pytest

from hramada.client.sealing import OsSealer
from hramada.core import build, pages, suite2, wire
from hramada.core.encoding import decode, encode
from hramada.core.entries import Envelope, envelope_bytes
from hramada.core.identity import Identity
from hramada.core.state import GroupLog, Keyring
from hramada.errors import EncodingError, ForgeryError

from .world import Rand


def _suite2(rand: Rand, member_seed: bytes | None = None, name: str = "laptop") -> Identity:
    return Identity.from_secrets(member_seed or rand.bytes(32), rand.bytes(32), rand.bytes(32), name,
                                 suite=2)


def _group(rand: Rand):
    """A suite-2 group whose creator has a second device: (relay entries, creator
    device view, second device, its keyring)."""
    a = _suite2(rand)
    mailbox = rand.bytes(wire.MAILBOX_ID_BYTES)
    new, gen0 = build.create_group(mailbox=mailbox, name="Minsk mutual aid", creator=a, creator_name="alice",
                                   vouches=1, seed=rand.bytes(32), group_nonce=rand.bytes(16),
                                   nonce=rand.bytes(24))
    log, keys = GroupLog(mailbox), Keyring(a.boxing, {0: gen0})
    log.apply(new.seq, new.prev, new.ciphertext, keys)
    relay = [(new.seq, new.prev, new.ciphertext)]
    b = _suite2(rand, a.member.seed, "phone")
    add = build.device_add(log, b.device_record(log.group), author=a, keys=keys, nonce=rand.bytes(24))
    log.apply(add.seq, add.prev, add.ciphertext, keys)
    relay.append((add.seq, add.prev, add.ciphertext))
    b_log, b_keys = GroupLog(mailbox), Keyring(b.boxing, {0: gen0})
    for row in relay:
        b_log.apply(*row, b_keys)
    return a, log, keys, b, b_log, b_keys


def _rotate(rand: Rand, log: GroupLog, a: Identity, keys: Keyring, sealer=None) -> build.NewEntry:
    return build.rotation(log, author=a, keys=keys, seed=rand.bytes(32), ephemeral_secret=rand.bytes(32),
                          nonce=rand.bytes(24), auth_nonce=rand.bytes(24), items_cutoff={}, sealer=sealer)


def test_a_group_created_with_a_hybrid_device_key_is_suite_2_and_binds_it_everywhere():
    rand = Rand("suite2 group")
    a, log, keys, b, b_log, _ = _group(rand)
    assert log.suite == b_log.suite == suite2.SUITE
    assert len(log.devices[b.device_id].box) == suite2.PUBLIC_BYTES
    with pytest.raises(ValueError):
        build.create_group(mailbox=bytes(16), name="x", creator=a, creator_name="alice", vouches=1,
                           seed=bytes(32), group_nonce=bytes(16), nonce=bytes(24), suite=1)


def test_a_suite2_rotation_needs_a_sealer_and_every_device_opens_it():
    rand = Rand("suite2 rotation")
    a, log, keys, b, b_log, b_keys = _group(rand)
    with pytest.raises(TypeError):
        _rotate(rand, log, a, keys)
    new = _rotate(rand, log, a, keys, OsSealer())
    assert new.pages == ()
    assert Envelope.parse(envelope_bytes(new.ciphertext)).key_block.suite == suite2.SUITE
    log.apply(new.seq, new.prev, new.ciphertext, keys)
    b_log.apply(new.seq, new.prev, new.ciphertext, b_keys)
    assert b_keys.generations[1].seed == new.new_generation.seed


def test_a_paged_rotation_opens_once_the_page_holding_the_box_is_at_hand(monkeypatch):
    rand = Rand("suite2 pages")
    a, log, keys, b, b_log, b_keys = _group(rand)
    monkeypatch.setattr(pages, "PAGE_BOXES", 1)  # two devices: two pages of one box each
    new = _rotate(rand, log, a, keys, OsSealer())
    assert len(new.pages) == 2
    head = b_log.head
    with pytest.raises(pages.PageMissing) as missing:
        b_log.apply(new.seq, new.prev, new.ciphertext, b_keys)
    assert b_log.head == head and 1 not in b_keys.generations  # a refused apply changes nothing
    assert missing.value.digest in {pages.page_digest(p) for p in new.pages}
    wrong = next(p for p in new.pages if pages.page_digest(p) != missing.value.digest)
    b_keys.pages[missing.value.digest] = wrong  # the relay served the other page under this digest
    with pytest.raises(ForgeryError) as refused:
        b_log.apply(new.seq, new.prev, new.ciphertext, b_keys)
    assert "does not match its digest" in str(refused.value) and b_log.head == head
    b_keys.pages[missing.value.digest] = next(p for p in new.pages if pages.page_digest(p) == missing.value.digest)
    b_log.apply(new.seq, new.prev, new.ciphertext, b_keys)
    keys.pages.update({pages.page_digest(p): p for p in new.pages})
    log.apply(new.seq, new.prev, new.ciphertext, keys)
    assert b_keys.generations[1].seed == keys.generations[1].seed == new.new_generation.seed
    assert b_log.head == log.head


def test_an_envelope_whose_key_block_is_of_another_suite_is_malformed():
    rand = Rand("suite2 mixed")
    a, log, keys, *_ = _group(rand)
    new = _rotate(rand, log, a, keys, OsSealer())
    value = decode(envelope_bytes(new.ciphertext))
    value["s"] = 1
    with pytest.raises(EncodingError):
        Envelope.parse(encode(value))
