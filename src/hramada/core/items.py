"""Content items: bulletins and comments, encrypted and signed.

An item is ``inner = encode({"v", "group", "kind", "author", "head": [seq, hash], "time", "body"})``,
signed by its author (``signed = signature(64) || inner``) and encrypted under the content
key of the generation in force at ``head``. ``head`` is the author's view of the log when they wrote it: a reader checks
that its own log has the same hash at that position, which exposes a relay that shows
different histories to different members.

To the relay an item is the fixed binary envelope
``suite (1 byte) || generation (4 bytes, big-endian) || nonce (24) || aead(signed)``,
with ``"hramada:v1:item" || 0x00 || suite || generation`` as associated data. (Items are the bulk
of a group's data; a fixed layout keeps their cost close to the raw cryptography.)
An item's id is a hash of its signed bytes, so duplicates collapse and order of delivery
does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass

from hramada.core import crypto
from hramada.core.crypto import SigningKey, VerifyKey
from hramada.core.encoding import decode, encode_prechecked, expect, fields
from hramada.core.keys import Generation
from hramada.core.state import GroupLog
from hramada.errors import EncodingError, ForgeryError, ForkError

ITEM_KINDS = ("bulletin", "comment")
ITEM_ID_BYTES = 16
MAX_TITLE_CHARS = 200
MAX_TEXT_CHARS = 20_000
SIGN_PURPOSE = "hramada:v1:item"
_HEADER = 1 + 4 + crypto.NONCE_BYTES
_ITEM_FIELDS = {"v": int, "group": bytes, "kind": str, "author": bytes, "head": list, "time": int,
                "body": dict}


class NotYet(Exception):
    """The item refers to log entries this client has not seen yet; try after syncing."""


class Stale(Exception):
    """A current member's item that reached the relay after its key was retired.
    Readers skip it; its author's client posts it again under the new key."""

    def __init__(self, item: "Item") -> None:
        super().__init__("item past its generation's cut-off")
        self.item = item


@dataclass(frozen=True, slots=True)
class Item:
    id: bytes
    kind: str
    author: bytes
    head: tuple[int, bytes]
    time: int
    body: dict
    generation: int


def check_body(kind: str, body: dict) -> dict:
    """Validate an item body; raise ValueError with a message for the user."""
    if kind == "bulletin":
        title, text = body.get("title", ""), body.get("text")
        if set(body) - {"title", "text"}:
            raise ValueError("a bulletin has a title and a text only")
        if not isinstance(title, str) or len(title) > MAX_TITLE_CHARS:
            raise ValueError(f"a title is at most {MAX_TITLE_CHARS} characters")
    elif kind == "comment":
        text = body.get("text")
        if set(body) != {"parent", "text"}:
            raise ValueError("a comment names its parent item and has a text")
        if not isinstance(body["parent"], bytes) or len(body["parent"]) != ITEM_ID_BYTES:
            raise ValueError("a comment's parent must be an item id")
    else:
        raise ValueError(f"unknown item kind {kind!r}")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"a text must be 1 to {MAX_TEXT_CHARS} characters")
    return body


def item_id(signed: bytes) -> bytes:
    return crypto.hash32("hramada:v1:item-id", signed)[:ITEM_ID_BYTES]


def _aad(header: bytes) -> bytes:
    return b"hramada:v1:item\x00" + header


def seal_item(*, group: bytes, kind: str, body: dict, author: SigningKey,
              head: tuple[int, bytes], time: int, generation: Generation,
              nonce: bytes) -> tuple[bytes, bytes]:
    """Returns (item id, relay ciphertext)."""
    check_body(kind, body)
    if type(time) is not int or not 0 <= time < 2**63 or type(head[0]) is not int or head[0] < 0 \
            or type(head[1]) is not bytes or type(group) is not bytes:
        raise ValueError("bad item header")
    # every leaf is checked above and every map is built in canonical key order
    ordered_body = {k: body[k] for k in sorted(body, key=lambda k: (len(k), k))}
    inner = encode_prechecked({"v": 1, "body": ordered_body, "head": [head[0], head[1]], "kind": kind,
                               "time": time, "group": group, "author": author.public.raw})
    signed = crypto.sign(author, SIGN_PURPOSE, inner) + inner
    header = bytes([crypto.SUITE]) + generation.number.to_bytes(4, "big")
    sealed = crypto.encrypt(generation.content_key, nonce, signed, _aad(header))
    return item_id(signed), header + nonce + sealed


def open_item(ciphertext: bytes, cursor: int, log: GroupLog,
              generations: dict[int, Generation]) -> Item:
    """Decrypt and verify one item against the group's log.

    Raises ``NotYet`` if the item's head is ahead of our log, ``ForkError`` if our log
    disagrees with the author's view, ``ForgeryError`` for a non-member, a removed
    member or an item past its generation's cut-off, ``DecryptionError`` or
    ``EncodingError`` for anything tampered.
    """
    expect(isinstance(ciphertext, bytes) and len(ciphertext) > _HEADER + crypto.AEAD_TAG_BYTES,
           "item envelope")
    if ciphertext[0] != crypto.SUITE:
        raise EncodingError(f"unknown cipher suite {ciphertext[0]}")
    number = int.from_bytes(ciphertext[1:5], "big")
    gen = generations.get(number)
    if gen is None:
        if number > log.generation:
            raise NotYet()
        raise ForgeryError(f"item at {cursor}: no key for generation {number}")
    signed = crypto.decrypt(gen.content_key, ciphertext[5:_HEADER], ciphertext[_HEADER:], _aad(ciphertext[:5]))
    expect(len(signed) > crypto.SIG_BYTES, "signed item")
    signature, inner = signed[:crypto.SIG_BYTES], signed[crypto.SIG_BYTES:]
    v = fields(decode(inner), "item", _ITEM_FIELDS)
    expect(v["v"] == 1 and v["kind"] in ITEM_KINDS and len(v["author"]) == 32, "item")
    head = v["head"]
    expect(len(head) == 2 and isinstance(head[0], int) and isinstance(head[1], bytes)
           and head[0] >= 1, "item (head)")
    try:
        check_body(v["kind"], v["body"])
    except ValueError as exc:
        raise EncodingError(f"malformed item: {exc}") from None
    seq, seen = head
    if seq > len(log.hashes):  # first: a log that has not caught up cannot judge the rest
        raise NotYet()
    if not crypto.equal(v["group"], log.group):
        raise ForgeryError(f"item at {cursor} belongs to another group")
    crypto.verify(VerifyKey(v["author"]), SIGN_PURPOSE, inner, signature)
    if not crypto.equal(log.hash_at(seq), seen):
        raise ForkError(f"item at {cursor} was written against a different group history "
                        f"(entry {seq}): the relay is showing members different logs")
    if log.generation_at(seq) != gen.number:
        raise ForgeryError(f"item at {cursor} uses a key that was not in force at its log position")
    member = log.member_at(v["author"], seq)
    if member is None:
        raise ForgeryError(f"item at {cursor} is signed by someone who was not a member")
    item = Item(item_id(signed), v["kind"], v["author"], (seq, seen), v["time"], v["body"], gen.number)
    info = log.generations[gen.number]
    if info.items_cutoff is not None and cursor > info.items_cutoff:
        # gone by the time this generation was retired: nothing of theirs may follow its
        # cut-off. Gone only later: a race like anyone's, the same verdict on every device.
        if member.until is not None and member.until <= info.end:
            raise ForgeryError(f"item at {cursor} was posted by {member.name} after their removal")
        raise Stale(item)
    return item
