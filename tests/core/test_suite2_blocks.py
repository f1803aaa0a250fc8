"""Suite-2 key blocks and welcomes (keys.md §4, §10.8; invitations.md §6): each box is
one HPKE box to a member's hybrid key, bound to the group and the entry's position; the
suite is bound into the block's digest and its authorisation; a large block travels in
pages the reader checks by hash; and if X25519 falls, nothing of a suite-2 chain opens.
"""

from __future__ import annotations

import hashlib

import nacl.bindings as sodium
import pytest

from hramada.client.sealing import OsSealer
from hramada.core import crypto, invitation as inv, pages, suite2
from hramada.core.encoding import decode, encode
from hramada.core.keys import (Generation, KeyBlock, box_label, decode_key_block, key_block_author,
                               make_key_block, open_key_block, walk_back)
from hramada.core.suite2 import HybridPrivateKey, derive
from hramada.errors import DecryptionError, EncodingError, ForgeryError, KeyWithheldError

from . import hpke_reference as ref
from .pinned_sealer import PinnedSealer

GROUP = bytes(range(16))
ADMIN = crypto.SigningKey.from_seed(bytes(32))


def secret(label: str) -> bytes:
    return hashlib.blake2b(label.encode(), digest_size=32).digest()


def hybrid(name: str) -> HybridPrivateKey:
    return HybridPrivateKey.from_secret(secret(name))


KEYS = {n: hybrid(n) for n in ("alice", "bob", "carol")}
G0, G1 = Generation(0, secret("g0")), Generation(1, secret("g1"))


def block(recipients=None, *, seq: int = 5, sealer=None, removed: bytes = b"", prev=G0, new=G1,
          cut: bool = False) -> KeyBlock:
    recipients = [k.public for k in KEYS.values()] if recipients is None else recipients
    return make_key_block(prev, new, recipients, b"", author=ADMIN, group=GROUP, seq=seq,
                          auth_nonce=secret(f"nonce {seq}")[:24], removed=removed, cut=cut,
                          sealer=sealer or OsSealer())


def reparsed(b: KeyBlock) -> KeyBlock:
    return decode_key_block(encode(b.to_value()))


# -- round trip ------------------------------------------------------------------

def test_every_member_opens_the_new_generation_from_a_suite2_block_as_the_relay_carries_it():
    b = reparsed(block())
    assert b.suite == 2 and b.ephemeral == b"" and not b.paged
    assert all(len(box) == 32 + suite2.BOX_OVERHEAD == 1168 for _, box in b.boxes)
    for key in KEYS.values():
        assert open_key_block(b, G0, key, group=GROUP, seq=5).seed == G1.seed
    assert key_block_author(b, G0, GROUP, 5) == (ADMIN.public.raw, b"")
    assert walk_back(b, G1).seed == G0.seed


def test_labels_are_keyed_hashes_of_the_hybrid_public_key_bytes():
    b = block()
    assert b.labels == {crypto.keyed_hash(G0.label_key, "hramada:v1:box-label", k.public.raw, 8)
                        for k in KEYS.values()} == {box_label(G0, k.public) for k in KEYS.values()}


@pytest.mark.parametrize("group, seq", [(bytes(16), 5), (GROUP, 6)], ids=["group", "position"])
def test_a_suite2_box_does_not_open_for_another_group_or_position(group, seq):
    """The box's info binds the group and the seq: a box replayed elsewhere is broken."""
    with pytest.raises(ForgeryError, match="does not open"):
        open_key_block(block(), G0, KEYS["bob"], group=group, seq=seq)


def test_opening_a_suite2_block_without_its_group_and_seq_is_a_programming_error():
    with pytest.raises(ValueError, match="group id"):
        open_key_block(block(), G0, KEYS["bob"])


def test_the_suite_is_bound_into_the_digest_and_the_authorisation():
    b = block()
    value = b.to_value()
    assert value["s"] == 2 and "e" not in value
    # The same boxes presented as suite 1 (with some ephemeral key) hash differently,
    # and the suite-2 authorisation does not verify for it.
    as_one = KeyBlock(bytes(32), b.boxes, b.back, b.auth, b.back_content)
    assert as_one.digest != b.digest
    with pytest.raises(ForgeryError):
        key_block_author(as_one, G0, GROUP, 5)
    with pytest.raises(EncodingError):
        decode_key_block(encode({**value, "s": 3}))
    with pytest.raises(EncodingError):
        decode_key_block(encode({**value, "e": bytes(32)}))


def test_suite1_blocks_are_as_before_and_keys_of_the_other_suite_do_not_open_a_block():
    x = {n: crypto.BoxPrivateKey.from_secret(secret(n + "/x")) for n in KEYS}
    one = make_key_block(G0, G1, [k.public for k in x.values()], secret("eph"), author=ADMIN,
                         group=GROUP, seq=5, auth_nonce=bytes(24))
    assert one.suite == 1 and set(one.to_value()) == {"e", "b", "p", "q", "a"}
    assert open_key_block(reparsed(one), G0, x["bob"]).seed == G1.seed
    with pytest.raises(DecryptionError, match="suite-1"):
        open_key_block(one, G0, KEYS["bob"])
    with pytest.raises(DecryptionError, match="suite-2"):
        open_key_block(block(), G0, x["bob"], group=GROUP, seq=5)


def test_recipients_of_both_suites_or_a_missing_sealer_are_refused():
    with pytest.raises(TypeError, match="all suite-1 or all suite-2"):
        block([KEYS["alice"].public, crypto.BoxPrivateKey.from_secret(secret("x")).public])
    with pytest.raises(TypeError, match="sealer"):
        make_key_block(G0, G1, [KEYS["alice"].public], b"", author=ADMIN, group=GROUP, seq=5,
                       auth_nonce=bytes(24))


def test_a_member_left_out_gets_key_withheld():
    b = block([KEYS["alice"].public, KEYS["bob"].public])
    with pytest.raises(KeyWithheldError):
        open_key_block(b, G0, KEYS["carol"], group=GROUP, seq=5)


def test_a_box_swapped_between_labels_is_a_forgery_for_its_owner():
    b = block()
    (l1, b1), (l2, b2), rest = b.boxes[0], b.boxes[1], b.boxes[2:]
    swapped = KeyBlock(b"", ((l1, b2), (l2, b1), *rest), b.back, b.auth, b.back_content, 2)
    owner = next(k for k in KEYS.values() if box_label(G0, k.public) == l1)
    with pytest.raises(ForgeryError):
        open_key_block(swapped, G0, owner, group=GROUP, seq=5)


def test_a_pinned_sealer_gives_the_same_block_twice_and_the_reference_opens_its_boxes():
    one, two = block(sealer=PinnedSealer("k")), block(sealer=PinnedSealer("k"))
    assert encode(one.to_value()) == encode(two.to_value())
    info = suite2.hybrid_info(suite2.KEY_BLOCK_BOX, GROUP, 5)
    for name, key in KEYS.items():
        box = dict(one.boxes)[box_label(G0, key.public)]
        assert ref.open_box(secret(name), info, box) == G1.seed


# -- welcomes ----------------------------------------------------------------------

REQUEST = bytes(range(8))


def welcome(to=KEYS["carol"], sealer=None, group=GROUP, request=REQUEST) -> bytes:
    return inv.make_welcome(to.public, b"", group, request, G1, admit=(4, bytes(32)), starts=[3],
                            sealer=sealer or OsSealer())


def test_a_suite2_welcome_opens_for_its_newcomer_group_and_request_only():
    message = welcome()
    assert decode(message)["s"] == 2 and set(decode(message)) == {"s", "b"}
    w = inv.open_welcome(KEYS["carol"], message, GROUP, request=REQUEST)
    assert w.generation.seed == G1.seed and w.request == REQUEST and w.starts == (3,)
    for key, group, request in ((KEYS["bob"], GROUP, REQUEST), (KEYS["carol"], bytes(16), REQUEST),
                                (KEYS["carol"], GROUP, bytes(8)), (KEYS["carol"], GROUP, b"")):
        with pytest.raises(DecryptionError):
            inv.open_welcome(key, message, group, request=request)
    with pytest.raises(DecryptionError):
        inv.open_welcome(crypto.BoxPrivateKey.from_secret(secret("x")), message, GROUP, request=REQUEST)
    info = suite2.hybrid_info(suite2.WELCOME, GROUP, REQUEST)
    assert crypto.unpad(ref.open_box(secret("carol"), info, decode(message)["b"]))[:1] == b"\xa6"


def test_a_suite2_welcome_needs_a_sealer():
    with pytest.raises(TypeError):
        inv.make_welcome(KEYS["carol"].public, b"", GROUP, REQUEST, G1, admit=(4, bytes(32)), starts=[3])


# -- pages -------------------------------------------------------------------------

BIG = [HybridPrivateKey.from_secret(secret(f"member {i}")) for i in range(pages.PAGE_BOXES + 44)]


@pytest.fixture(scope="module")
def paged() -> KeyBlock:
    return block([k.public for k in BIG], seq=9)


def test_a_block_of_more_than_256_boxes_travels_in_pages_named_by_digest(paged):
    assert paged.paged and len(paged.page_digests) == 2
    blobs = paged.pages()
    assert [pages.page_digest(p) for p in blobs] == list(paged.page_digests)
    assert [len(decode(p)) for p in blobs] == [256, 44]
    carried = reparsed(paged)
    assert set(paged.to_value()) == {"s", "l", "g", "p", "q", "a"}
    assert carried.labels == paged.labels and carried.digest == paged.digest
    assert all(box == b"" for _, box in carried.boxes)
    assert key_block_author(carried, G0, GROUP, 9) == (ADMIN.public.raw, b"")
    with pytest.raises(ValueError):
        carried.pages()


def test_a_member_opens_its_box_from_the_one_page_that_holds_it(paged):
    carried, blobs = reparsed(paged), dict(zip(paged.page_digests, paged.pages()))
    for key in (BIG[0], BIG[-1], BIG[100]):
        position = sorted(carried.labels).index(box_label(G0, key.public))
        digest = carried.page_digests[position // 256]
        with pytest.raises(pages.PageMissing) as missing:
            open_key_block(carried, G0, key, group=GROUP, seq=9)
        assert missing.value.digest == digest
        assert open_key_block(carried, G0, key, group=GROUP, seq=9,
                              pages_at_hand={digest: blobs[digest]}).seed == G1.seed


def test_a_page_that_does_not_hash_to_its_digest_or_sits_elsewhere_is_refused(paged):
    carried, (first, second) = reparsed(paged), paged.pages()
    key = BIG[0]
    position = sorted(carried.labels).index(box_label(G0, key.public))
    digest = carried.page_digests[position // 256]
    right = first if pages.page_digest(first) == digest else second
    other = second if right is first else first
    tampered = bytearray(right)
    tampered[-1] ^= 1
    for page in (bytes(tampered), other, b""):
        with pytest.raises(ForgeryError, match="digest"):
            open_key_block(carried, G0, key, group=GROUP, seq=9, pages_at_hand={digest: page})


def test_a_malformed_page_under_its_own_digest_is_refused():
    with pytest.raises(ForgeryError, match="malformed"):
        pages.check_page(encode([b"x"]), pages.page_digest(encode([b"x"])), index=0, boxes=1,
                         box_bytes=1168)


def test_inline_and_paged_forms_are_each_the_only_one_for_their_size(paged):
    value = paged.to_value()
    inline = {"s": 2, "b": [[lab, box] for lab, box in paged.boxes], "p": value["p"], "q": value["q"],
              "a": value["a"]}
    with pytest.raises(EncodingError, match="inline"):
        decode_key_block(encode(inline))
    with pytest.raises(EncodingError, match="pages"):
        decode_key_block(encode({**value, "g": value["g"][:1]}))
    small = block().to_value()
    with pytest.raises(EncodingError, match="pages"):
        decode_key_block(encode({"s": 2, "l": [lab for lab, _ in small["b"]], "g": [bytes(32)],
                                 "p": small["p"], "q": small["q"], "a": small["a"]}))


def test_a_10000_member_block_fits_the_relay_in_an_entry_and_pages():
    """What the entry and each page weigh at 10,000 members (sizes only: computed from
    the format, without sealing 10,000 boxes)."""
    n = 10_000
    labels = sorted(secret(f"l{i}")[:8] for i in range(n))
    digests = [bytes(32)] * pages.page_count(n)
    entry_part = encode({"s": 2, "l": labels, "g": digests, "p": bytes(48), "q": bytes(48), "a": bytes(200)})
    page = encode([bytes(1168)] * pages.PAGE_BOXES)
    assert len(entry_part) < 100_000 and len(page) < 310_000 < 4 * 1024 * 1024
    assert pages.page_count(n) == 40


# -- if X25519 falls ----------------------------------------------------------------

def x25519_half_only(name: str) -> HybridPrivateKey:
    """What a quantum attacker holds once X25519 falls: the real X25519 secret of the
    key, paired with an ML-KEM half of its own (the real one is withheld)."""
    return HybridPrivateKey.from_halves(derive(secret("attacker " + name), suite2.MLKEM_PURPOSE, 64),
                                        derive(secret(name), suite2.X25519_PURPOSE, 32))


def chain(suite: int, names: list[str], sealer) -> tuple[list[Generation], list[KeyBlock], bytes]:
    """Generations 0..3 of a group whose members are ``names``; three rotations at seqs
    3, 5 and 8, and a welcome at generation 3 for ``names[-1]`` (request REQUEST)."""
    gens = [Generation(i, secret(f"chain gen {i}")) for i in range(4)]
    blocks = []
    for i, seq in enumerate((3, 5, 8)):
        if suite == 2:
            recipients = [hybrid(n).public for n in names]
            blocks.append(make_key_block(gens[i], gens[i + 1], recipients, b"", author=ADMIN,
                                         group=GROUP, seq=seq, auth_nonce=bytes(24), sealer=sealer))
        else:
            recipients = [crypto.BoxPrivateKey.from_secret(derive(secret(n), suite2.X25519_PURPOSE, 32)).public
                          for n in names]
            blocks.append(make_key_block(gens[i], gens[i + 1], recipients, secret(f"eph {i}"),
                                         author=ADMIN, group=GROUP, seq=seq, auth_nonce=bytes(24)))
    newcomer = names[-1]
    if suite == 2:
        letter = inv.make_welcome(hybrid(newcomer).public, b"", GROUP, REQUEST, gens[3], admit=(8, bytes(32)),
                                  starts=[3, 5, 8], sealer=sealer)
    else:
        key = crypto.BoxPrivateKey.from_secret(derive(secret(newcomer), suite2.X25519_PURPOSE, 32))
        letter = inv.make_welcome(key.public, secret("welcome eph"), GROUP, REQUEST, gens[3],
                                  admit=(8, bytes(32)), starts=[3, 5, 8])
    return gens, [reparsed(b) for b in blocks], letter


NAMES = ["alice", "bob", "carol"]


def test_with_every_x25519_secret_a_quantum_attacker_opens_no_box_welcome_or_back_link():
    gens, blocks, letter = chain(2, NAMES, PinnedSealer("chain"))
    seqs = (3, 5, 8)
    # The honest newcomer walks back from its welcome to generation 0, in full.
    w = inv.open_welcome(hybrid("carol"), letter, GROUP, request=REQUEST)
    g = w.generation
    for b in reversed(blocks):
        g = walk_back(b, g)
    assert g.seed == gens[0].seed
    # The attacker holds every X25519 secret, not the ML-KEM halves.
    attackers = {n: x25519_half_only(n) for n in NAMES}
    for n, a in attackers.items():
        assert a.public.x25519 == hybrid(n).public.x25519 and a.public.mlkem != hybrid(n).public.mlkem
    learned: list[bytes] = []  # every 32-byte value the attacker computes: candidate seeds
    for i, (b, seq) in enumerate(zip(blocks, seqs)):
        info = suite2.hybrid_info(suite2.KEY_BLOCK_BOX, GROUP, seq)
        for n in NAMES:
            box = dict(b.boxes)[box_label(gens[i], hybrid(n).public)]
            with pytest.raises(DecryptionError):
                suite2.open_box(attackers[n], info, box)
            learned += _x25519_view(n, info, box)
    info = suite2.hybrid_info(suite2.WELCOME, GROUP, REQUEST)
    with pytest.raises(DecryptionError):
        inv.open_welcome(attackers["carol"], letter, GROUP, request=REQUEST)
    learned += _x25519_view("carol", info, decode(letter)["b"])
    learned += [derive(secret(n), suite2.X25519_PURPOSE, 32) for n in NAMES]
    # The back links are symmetric under keys derived from the newer seed: no value the
    # attacker holds opens one, so no walk back starts.
    for candidate in learned:
        for b, number in zip(blocks, (1, 2, 3)):
            with pytest.raises(DecryptionError):
                walk_back(b, Generation(number, candidate))
            with pytest.raises(DecryptionError):
                walk_back(b, Generation.log_only(number, candidate))


def _x25519_view(name: str, info: bytes, box: bytes) -> list[bytes]:
    """Below the API: the attacker computes the X25519 shared secret of the box honestly
    and tries the key schedule with every ML-KEM shared secret it can name without
    breaking ML-KEM; the AEAD stays closed (the combiner hashes both secrets)."""
    _, xsk, public = ref.key_pair(secret(name))
    ct_x = box[1088:1120]
    ss_x = sodium.crypto_scalarmult(xsk, ct_x)
    for guess in (bytes(32), box[:32], ss_x):
        key, nonce = ref._schedule(ref._combine(guess, ss_x, ct_x, public[1184:]), info)
        with pytest.raises(Exception, match="Decryption failed"):
            sodium.crypto_aead_chacha20poly1305_ietf_decrypt(box[1120:], b"", nonce, key)
    return [ss_x, xsk]


def test_the_same_attacker_opens_everything_of_a_suite1_chain():
    """The contrast that makes the test above mean something: under suite 1 the X25519
    secrets are the whole key, and the walk back hands over the history."""
    gens, blocks, letter = chain(1, NAMES, None)
    key = crypto.BoxPrivateKey.from_secret(derive(secret("carol"), suite2.X25519_PURPOSE, 32))
    g = inv.open_welcome(key, letter, GROUP).generation
    for b in reversed(blocks):
        g = walk_back(b, g)
    assert g.seed == gens[0].seed
    assert open_key_block(blocks[0], gens[0], key).seed == gens[1].seed
