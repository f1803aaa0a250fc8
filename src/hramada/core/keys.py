"""Key generations: one random seed per generation, every other key derived from it.

Generation 0 is made with the group. Every rotation (and every removal, which is a
rotation) makes generation ``g + 1``: a fresh seed, sealed to each remaining member in
a *key block* that travels beside the rotating log entry, plus the previous seed
encrypted under a key derived from the new one, so that members — and newcomers who
were only given the newest seed — can walk back to every older generation.

The log commits to each generation (``commitment(seed)``) in a signed entry; a client
checks every seed it opens against that commitment before using it.
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


@dataclass(frozen=True, repr=False)
class Generation:
    """The keys of one generation, all derived from its seed."""

    number: int
    seed: bytes

    def __post_init__(self) -> None:
        if len(self.seed) != SEED_BYTES:
            raise ValueError("a generation seed is 32 bytes")

    @cached_property
    def commitment(self) -> bytes:
        return commitment(self.seed)

    @cached_property
    def log_key(self) -> bytes:
        return crypto.derive_key(self.seed, "hramada:v1:log-key")

    @cached_property
    def content_key(self) -> bytes:
        return crypto.derive_key(self.seed, "hramada:v1:content-key")

    @cached_property
    def append_key(self) -> SigningKey:
        """Signs every entry appended while this generation is in force (``log.md`` §2),
        so that readers — and the relay — can tell an entry a holder of the generation
        wrote from one the relay made up."""
        return SigningKey.from_seed(crypto.derive_key(self.seed, "hramada:v1:entry-append"))

    @cached_property
    def relay_cap(self) -> bytes:
        """The bearer capability for the group's mailbox during this generation: a
        32-byte secret followed by the generation's append public key (64 bytes)."""
        return crypto.derive_key(self.seed, "hramada:v1:relay-cap") + self.append_key.public.raw

    @cached_property
    def label_key(self) -> bytes:
        return crypto.derive_key(self.seed, "hramada:v1:box-label")

    @cached_property
    def auth_key(self) -> bytes:
        """Seals who authorised the key block leaving this generation."""
        return crypto.derive_key(self.seed, "hramada:v1:key-block-auth")

    @cached_property
    def back_key(self) -> bytes:
        """Encrypts exactly one message: the previous generation's seed."""
        return crypto.derive_key(self.seed, "hramada:v1:prev-seed-key")

    def __repr__(self) -> str:
        return f"Generation({self.number})"


def commitment(seed: bytes) -> bytes:
    return crypto.hash32("hramada:v1:seed-commit", seed)


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
    back: bytes
    auth: bytes = b""

    def _core(self) -> dict:
        return {"e": self.ephemeral, "b": [[lab, box] for lab, box in self.boxes], "p": self.back}

    def to_value(self) -> dict:
        return {**self._core(), "a": self.auth}

    @classmethod
    def from_value(cls, value: object) -> "KeyBlock":
        v = fields(value, "key block", {"e": bytes, "b": list, "p": bytes, "a": bytes})
        expect(len(v["e"]) == 32, "key block (ephemeral key)")
        pairs = []
        for pair in v["b"]:
            expect(isinstance(pair, list) and len(pair) == 2
                   and isinstance(pair[0], bytes) and len(pair[0]) == LABEL_BYTES
                   and isinstance(pair[1], bytes), "key block (box)")
            pairs.append((pair[0], pair[1]))
        return cls(v["e"], tuple(pairs), v["p"], v["a"])

    @property
    def digest(self) -> bytes:
        """What the signed rotation entry and the authorisation commit to (all but ``a``)."""
        return crypto.hash32("hramada:v1:key-block", encode(self._core()))

    @property
    def labels(self) -> set[bytes]:
        return {lab for lab, _ in self.boxes}


def make_key_block(previous: Generation, new: Generation, recipients: list[BoxPublicKey],
                   ephemeral_secret: bytes, *, author: SigningKey, group: bytes, seq: int,
                   auth_nonce: bytes, removed: bytes = b"") -> KeyBlock:
    """Seal ``new`` to every recipient, ``previous`` under ``new``, and ``author``'s
    signature over the block (for entry ``seq`` of ``group``, removing the member
    ``removed``, or no one if empty) under ``previous``."""
    if removed and len(removed) != 32:
        raise ValueError("removed must be a member id or empty")
    if new.number != previous.number + 1:
        raise ValueError("a key block goes from one generation to the next")
    epk, boxes = crypto.seal_many(recipients, ephemeral_secret, new.seed)
    labels = [box_label(previous, r) for r in recipients]
    back = crypto.encrypt(new.back_key, _ZERO_NONCE, previous.seed,
                          aad=encode(["hramada:v1:prev-seed", previous.number]))
    block = KeyBlock(epk, tuple(zip(labels, boxes)), back)
    signature = crypto.sign(author, _AUTH_PURPOSE, encode([group, seq, block.digest, removed]))
    sealed = crypto.encrypt(previous.auth_key, auth_nonce, encode([author.public.raw, removed, signature]),
                            aad=encode([_AUTH_PURPOSE, seq]))
    return KeyBlock(epk, block.boxes, back, auth_nonce + sealed)


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
            and len(v[0]) == 32 and len(v[1]) in (0, 32)):
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
    """The generation before ``new``, from the key block that made ``new``."""
    seed = crypto.decrypt(new.back_key, _ZERO_NONCE, block.back,
                          aad=encode(["hramada:v1:prev-seed", new.number - 1]))
    if len(seed) != SEED_BYTES:
        raise ForgeryError("a previous generation seed has the wrong size")
    return Generation(new.number - 1, seed)


def decode_key_block(data: bytes) -> KeyBlock:
    return KeyBlock.from_value(decode(data))
