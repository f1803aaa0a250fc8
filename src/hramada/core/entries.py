"""Log entries: how one entry is built, signed, encrypted, and opened again.

To the relay an entry is ``{seq, prev, ciphertext}``. The ciphertext is the
*envelope* followed by its *append signature* (``wire.sign_append``), made with the
append key of the generation in force: a relay cannot make one, so an entry that
carries a valid one was written by a holder of the group's key. The envelope is
``encode({"s": suite, "n": nonce, "c": aead, "k"?: key block})``; the AEAD opens (under
the log key of the entry's generation, with the suite and position as associated
data) to the *signed entry* ``encode([inner, signature])`` where ``inner`` is
``encode({"v": 2, "s": suite, "group", "seq", "prev", "kind", "author", "device", "body"})``,
signed by the device key ``device`` of the member ``author``. Kinds, authors, devices,
names and roles exist only inside the AEAD.
"""

from __future__ import annotations

from dataclasses import dataclass

from hramada.core import crypto, wire
from hramada.core.crypto import SigningKey, VerifyKey
from hramada.core.encoding import Value, decode, encode, expect, fields
from hramada.core.keys import Generation, KeyBlock
from hramada.errors import EncodingError, VerificationError

VERSION = 2
GROUP_ID_BYTES = 16
SUITES = (1, 2)  # the cipher suites an envelope may name; a group uses the one of its ``create``
KINDS = ("create", "invite", "request", "vouch", "admit", "remove", "leave", "role",
         "policy", "rotate", "revoke", "device-add", "device-revoke")
ROTATING_KINDS = ("remove", "rotate", "device-revoke")
SIGN_PURPOSE = "hramada:v1:log-entry"


@dataclass(frozen=True, slots=True)
class Envelope:
    """The relay-visible ciphertext of an entry, parsed (nothing decrypted yet)."""

    nonce: bytes
    sealed: bytes
    key_block: KeyBlock | None
    suite: int = crypto.SUITE

    @classmethod
    def parse(cls, ciphertext: bytes) -> "Envelope":
        v = fields(decode(ciphertext), "entry envelope",
                   {"s": int, "n": bytes, "c": bytes}, {"k": dict})
        if v["s"] not in SUITES:
            raise EncodingError(f"unknown cipher suite {v['s']}")
        expect(len(v["n"]) == crypto.NONCE_BYTES, "entry envelope (nonce)")
        block = KeyBlock.from_value(v["k"]) if "k" in v else None
        if block is not None and block.suite != v["s"]:
            raise EncodingError("an entry's key block is of another cipher suite than its envelope")
        return cls(v["n"], v["c"], block, v["s"])

    def to_bytes(self) -> bytes:
        value: dict[str, Value] = {"s": self.suite, "n": self.nonce, "c": self.sealed}
        if self.key_block is not None:
            value["k"] = self.key_block.to_value()
        return encode(value)


@dataclass(frozen=True, slots=True)
class Entry:
    """A decrypted entry (its signature checked by the group state, against ``device``).
    ``author`` is the member id, ``device`` the id of the member's device that signed."""

    seq: int
    prev: bytes
    kind: str
    author: bytes
    body: dict
    group: bytes
    inner: bytes  # the signed bytes, kept for computing the group id of ``create``
    device: bytes = b""
    suite: int = crypto.SUITE


def _aad(seq: int, suite: int) -> bytes:
    return encode(["hramada:v1:log-entry", suite, seq])


def seal_entry(*, mailbox: bytes, group: bytes, seq: int, prev: bytes, kind: str, body: dict,
               author: bytes, device: SigningKey, generation: Generation, nonce: bytes,
               key_block: KeyBlock | None = None, in_force: Generation | None = None,
               suite: int = crypto.SUITE) -> bytes:
    """Build the relay ciphertext of one entry by the member ``author`` (member id),
    signed by their device key ``device``.

    ``generation`` is the generation the entry is encrypted under: the one in force,
    or for a rotating entry the new one (its seed travels in ``key_block``); then
    ``in_force`` is the one in force, whose append key signs it.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown entry kind {kind!r}")
    if type(author) is not bytes or len(author) != 32:
        raise ValueError("an entry's author is a member id")
    inner = encode({"v": VERSION, "s": suite, "group": group, "seq": seq, "prev": prev,
                    "kind": kind, "author": author, "device": device.public.raw, "body": body})
    signed = encode([inner, crypto.sign(device, SIGN_PURPOSE, inner)])
    sealed = crypto.encrypt(generation.log_key, nonce, crypto.pad(signed), _aad(seq, suite))
    envelope = Envelope(nonce, sealed, key_block, suite).to_bytes()
    return wire.sign_append((in_force or generation).append_key, mailbox, seq, prev, envelope)


def envelope_bytes(ciphertext: bytes) -> bytes:
    """The envelope part of a relay ciphertext (its append signature not checked)."""
    return ciphertext[:-wire.APPEND_SIG_BYTES]


def open_entry(envelope: Envelope, seq: int, generation: Generation) -> tuple[Entry, bytes]:
    """Decrypt an envelope and parse it; returns the entry and its signature.

    The signature is *not* checked here: only the group state knows which key the
    author must have (see :func:`verify_signature`).
    """
    signed = crypto.unpad(crypto.decrypt(generation.log_key, envelope.nonce, envelope.sealed,
                                         _aad(seq, envelope.suite)))
    outer = decode(signed)
    expect(isinstance(outer, list) and len(outer) == 2 and isinstance(outer[0], bytes)
           and isinstance(outer[1], bytes), "signed entry")
    inner, signature = outer
    v = fields(decode(inner), "entry",
               {"v": int, "s": int, "group": bytes, "seq": int, "prev": bytes, "kind": str,
                "author": bytes, "device": bytes, "body": dict})
    if v["v"] != VERSION:
        raise EncodingError(f"unknown entry version {v['v']}")
    if v["s"] != envelope.suite:
        raise EncodingError(f"entry signed for another cipher suite ({v['s']})")
    expect(v["kind"] in KINDS, "entry (kind)")
    expect(len(v["author"]) == 32 and len(v["device"]) == 32, "entry (author)")
    entry = Entry(v["seq"], v["prev"], v["kind"], v["author"], v["body"], v["group"], inner,
                  v["device"], v["s"])
    return entry, signature


def verify_signature(entry: Entry, signature: bytes) -> None:
    """Raise ``ForgeryError`` unless the entry's device key signed it."""
    crypto.verify(VerifyKey(entry.device), SIGN_PURPOSE, entry.inner, signature)


def check_position(entry: Entry, seq: int, prev: bytes) -> None:
    """The signed position must be the position the relay served it at."""
    if entry.seq != seq or not crypto.equal(entry.prev, prev):
        raise VerificationError(
            f"entry {seq}: its signed position does not match where the relay put it")


def group_id_of(create: Entry) -> bytes:
    """A group's id is a hash of its signed ``create`` entry, so no one can swap it."""
    return crypto.hash32("hramada:v1:group-id", create.inner)[:GROUP_ID_BYTES]
