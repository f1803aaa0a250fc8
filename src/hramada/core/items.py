"""Content items: bulletins and comments, encrypted, signed and numbered by their author.

An item's *author* is the device that signed it (its device id); readers show the
device's member. Numbers, chains and cut-offs are per device.

An item is ``inner = encode([v, [seq, hash], time, group, content])`` with
``content = encode([seq, prev, author, kind, body])`` (arrays: fixed positions, cheap
to check), signed by its author (``signed = signature(64) || inner``), padded to a size
bucket and encrypted under the content key of the generation in force at ``head``.

* ``head`` is the author's view of the log when they wrote it: a reader checks that its
  own log has the same hash at that position, which exposes a relay that shows
  different histories to different members.
* ``seq`` numbers each author's items 1, 2, 3, … in this group, so a reader sees a gap
  (an item the relay dropped), and a rotation can bind each author's last number as its
  item cut-off: an item numbered above it under the retired key is out of place.
* ``prev`` chains each author's items: the *link* of their previous item (``ZERO_LINK``
  before their first), where an item's link is a hash of its ``content``. A rotation
  binds each author's last number *and* its link, so every item at or below the bound
  must lie on the chain that ends there (:func:`chain_verdicts`): another item signed
  with such a number links nowhere. ``content`` leaves out the head and time, so an
  item sealed again under a new key (same number) keeps its link, and its id.
* ``time`` is the author's clock in milliseconds, ``0 ≤ time < 2**53``; informative only.

To the relay an item is the fixed binary envelope
``suite (1 byte) || generation (4 bytes, big-endian) || nonce (24) || aead(padded)``,
with ``"hramada:v1:item" || 0x00 || suite || generation`` as associated data, so the
suite and the generation are authenticated. ``padded = signed || 0x80 || 0x00…`` up to
:func:`padded_size` (Padmé buckets), so the relay learns an item's size only roughly.
An item's id is the first 16 bytes of its link, so duplicates (and a copy sealed again)
collapse and order of delivery does not matter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from hramada.core import crypto
from hramada.core.crypto import SigningKey, VerifyKey
from hramada.core.encoding import decode, encode_prechecked, expect
from hramada.core.keys import Generation
from hramada.core.names import WHITE_SPACE
from hramada.core.state import GroupLog
from hramada.errors import EncodingError, ForgeryError, ForkError

ITEM_KINDS = ("bulletin", "comment")
ITEM_ID_BYTES = 16
ITEM_VERSION = 3
MAX_TITLE_CHARS = 200
MAX_TEXT_CHARS = 20_000
MAX_ITEM_SEQ = 2**32 - 1   # an author's items are numbered 1 … MAX_ITEM_SEQ
MAX_TIME_MS = 2**53        # time is in milliseconds, 0 ≤ time < MAX_TIME_MS
MIN_PADDED = 512           # the smallest size bucket of a padded item
SIGN_PURPOSE = "hramada:v1:item"
_HEADER = 1 + 4 + crypto.NONCE_BYTES
_BLANK = "".join(sorted(WHITE_SPACE))  # a text of only these is empty (items.md §2)
_BODY_ORDER = ("text", "title", "parent")  # every body field (check_body), in canonical order
LINK_BYTES = 32
ZERO_LINK = bytes(LINK_BYTES)  # the ``prev`` of an author's first item
LINK_PURPOSE = "hramada:v1:item-link"


class NotYet(Exception):
    """The item refers to log entries this client has not seen yet; try after syncing.
    ``entry`` is the log position it needs (``None``: a key generation not yet reached)."""

    def __init__(self, entry: int | None = None) -> None:
        super().__init__("item ahead of this device's log")
        self.entry = entry


class Predates(Exception):
    """An item under a generation older than every key this device holds: written
    before its member's admission, in a group whose history policy keeps it from them.
    Not an alarm; there is nothing to show."""


class Stale(Exception):
    """A current member's item that reached the relay after its key was retired: its
    number is above its author's bound in the rotation that retired the key. Readers
    skip it; its author's client may post it again under the new key, once."""

    def __init__(self, item: "Item") -> None:
        super().__init__("item past its generation's cut-off")
        self.item = item


class PostedAfterRemoval(ForgeryError):
    """An item of a member who was removed (or left) before its key was retired,
    numbered past their bound in that rotation: refused on every device. It is signed
    by that member, so a client may void it (show it nowhere, say who wrote it)
    instead of stopping the group."""

    def __init__(self, message: str, author: bytes, seq: int) -> None:
        super().__init__(message)
        self.author, self.seq = author, seq


class Unlinked(PostedAfterRemoval):
    """An item numbered at its author's bound in a rotation whose link is not the one the
    rotation binds: its author signed another item with that number (items.md §3)."""


@dataclass(frozen=True, slots=True)
class Item:
    id: bytes
    kind: str
    author: bytes
    seq: int
    head: tuple[int, bytes]
    time: int
    body: dict
    generation: int
    prev: bytes = ZERO_LINK   # the link of the author's previous item
    link: bytes = ZERO_LINK   # this item's link (its id is the first 16 bytes)


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
    if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS or not text.strip(_BLANK):
        raise ValueError(f"a text must be 1 to {MAX_TEXT_CHARS} characters")
    return body


def item_link(content: bytes) -> bytes:
    """An item's link: the hash of its ``content`` (number, kind, body, ``prev``, author)."""
    return crypto.hash32(LINK_PURPOSE, content)


def padded_size(n: int) -> int:
    """The bucket for ``n`` bytes (the signed item plus its 0x80 marker): at least
    ``MIN_PADDED``; above it, Padmé — with ``e = floor(log2 n)`` and ``s = floor(log2 e) + 1``,
    round ``n`` up to a multiple of ``2**(e - s)`` (at most 12% more bytes)."""
    if n <= MIN_PADDED:
        return MIN_PADDED
    e = n.bit_length() - 1
    mask = (1 << (e - e.bit_length())) - 1
    return (n + mask) & ~mask


def pad(signed: bytes) -> bytes:
    size = padded_size(len(signed) + 1)
    return signed + b"\x80" + bytes(size - len(signed) - 1)


def unpad(padded: bytes) -> bytes:
    body = padded.rstrip(b"\x00")
    expect(body.endswith(b"\x80") and len(padded) == padded_size(len(body)), "item padding")
    return body[:-1]


def _aad(header: bytes) -> bytes:
    return b"hramada:v1:item\x00" + header


def seal_item(*, group: bytes, kind: str, body: dict, author: SigningKey, seq: int,
              head: tuple[int, bytes], time: int, generation: Generation,
              nonce: bytes, prev: bytes = ZERO_LINK) -> tuple[bytes, bytes]:
    """Returns (item id, relay ciphertext). ``seq`` is the author's number for this item
    (1 for their first in the group), ``prev`` the link of their item ``seq - 1``
    (``ZERO_LINK`` for the first); ``time`` is in milliseconds. :func:`seal_item_linked`
    returns the item's whole link in place of its id."""
    link, ct = seal_item_linked(group=group, kind=kind, body=body, author=author, seq=seq, head=head,
                                time=time, generation=generation, nonce=nonce, prev=prev)
    return link[:ITEM_ID_BYTES], ct


def seal_item_linked(*, group: bytes, kind: str, body: dict, author: SigningKey, seq: int,
                     head: tuple[int, bytes], time: int, generation: Generation,
                     nonce: bytes, prev: bytes = ZERO_LINK) -> tuple[bytes, bytes]:
    """:func:`seal_item`, returning the item's whole link (what its successor's ``prev``
    must be) in place of its id."""
    check_body(kind, body)
    if type(time) is not int or not 0 <= time < MAX_TIME_MS or type(seq) is not int \
            or not 1 <= seq <= MAX_ITEM_SEQ or type(head[0]) is not int or head[0] < 0 \
            or type(head[1]) is not bytes or type(group) is not bytes \
            or type(prev) is not bytes or len(prev) != LINK_BYTES or (seq == 1 and prev != ZERO_LINK):
        raise ValueError("bad item header")
    # every leaf is checked above and every map is built in canonical key order
    ordered_body = {k: body[k] for k in _BODY_ORDER if k in body}
    content = encode_prechecked([seq, prev, author.public.raw, kind, ordered_body])
    inner = encode_prechecked([ITEM_VERSION, [head[0], head[1]], time, group, content])
    signed = crypto.sign(author, SIGN_PURPOSE, inner) + inner
    header = bytes([crypto.SUITE]) + generation.number.to_bytes(4, "big")
    sealed = crypto.encrypt(generation.content_key, nonce, pad(signed), _aad(header))
    return item_link(content), header + nonce + sealed


def open_item(ciphertext: bytes, cursor: int, log: GroupLog,
              generations: Mapping[int, Generation]) -> Item:
    """Decrypt and verify one item against the group's log.

    Raises ``NotYet`` if the item's head is ahead of our log, ``ForkError`` if our log
    disagrees with the author's view, ``ForgeryError`` for a non-member, a removed
    member or one who left, numbered above their bound in the rotation that retired
    the item's key, ``Stale`` for a current member's item above that bound,
    ``DecryptionError`` or ``EncodingError`` for anything tampered.
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
        if generations and number < min(generations):
            raise Predates()
        raise ForgeryError(f"item at {cursor}: no key for generation {number}")
    padded = crypto.decrypt(gen.content_key, ciphertext[5:_HEADER], ciphertext[_HEADER:], _aad(ciphertext[:5]))
    signed = unpad(padded)
    expect(len(signed) > crypto.SIG_BYTES, "signed item")
    signature, inner = signed[:crypto.SIG_BYTES], signed[crypto.SIG_BYTES:]
    outer = decode(inner)
    expect(type(outer) is list and len(outer) == 5, "item")
    version, head, at, group, content = outer
    expect(type(version) is int and version == ITEM_VERSION and type(head) is list and type(at) is int
           and type(group) is bytes and type(content) is bytes, "item")
    fixed = decode(content)
    expect(type(fixed) is list and len(fixed) == 5, "item content")
    item_seq, prev, author, kind, body = fixed
    expect(type(item_seq) is int and type(prev) is bytes and type(author) is bytes and type(kind) is str
           and type(body) is dict, "item content")
    v = {"seq": item_seq, "prev": prev, "author": author, "kind": kind, "body": body, "time": at,
         "head": head, "group": group}
    expect(v["kind"] in ITEM_KINDS and len(v["author"]) == 32 and len(v["prev"]) == LINK_BYTES, "item")
    expect(1 <= v["seq"] <= MAX_ITEM_SEQ and (v["seq"] > 1 or v["prev"] == ZERO_LINK), "item (seq)")
    expect(0 <= v["time"] < MAX_TIME_MS, "item (time)")
    head = v["head"]
    expect(len(head) == 2 and isinstance(head[0], int) and isinstance(head[1], bytes)
           and head[0] >= 1, "item (head)")
    try:
        check_body(v["kind"], v["body"])
    except ValueError as exc:
        raise EncodingError(f"malformed item: {exc}") from None
    seq, seen = head
    if seq > len(log.hashes):  # first: a log that has not caught up cannot judge the rest
        raise NotYet(seq)
    if not crypto.equal(v["group"], log.group):
        raise ForgeryError(f"item at {cursor} belongs to another group")
    crypto.verify(VerifyKey(v["author"]), SIGN_PURPOSE, inner, signature)
    # Who signed it comes before what it claims about the log: only a device of a member
    # can raise a fork alarm, and the alarm names that member.
    found = log.device_at(v["author"], seq)
    if found is None:
        raise ForgeryError(f"item at {cursor} is signed by a device of someone who was not a member, "
                           "or by a device that was not current at its position")
    member, device = found
    if not crypto.equal(log.hash_at(seq), seen):
        raise ForkError(f"item at {cursor}, by {member.name}, was written against a different group "
                        f"history (entry {seq}): the relay is showing members different logs")
    if log.generation_at(seq) != gen.number:
        raise ForgeryError(f"item at {cursor} uses a key that was not in force at its log position")
    if device.last_item is not None and v["seq"] > device.last_item:
        raise PostedAfterRemoval(f"item {v['seq']} of {member.name} was posted after they left (their "
                                 f"leaving names item {device.last_item} as this device's last)",
                                 v["author"], v["seq"])
    link = item_link(content)
    item = Item(link[:ITEM_ID_BYTES], v["kind"], v["author"], v["seq"], (seq, seen), v["time"], v["body"],
                gen.number, v["prev"], link)
    info = log.generations[gen.number]
    if info.items_cutoff is not None and v["seq"] > info.items_cutoff.get(v["author"], 0):
        # numbered past its author's bound in the rotation that retired this key. Gone by
        # then: nothing of theirs may follow it. Gone only later: a race like anyone's,
        # the same verdict on every device.
        if device.until is not None and device.until <= info.end:
            raise PostedAfterRemoval(f"item {v['seq']} of {member.name} was posted after their removal "
                                     f"(the rotation that retired its key ends their items at "
                                     f"{info.items_cutoff.get(v['author'], 0)})", v["author"], v["seq"])
        raise Stale(item)
    if info.items_links is not None and v["seq"] == info.items_cutoff.get(v["author"]) \
            and not crypto.equal(link, info.items_links[v["author"]]):
        raise Unlinked(f"item {v['seq']} of {member.name} is not the one the rotation at entry {info.end} "
                       f"binds as their last: {member.name} signed another item with that number",
                       v["author"], v["seq"])
    return item


# -- chains: what lies at or below a rotation's bound ------------------------------------

@dataclass
class Chains:
    """What :func:`chain_verdicts` found. ``shown`` maps ``(author, number)`` to the link
    of the one item shown for it; ``refused`` lists ``(author, number, link)`` of items that
    link nowhere (their author signed another item with that number); ``waiting`` holds
    ``(author, link)`` of items below a number the chain has not reached yet (not shown
    until it has); ``missing`` lists ``(author, number)`` where the chain stops because
    no item with that number is held; ``twice`` lists ``(author, number)`` above every
    bound that carry two different items (equivocation: one is shown); ``disagree``
    lists ``(author, number)`` where two rotations bind different links, or the item
    after the highest bound names another link than the bound (either the author signed
    two items with that number, or an admin's device signed a wrong cut-off)."""

    shown: dict[tuple[bytes, int], bytes] = field(default_factory=dict)
    refused: list[tuple[bytes, int, bytes]] = field(default_factory=list)
    waiting: set[tuple[bytes, bytes]] = field(default_factory=set)
    missing: list[tuple[bytes, int]] = field(default_factory=list)
    twice: list[tuple[bytes, int]] = field(default_factory=list)
    disagree: list[tuple[bytes, int]] = field(default_factory=list)


def chain_verdicts(held: Iterable[tuple[bytes, int, bytes, bytes]],
                   anchors: Mapping[bytes, Iterable[tuple[int, bytes]]],
                   floors: Mapping[bytes, int] | None = None) -> Chains:
    """Judge a device's items against the links the rotations bind (items.md §3).

    ``held``: ``(author, number, link, prev)`` of every verified item (in the order
    received; repeats allowed). ``anchors``: per author, the ``(number, link)`` pairs
    bound by the rotations that retired generations the device reads. ``floors``: per
    author, the highest number the device never expects (its history starts later).

    From each author's highest bound down, an item with the expected link is on the
    chain and its ``prev`` is the next one expected; any other item with that number is
    refused. Where no item has the expected link the chain stops (the number is
    missing) until a lower bound takes it up again; items below are waiting. Above the
    highest bound, the first item received for a number is shown."""
    by: dict[bytes, dict[int, dict[bytes, bytes]]] = {}
    for author, number, link, prev in held:
        by.setdefault(author, {}).setdefault(number, {}).setdefault(link, prev)
    floors = floors or {}
    out = Chains()
    for author in by.keys() | anchors.keys():
        numbers = by.get(author, {})
        bound: dict[int, bytes] = {}
        for number, link in sorted(anchors.get(author, ())):
            if number in bound and bound[number] != link:
                out.disagree.append((author, number))
            bound.setdefault(number, link)
        top = max(bound, default=0)
        for number, links in numbers.items():
            if number > top:
                out.shown[(author, number)] = next(iter(links))
                if len(links) > 1:
                    out.twice.append((author, number))
        after = numbers.get(top + 1, {}) if top else {}
        if after and next(iter(after.values())) != bound[top]:  # the item after the bound names another
            out.disagree.append((author, top))
        expected: bytes | None = None
        floor, last = floors.get(author, 0), top + 1
        # only held numbers and bound numbers are visited: a bound may be huge
        for number in sorted({n for n in (*numbers, *bound) if floor < n <= top}, reverse=True):
            if expected is not None and number < last - 1:  # nothing held in between
                out.missing.append((author, last - 1))
                expected = None
            last = number
            anchor = bound.get(number)
            if anchor is not None:
                if expected is not None and expected != anchor:
                    out.disagree.append((author, number))
                expected = expected or anchor
            links = numbers.get(number, {})
            if expected is None:
                out.waiting.update((author, link) for link in links)
                continue
            out.refused.extend((author, number, link) for link in links if link != expected)
            if expected in links:
                out.shown[(author, number)] = expected
                expected = links[expected]
            else:
                out.missing.append((author, number))
                expected = None
        if expected is not None and last - 1 > floor:
            out.missing.append((author, last - 1))
    return out
