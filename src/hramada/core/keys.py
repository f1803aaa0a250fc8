"""Key generations: one random seed per generation, every other key derived from it.

Generation 0 is made with the group. Every rotation (and every removal, which is a
rotation) makes generation ``g + 1``: a fresh seed, sealed to each remaining member in
a *key block* that travels beside the rotating log entry, plus two links back: the
previous *log seed* under a key derived from the new log seed, and the previous seed
under a key derived from the new seed. Newcomers who were only given the newest seed
walk back through them: the log links always (every device verifies the whole log),
the content links unless a rotation left its out — a *history cut*, made by the
admission of a newcomer when the group's history policy is ``since-join``.

The log commits to each generation (``commitment(log seed)``) in a signed entry; a
client checks every seed it opens against that commitment before using it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from hramada.core import crypto, pages, suite2
from hramada.core.crypto import BoxPrivateKey, BoxPublicKey, SigningKey, VerifyKey
from hramada.core.suite2 import HybridPrivateKey, HybridPublicKey, Sealer
from hramada.core.encoding import decode, encode, expect, fields
from hramada.errors import DecryptionError, EncodingError, ForgeryError, KeyWithheldError

SEED_BYTES = 32
_AUTH_PURPOSE = "hramada:v1:key-block-auth"
LABEL_BYTES = 8
_ZERO_NONCE = bytes(crypto.NONCE_BYTES)


class HistoryNotShared(DecryptionError):
    """This device holds only the log half of a generation from before its admission
    (the group's history policy is ``since-join``): it cannot open that content."""


@dataclass(frozen=True, repr=False)
class Generation:
    """The keys of one generation. A full generation holds its seed; every key derives
    from it. Its *log seed* derives from the seed, and the log's keys (log key, relay
    capability, box labels, rotation authorisation, the link back to the previous log
    seed) derive from the log seed alone, so a device can hold only the log half of a
    generation: it verifies the log under it but opens none of its content."""

    number: int
    seed: bytes | None
    log_seed_: bytes | None = None

    def __post_init__(self) -> None:
        if self.seed is not None:
            if len(self.seed) != SEED_BYTES:
                raise ValueError("a generation seed is 32 bytes")
            object.__setattr__(self, "log_seed_", log_seed(self.seed))
        elif self.log_seed_ is None or len(self.log_seed_) != SEED_BYTES:
            raise ValueError("a generation needs its seed or its 32-byte log seed")

    @classmethod
    def log_only(cls, number: int, log_seed_value: bytes) -> "Generation":
        return cls(number, None, log_seed_value)

    @property
    def log_seed(self) -> bytes:
        return self.log_seed_  # type: ignore[return-value]  # set by __post_init__

    @property
    def full(self) -> bool:
        return self.seed is not None

    def stored(self) -> list:
        """How a device stores it: ``[number, seed]`` or ``[number, b"", log seed]``."""
        return [self.number, self.seed] if self.seed is not None else [self.number, b"", self.log_seed]

    @classmethod
    def restore(cls, number: int, seed: bytes, log_seed_value: bytes | None = None) -> "Generation":
        return cls(number, seed) if seed else cls.log_only(number, log_seed_value or b"")

    @cached_property
    def commitment(self) -> bytes:
        return commitment(self.log_seed)

    @cached_property
    def log_key(self) -> bytes:
        return crypto.derive_key(self.log_seed, "hramada:v1:log-key")

    @cached_property
    def content_key(self) -> bytes:
        if self.seed is None:
            raise HistoryNotShared(f"this device holds no content key for generation {self.number}, "
                                   "from before its admission")
        return crypto.derive_key(self.seed, "hramada:v1:content-key")

    @cached_property
    def append_key(self) -> SigningKey:
        """Signs every entry appended while this generation is in force (``log.md`` §2),
        so that readers — and the relay — can tell an entry a holder of the generation
        wrote from one the relay made up."""
        return SigningKey.from_seed(crypto.derive_key(self.log_seed, "hramada:v1:entry-append"))

    @cached_property
    def relay_cap(self) -> bytes:
        """The bearer capability for the group's mailbox during this generation: a
        32-byte secret followed by the generation's append public key (64 bytes). Both
        derive from the log seed, so a device holding only a generation's log half can
        still verify the entries appended under it."""
        return crypto.derive_key(self.log_seed, "hramada:v1:relay-cap") + self.append_key.public.raw

    @cached_property
    def label_key(self) -> bytes:
        return crypto.derive_key(self.log_seed, "hramada:v1:box-label")

    @cached_property
    def auth_key(self) -> bytes:
        """Seals who authorised the key block leaving this generation."""
        return crypto.derive_key(self.log_seed, "hramada:v1:key-block-auth")

    @cached_property
    def back_key(self) -> bytes:
        """Encrypts exactly one message: the previous generation's log seed."""
        return crypto.derive_key(self.log_seed, "hramada:v1:prev-log-seed-key")

    @cached_property
    def content_back_key(self) -> bytes:
        """Encrypts exactly one message: the previous generation's seed (absent at a
        history cut)."""
        if self.seed is None:
            raise HistoryNotShared(f"generation {self.number} is held without its seed")
        return crypto.derive_key(self.seed, "hramada:v1:prev-seed-key")

    def __repr__(self) -> str:
        return f"Generation({self.number}{'' if self.full else ', log only'})"


def log_seed(seed: bytes) -> bytes:
    return crypto.derive_key(seed, "hramada:v1:log-seed")


def commitment(log_seed_value: bytes) -> bytes:
    """What the log signs for a generation: a commitment to its log seed (which is
    itself derived from the seed, so a full seed is checked through it)."""
    return crypto.hash32("hramada:v1:seed-commit", log_seed_value)


def check_commitment(gen: Generation, expected: bytes) -> None:
    if not crypto.equal(gen.commitment, expected):
        raise ForgeryError(f"the key for generation {gen.number} does not match the log's commitment")


def box_label(previous: Generation, recipient: BoxPublicKey | HybridPublicKey) -> bytes:
    """An opaque label telling a member which box is theirs (meaningless to the relay):
    a keyed hash of the recipient's public key bytes (32 for suite 1, 1,216 for suite 2)."""
    return crypto.keyed_hash(previous.label_key, "hramada:v1:box-label", recipient.raw, LABEL_BYTES)


@dataclass(frozen=True, slots=True)
class KeyBlock:
    """The new seed sealed to each member, the old seed under the new one, and — sealed
    under the *old* generation — who authorised it, so that a member left out can tell
    a real removal from a relay that damaged their box.

    ``suite`` 1 seals every box to an X25519 key under one ``ephemeral`` key; suite 2
    seals each box on its own with HPKE to a hybrid key (``ephemeral`` empty). A suite-2
    block of more than ``pages.PAGE_BOXES`` boxes is *paged*: ``page_digests`` names its
    pages, and each pair of ``boxes`` holds the label with an empty box (the box is in
    its page) unless the block was just made (then the boxes are all there)."""

    ephemeral: bytes
    boxes: tuple[tuple[bytes, bytes], ...]  # (label, sealed seed), in label order
    back: bytes             # the previous log seed, under the new log seed's back key
    auth: bytes = b""
    back_content: bytes = b""  # the previous seed under the new seed's; empty: a history cut
    suite: int = 1
    page_digests: tuple[bytes, ...] = ()

    def _core(self) -> dict:
        if self.suite == 1:
            return {"e": self.ephemeral, "b": [[lab, box] for lab, box in self.boxes], "p": self.back,
                    "q": self.back_content}
        if self.page_digests:
            return {"s": self.suite, "l": [lab for lab, _ in self.boxes], "g": list(self.page_digests),
                    "p": self.back, "q": self.back_content}
        return {"s": self.suite, "b": [[lab, box] for lab, box in self.boxes], "p": self.back,
                "q": self.back_content}

    def to_value(self) -> dict:
        return {**self._core(), "a": self.auth}

    @classmethod
    def from_value(cls, value: object) -> "KeyBlock":
        if isinstance(value, dict) and "s" in value:
            return cls._from_suite2(value)
        v = fields(value, "key block", {"e": bytes, "b": list, "p": bytes, "q": bytes, "a": bytes})
        expect(len(v["e"]) == 32, "key block (ephemeral key)")
        pairs = _pairs(v["b"])
        return cls(v["e"], tuple(pairs), v["p"], v["a"], v["q"])

    @classmethod
    def _from_suite2(cls, value: dict) -> "KeyBlock":
        paged = "g" in value
        shape = ({"s": int, "l": list, "g": list, "p": bytes, "q": bytes, "a": bytes} if paged
                 else {"s": int, "b": list, "p": bytes, "q": bytes, "a": bytes})
        v = fields(value, "key block", shape)
        expect(v["s"] == suite2.SUITE, "key block (suite)")
        if not paged:
            pairs = _pairs(v["b"])
            expect(pages.page_count(len(pairs)) == 0, "key block (too many boxes to carry inline)")
            expect(all(len(box) == SEED_BYTES + suite2.BOX_OVERHEAD for _, box in pairs), "key block (box)")
            return cls(b"", tuple(pairs), v["p"], v["a"], v["q"], suite2.SUITE)
        labels = v["l"]
        expect(all(isinstance(lab, bytes) and len(lab) == LABEL_BYTES for lab in labels)
               and all(a < b for a, b in zip(labels, labels[1:])), "key block (labels)")
        expect(len(v["g"]) == pages.page_count(len(labels)) > 0
               and all(isinstance(d, bytes) and len(d) == pages.DIGEST_BYTES for d in v["g"]),
               "key block (pages)")
        return cls(b"", tuple((lab, b"") for lab in labels), v["p"], v["a"], v["q"], suite2.SUITE,
                   tuple(v["g"]))

    @property
    def digest(self) -> bytes:
        """What the signed rotation entry and the authorisation commit to (all but ``a``)."""
        return crypto.hash32("hramada:v1:key-block", encode(self._core()))

    @property
    def labels(self) -> set[bytes]:
        return {lab for lab, _ in self.boxes}

    @property
    def paged(self) -> bool:
        return bool(self.page_digests)

    def pages(self) -> list[bytes]:
        """The page blobs of a paged block this device just made (to upload before the
        entry); ``[]`` for a block that keeps its boxes inline."""
        if not self.page_digests:
            return []
        if any(not box for _, box in self.boxes):
            raise ValueError("only the writer of a key block holds its pages")
        return pages.split([box for _, box in self.boxes])


def _pairs(items: list) -> list[tuple[bytes, bytes]]:
    pairs: list[tuple[bytes, bytes]] = []
    for pair in items:
        expect(isinstance(pair, list) and len(pair) == 2
               and isinstance(pair[0], bytes) and len(pair[0]) == LABEL_BYTES
               and isinstance(pair[1], bytes), "key block (box)")
        expect(not pairs or pairs[-1][0] < pair[0], "key block (boxes not in label order)")
        pairs.append((pair[0], pair[1]))
    return pairs


Recipient = BoxPublicKey | HybridPublicKey
Me = BoxPrivateKey | HybridPrivateKey


def _suite_of(recipients: list, sealer: Sealer | None) -> int:
    if all(isinstance(r, BoxPublicKey) for r in recipients) and (recipients or sealer is None):
        if sealer is not None:
            raise TypeError("suite-1 recipients take no sealer")
        return 1
    if all(isinstance(r, HybridPublicKey) for r in recipients):
        if sealer is None:
            raise TypeError("a suite-2 key block needs a sealer")
        return suite2.SUITE
    raise TypeError("the recipients of a key block are all suite-1 or all suite-2 public keys")


def _auth_message(group: bytes, seq: int, digest: bytes, removed: bytes, suite: int) -> tuple[bytes, bytes]:
    """The signed message and the AEAD data of an authorisation. Suite 1's are those of
    version 1; every later suite appends its number to both."""
    tail = [] if suite == 1 else [suite]
    return encode([group, seq, digest, removed, *tail]), encode([_AUTH_PURPOSE, seq, *tail])


def make_key_block(previous: Generation, new: Generation, recipients: list[Recipient],
                   ephemeral_secret: bytes, *, author: SigningKey, group: bytes, seq: int,
                   auth_nonce: bytes, removed: bytes = b"", cut: bool = False,
                   sealer: Sealer | None = None) -> KeyBlock:
    """Seal ``new`` to every recipient, ``previous`` under ``new`` (only its log seed if
    ``cut``: a history cut, after which ``new`` leads back to no older content), and
    ``author``'s signature over the block (for entry ``seq`` of ``group``, removing the
    member ``removed``, or no one if empty) under ``previous``.

    The recipients are all suite-1 box keys (one ``crypto.seal_many`` under
    ``ephemeral_secret``) or all suite-2 hybrid keys (one HPKE box each through
    ``sealer``, ``ephemeral_secret`` unused); the block's suite follows. A suite-2 block
    of more than ``pages.PAGE_BOXES`` recipients is paged (``KeyBlock.pages``)."""
    if new.seed is None or previous.seed is None:
        raise ValueError("a key block is made from full generations")
    if type(removed) is not bytes:
        raise ValueError("removed must be a change (log.md §5.13): empty, a member id, or a revocation")
    if new.number != previous.number + 1:
        raise ValueError("a key block goes from one generation to the next")
    suite = _suite_of(list(recipients), sealer)
    if suite == 1:
        epk, boxes = crypto.seal_many(recipients, ephemeral_secret, new.seed)  # type: ignore[arg-type]
    else:
        epk = b""
        boxes = suite2.seal_many(sealer, list(recipients), suite2.hybrid_info(  # type: ignore[arg-type]
            suite2.KEY_BLOCK_BOX, group, seq), new.seed)
    labels = [box_label(previous, r) for r in recipients]
    pairs = tuple(sorted(zip(labels, boxes)))
    digests = tuple(pages.page_digest(p) for p in pages.split([box for _, box in pairs])) if suite != 1 else ()
    back = crypto.encrypt(new.back_key, _ZERO_NONCE, previous.log_seed,
                          aad=encode(["hramada:v1:prev-log-seed", previous.number]))
    content = b"" if cut else crypto.encrypt(new.content_back_key, _ZERO_NONCE, previous.seed,
                                             aad=encode(["hramada:v1:prev-seed", previous.number]))
    block = KeyBlock(epk, pairs, back, b"", content, suite, digests)
    message, aad = _auth_message(group, seq, block.digest, removed, suite)
    signature = crypto.sign(author, _AUTH_PURPOSE, message)
    sealed = crypto.encrypt(previous.auth_key, auth_nonce, encode([author.public.raw, removed, signature]),
                            aad=aad)
    return KeyBlock(epk, pairs, back, auth_nonce + sealed, content, suite, digests)


def key_block_author(block: KeyBlock, previous: Generation, group: bytes, seq: int
                     ) -> tuple[bytes, bytes]:
    """Who signed this key block and whom it removes (member ids; ``b""`` for no one),
    checked with the old generation; raises ForgeryError if the block or its
    authorisation was tampered with."""
    if len(block.auth) < crypto.NONCE_BYTES:
        raise ForgeryError(f"entry {seq}: a key rotation without its authorisation")
    message_of = lambda removed: _auth_message(group, seq, block.digest, removed, block.suite)  # noqa: E731
    try:
        v = decode(crypto.decrypt(previous.auth_key, block.auth[:crypto.NONCE_BYTES],
                                  block.auth[crypto.NONCE_BYTES:], aad=message_of(b"")[1]))
    except (DecryptionError, EncodingError):
        raise ForgeryError(f"entry {seq}: a key rotation's authorisation was tampered with") from None
    if not (isinstance(v, list) and len(v) == 3 and all(isinstance(x, bytes) for x in v)
            and len(v[0]) == 32):
        raise ForgeryError(f"entry {seq}: a malformed key rotation authorisation")
    author, removed, signature = v
    try:
        crypto.verify(VerifyKey(author), _AUTH_PURPOSE, message_of(removed)[0], signature)
    except ForgeryError:
        raise ForgeryError(f"entry {seq}: the key rotation's authorisation is not for this key "
                           "block, group and position") from None
    return author, removed


def open_key_block(block: KeyBlock, previous: Generation, me: Me, *, group: bytes = b"",
                   seq: int = 0, pages_at_hand: Mapping[bytes, bytes] | None = None) -> Generation:
    """The next generation from my box in ``block``.

    Suite 2 needs the ``group`` and the ``seq`` of the block's entry (the box's HPKE
    info), and for a paged block the page that holds my box, looked up by digest in
    ``pages_at_hand`` (``pages.PageMissing`` if it is not there: fetch it, try again).

    No box with my label: ``KeyWithheldError`` (the caller checks who authorised the
    block before believing it). A box with my label that does not open with my key was
    not made by an honest writer for this identity: ``ForgeryError``."""
    if block.suite == 1 and not isinstance(me, BoxPrivateKey) or (
            block.suite == suite2.SUITE and not isinstance(me, HybridPrivateKey)):
        raise DecryptionError(f"a suite-{block.suite} key block does not open with this kind of key")
    if block.suite == suite2.SUITE and (len(group) != suite2.GROUP_ID_BYTES or seq < 1):
        raise ValueError("a suite-2 key block opens only with its group id and its entry's seq")
    label = box_label(previous, me.public)
    for position, (lab, box) in enumerate(block.boxes):
        if crypto.equal(lab, label):
            if block.paged:
                box = _box_from_page(block, position, pages_at_hand or {})
            try:
                if block.suite == 1:
                    seed = crypto.open_sealed(me, block.ephemeral, box)  # type: ignore[arg-type]
                else:
                    seed = suite2.open_box(me, suite2.hybrid_info(  # type: ignore[arg-type]
                        suite2.KEY_BLOCK_BOX, group, seq), box)
            except DecryptionError:
                raise ForgeryError("the key box labelled for this identity does not open: "
                                   "the key rotation was tampered with") from None
            if len(seed) != SEED_BYTES:
                raise ForgeryError("a sealed generation seed has the wrong size")
            return Generation(previous.number + 1, seed)
    raise KeyWithheldError("this identity was left out of a key rotation: it has been removed from the group")


def _box_from_page(block: KeyBlock, position: int, at_hand: Mapping[bytes, bytes]) -> bytes:
    index, within = pages.locate(position)
    digest = block.page_digests[index]
    page = at_hand.get(digest)
    if page is None:
        raise pages.PageMissing(digest, index)
    boxes = pages.check_page(page, digest, index=index, boxes=len(block.boxes),
                             box_bytes=SEED_BYTES + suite2.BOX_OVERHEAD)
    return boxes[within]


def walk_back(block: KeyBlock, new: Generation) -> Generation:
    """The generation before ``new``, from the key block that made ``new``: in full if
    ``new`` is held in full and the block links back to the older content, else only
    its log half."""
    older = crypto.decrypt(new.back_key, _ZERO_NONCE, block.back,
                           aad=encode(["hramada:v1:prev-log-seed", new.number - 1]))
    if len(older) != SEED_BYTES:
        raise ForgeryError("a previous generation's log seed has the wrong size")
    if new.seed is None or not block.back_content:
        return Generation.log_only(new.number - 1, older)
    seed = crypto.decrypt(new.content_back_key, _ZERO_NONCE, block.back_content,
                          aad=encode(["hramada:v1:prev-seed", new.number - 1]))
    if len(seed) != SEED_BYTES or not crypto.equal(log_seed(seed), older):
        raise ForgeryError("a previous generation seed does not match its log seed")
    return Generation(new.number - 1, seed)


def decode_key_block(data: bytes) -> KeyBlock:
    return KeyBlock.from_value(decode(data))
