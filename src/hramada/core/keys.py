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

from dataclasses import dataclass
from functools import cached_property

from hramada.core import crypto
from hramada.core.crypto import BoxPrivateKey, BoxPublicKey, SigningKey, VerifyKey
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


def box_label(previous: Generation, recipient: BoxPublicKey) -> bytes:
    """An opaque label telling a member which box is theirs (meaningless to the relay)."""
    return crypto.keyed_hash(previous.label_key, "hramada:v1:box-label", recipient.raw, LABEL_BYTES)


@dataclass(frozen=True, slots=True)
class KeyBlock:
    """The new seed sealed to each member, the old seed under the new one, and — sealed
    under the *old* generation — who authorised it, so that a member left out can tell
    a real removal from a relay that damaged their box."""

    ephemeral: bytes
    boxes: tuple[tuple[bytes, bytes], ...]  # (label, sealed seed)
    back: bytes             # the previous log seed, under the new log seed's back key
    auth: bytes = b""
    back_content: bytes = b""  # the previous seed under the new seed's; empty: a history cut

    def _core(self) -> dict:
        return {"e": self.ephemeral, "b": [[lab, box] for lab, box in self.boxes], "p": self.back,
                "q": self.back_content}

    def to_value(self) -> dict:
        return {**self._core(), "a": self.auth}

    @classmethod
    def from_value(cls, value: object) -> "KeyBlock":
        v = fields(value, "key block", {"e": bytes, "b": list, "p": bytes, "q": bytes, "a": bytes})
        expect(len(v["e"]) == 32, "key block (ephemeral key)")
        pairs = []
        for pair in v["b"]:
            expect(isinstance(pair, list) and len(pair) == 2
                   and isinstance(pair[0], bytes) and len(pair[0]) == LABEL_BYTES
                   and isinstance(pair[1], bytes), "key block (box)")
            expect(not pairs or pairs[-1][0] < pair[0], "key block (boxes not in label order)")
            pairs.append((pair[0], pair[1]))
        return cls(v["e"], tuple(pairs), v["p"], v["a"], v["q"])

    @property
    def digest(self) -> bytes:
        """What the signed rotation entry and the authorisation commit to (all but ``a``)."""
        return crypto.hash32("hramada:v1:key-block", encode(self._core()))

    @property
    def labels(self) -> set[bytes]:
        return {lab for lab, _ in self.boxes}


def make_key_block(previous: Generation, new: Generation, recipients: list[BoxPublicKey],
                   ephemeral_secret: bytes, *, author: SigningKey, group: bytes, seq: int,
                   auth_nonce: bytes, removed: bytes = b"", cut: bool = False) -> KeyBlock:
    """Seal ``new`` to every recipient, ``previous`` under ``new`` (only its log seed if
    ``cut``: a history cut, after which ``new`` leads back to no older content), and
    ``author``'s signature over the block (for entry ``seq`` of ``group``, removing the
    member ``removed``, or no one if empty) under ``previous``."""
    if new.seed is None or previous.seed is None:
        raise ValueError("a key block is made from full generations")
    if type(removed) is not bytes:
        raise ValueError("removed must be a change (log.md §5.13): empty, a member id, or a revocation")
    if new.number != previous.number + 1:
        raise ValueError("a key block goes from one generation to the next")
    epk, boxes = crypto.seal_many(recipients, ephemeral_secret, new.seed)
    labels = [box_label(previous, r) for r in recipients]
    back = crypto.encrypt(new.back_key, _ZERO_NONCE, previous.log_seed,
                          aad=encode(["hramada:v1:prev-log-seed", previous.number]))
    content = b"" if cut else crypto.encrypt(new.content_back_key, _ZERO_NONCE, previous.seed,
                                             aad=encode(["hramada:v1:prev-seed", previous.number]))
    block = KeyBlock(epk, tuple(sorted(zip(labels, boxes))), back, back_content=content)
    signature = crypto.sign(author, _AUTH_PURPOSE, encode([group, seq, block.digest, removed]))
    sealed = crypto.encrypt(previous.auth_key, auth_nonce, encode([author.public.raw, removed, signature]),
                            aad=encode([_AUTH_PURPOSE, seq]))
    return KeyBlock(epk, block.boxes, back, auth_nonce + sealed, content)


def key_block_author(block: KeyBlock, previous: Generation, group: bytes, seq: int
                     ) -> tuple[bytes, bytes]:
    """Who signed this key block and whom it removes (member ids; ``b""`` for no one),
    checked with the old generation; raises ForgeryError if the block or its
    authorisation was tampered with."""
    if len(block.auth) < crypto.NONCE_BYTES:
        raise ForgeryError(f"entry {seq}: a key rotation without its authorisation")
    try:
        v = decode(crypto.decrypt(previous.auth_key, block.auth[:crypto.NONCE_BYTES],
                                  block.auth[crypto.NONCE_BYTES:], aad=encode([_AUTH_PURPOSE, seq])))
    except (DecryptionError, EncodingError):
        raise ForgeryError(f"entry {seq}: a key rotation's authorisation was tampered with") from None
    if not (isinstance(v, list) and len(v) == 3 and all(isinstance(x, bytes) for x in v)
            and len(v[0]) == 32):
        raise ForgeryError(f"entry {seq}: a malformed key rotation authorisation")
    author, removed, signature = v
    try:
        crypto.verify(VerifyKey(author), _AUTH_PURPOSE, encode([group, seq, block.digest, removed]), signature)
    except ForgeryError:
        raise ForgeryError(f"entry {seq}: the key rotation's authorisation is not for this key "
                           "block, group and position") from None
    return author, removed


def open_key_block(block: KeyBlock, previous: Generation, me: BoxPrivateKey) -> Generation:
    """The next generation from my box in ``block``.

    No box with my label: ``KeyWithheldError`` (the caller checks who authorised the
    block before believing it). A box with my label that does not open with my key was
    not made by an honest writer for this identity: ``ForgeryError``."""
    label = box_label(previous, me.public)
    for lab, box in block.boxes:
        if crypto.equal(lab, label):
            try:
                seed = crypto.open_sealed(me, block.ephemeral, box)
            except DecryptionError:
                raise ForgeryError("the key box labelled for this identity does not open: "
                                   "the key rotation was tampered with") from None
            if len(seed) != SEED_BYTES:
                raise ForgeryError("a sealed generation seed has the wrong size")
            return Generation(previous.number + 1, seed)
    raise KeyWithheldError("this identity was left out of a key rotation: it has been removed from the group")


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
