"""Device linking: the link code, the new device's request and the linking device's
answers (``docs/spec/devices.md``).

Device A, which holds the profile, draws a 32-byte *link secret* and shows a link code:
the relay, a mailbox on it, the secret, the suites of the n groups it links (in order)
and an expiry. Everything else derives from the secret: a drop id and its capability
on the relay, the key of the request, and a binding that only holders of the secret
can put into an answer.

Device B reads the code and writes its *request* into the drop as guest messages: its
device name, a fresh suite-2 *link key*, and for each group slot a fresh device key set
(sign key and box key of that group's suite). A appends a ``device-add`` per group and
answers in the drop with member messages sealed to B's link key: per slot the group,
the member key's seed, where B was added and every seed A holds; then the profile's
name and its registry of devices.

Every drop message is exactly :data:`MESSAGE_BYTES` long, numbered "k of m" inside its
authenticated plaintext, and bound to the drop and the secret, so a relay can neither
read, reorder, splice nor silently shorten a link; it sees how many messages there are.

Nothing here draws randomness: secrets, nonces (``entropy``) and a suite-2 ``Sealer``
come in. Every refusal is a :class:`~hramada.core.textcode.Refused` with a code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import nacl.bindings as sodium

from hramada.core import crypto, suite2, textcode
from hramada.core.encoding import decode, encode
from hramada.core.names import NameRefused, check_name
from hramada.core.suite2 import HybridPrivateKey, HybridPublicKey, Sealer
from hramada.core.textcode import Refused
from hramada.core.urls import check_relay_url
from hramada.errors import DecryptionError, EncodingError

LINK_PREFIX = "hramada-link1-"
LINK_VERSION = 1
MAX_CODE_CHARS = 2048
MAX_GROUPS = 128             # groups one link carries: 128 suite-2 slots need 10 guest messages
MAX_RELAY_CHARS = 512
MESSAGE_BYTES = 16384        # every link message, request or answer: the relay's drop message limit
MAX_REQUEST_MESSAGES = 16    # the relay's guest messages per drop
MAX_ANSWER_MESSAGES = 256    # per answer (one group's, or the profile's)
MAX_DEVICES = 256            # entries of the profile's device registry
MAX_SEEDS = 65536            # generations in one group answer
REQUEST_FRAME = MESSAGE_BYTES - crypto.NONCE_BYTES - crypto.AEAD_TAG_BYTES      # 16,344
ANSWER_FRAME = MESSAGE_BYTES - suite2.BOX_OVERHEAD                              # 15,248
_FRAME_SLACK = 16  # array head, three small integers, a byte string head and the pad marker

CHECK = "hramada:v2:link-code-check"
DROP = "hramada:v2:link-drop"
DROP_CAP = "hramada:v2:link-drop-cap"
REQUEST_KEY = "hramada:v2:link-request-key"
REQUEST_AAD = "hramada:v2:link-request"
ANSWER_BINDING = "hramada:v2:link-answer"
NONCE = "hramada:v2:link-nonce"
CONFIRM = "hramada:v2:link-confirm"
SUITES = (1, 2)
BOX_BYTES = {1: 32, 2: suite2.PUBLIC_BYTES}


def _refuse(code: str, message: str, **params: object) -> Refused:
    return Refused(code, message, **params)


def checked_name(value: object, code: str, what: str) -> str:
    """``value`` if it is a valid name, else :class:`Refused` with ``code``."""
    try:
        return check_name(value)
    except NameRefused as exc:
        raise _refuse(code, f"{what} is not a valid name", reason=exc.code) from None


def _u63(v: object) -> bool:
    return type(v) is int and 0 <= v < 2**63


# -- the secret and the code ------------------------------------------------------

@dataclass(frozen=True, slots=True, repr=False)
class LinkSecret:
    """The 32 random bytes a link code carries; every key of the link derives from them
    with ``suite2.derive``."""

    secret: bytes

    def __post_init__(self) -> None:
        if type(self.secret) is not bytes or len(self.secret) != 32:
            raise ValueError("a link secret is 32 bytes")

    def _k(self, purpose: str) -> bytes:
        return suite2.derive(self.secret, purpose, 32)

    @property
    def drop_id(self) -> bytes:
        return self._k(DROP)[:16]

    @property
    def drop_cap(self) -> bytes:
        return self._k(DROP_CAP)

    @property
    def request_key(self) -> bytes:
        return self._k(REQUEST_KEY)

    @property
    def answer_info(self) -> bytes:
        """The HPKE ``info`` of every answer box: ``hybrid_info(device-link, b"",
        drop id || answer binding)``; a box sealed under any other opens nothing."""
        return suite2.hybrid_info(suite2.DEVICE_LINK, b"", self.drop_id + self._k(ANSWER_BINDING))

    def __repr__(self) -> str:
        return "LinkSecret(…)"


@dataclass(frozen=True, slots=True)
class LinkCode:
    """What device A shows device B. ``suites[i]`` is the suite of group slot ``i``;
    ``expires`` is in Unix seconds (the client compares it with its clock)."""

    relay: str
    mailbox: bytes
    secret: LinkSecret
    suites: tuple[int, ...]
    expires: int

    def __post_init__(self) -> None:
        try:
            relay = check_relay_url(self.relay)
        except ValueError as exc:
            raise _refuse("link-relay", f"the link's relay address cannot be used: {exc}") from None
        if len(relay) > MAX_RELAY_CHARS:
            raise _refuse("link-relay", "the link's relay address is too long")
        object.__setattr__(self, "relay", relay)
        if type(self.mailbox) is not bytes or len(self.mailbox) != 16:
            raise _refuse("link-malformed", "a mailbox id is 16 bytes", field="mailbox")
        if not isinstance(self.secret, LinkSecret):
            raise _refuse("link-malformed", "the secret must be a LinkSecret", field="secret")
        suites = tuple(self.suites) if isinstance(self.suites, (list, tuple)) else None
        if not suites:
            raise _refuse("link-no-groups", "a link carries at least one group")
        if len(suites) > MAX_GROUPS:
            raise _refuse("link-too-many-groups", f"a link carries at most {MAX_GROUPS} groups; "
                          "link the others with a second code", limit=MAX_GROUPS, count=len(suites))
        if any(type(s) is not int or s not in SUITES for s in suites):
            raise _refuse("link-suite", "every group's suite is 1 or 2")
        object.__setattr__(self, "suites", suites)
        if type(self.expires) is not int or not 0 < self.expires < 2**63:
            raise _refuse("link-expiry", "a link's expiry is a positive number of seconds since 1970")

    def payload(self) -> bytes:
        return encode([LINK_VERSION, self.relay, self.mailbox, self.secret.secret,
                       list(self.suites), self.expires])

    def to_text(self) -> str:
        return textcode.to_text(LINK_PREFIX, CHECK, self.payload())

    def to_qr(self) -> str:
        return textcode.qr_text(self.to_text())

    def check_fresh(self, now: int) -> None:
        """Refuse (``link-expired``) a code whose expiry has passed at ``now``."""
        if now >= self.expires:
            raise _refuse("link-expired", "this link code has expired; show a new one on the "
                          "linking device", expires=self.expires)

    @classmethod
    def from_text(cls, text: object) -> "LinkCode":
        raw = textcode.from_text(text, prefix=LINK_PREFIX, purpose=CHECK, max_chars=MAX_CODE_CHARS,
                                 what="link")
        try:
            v = decode(raw)
        except EncodingError:
            raise _refuse("link-malformed", "the link code is not valid", field="payload") from None
        if type(v) is not list or not v or type(v[0]) is not int:
            raise _refuse("link-malformed", "the link code is not valid", field="payload")
        if v[0] != LINK_VERSION:
            raise _refuse("link-version", "the link code is from another version of Hramada; "
                          "update both devices", version=v[0])
        if len(v) != 6:
            raise _refuse("link-malformed", "the link code is not valid", field="payload")
        _, relay, mailbox, secret, suites, expires = v
        if type(relay) is not str:
            raise _refuse("link-relay", "the link's relay address is not text")
        if type(secret) is not bytes or len(secret) != 32:
            raise _refuse("link-malformed", "the link code is not valid", field="secret")
        if type(suites) is not list:
            raise _refuse("link-malformed", "the link code is not valid", field="suites")
        return cls(relay, mailbox, LinkSecret(secret), tuple(suites), expires)


# -- the request (device B -> device A, guest messages) ----------------------------

@dataclass(frozen=True, slots=True)
class SlotKeys:
    """The public halves of one fresh device key set: the device's sign key (its device
    id) and its box key (32 bytes under suite 1, 1,216 under suite 2)."""

    sign: bytes
    box: bytes


@dataclass(frozen=True, slots=True)
class LinkRequest:
    name: str
    link: HybridPublicKey
    slots: tuple[SlotKeys, ...]


def _check_request(code: LinkCode, name: object, link: object, slots: object) -> LinkRequest:
    name = checked_name(name, "link-request-name", "the new device's name")
    if not isinstance(link, HybridPublicKey):
        raise _refuse("link-request-key", "the link key is not a suite-2 public key", slot=None, key="link")
    if not isinstance(slots, (list, tuple)) or len(slots) != len(code.suites):
        raise _refuse("link-request-slots", "the request has another number of groups than the code",
                      have=len(slots) if isinstance(slots, (list, tuple)) else None, need=len(code.suites))
    seen = {link.raw, link.x25519}
    for i, (slot, suite) in enumerate(zip(slots, code.suites)):
        if not isinstance(slot, SlotKeys) or type(slot.sign) is not bytes or type(slot.box) is not bytes:
            raise _refuse("link-request-malformed", "a slot is not a device key set", slot=i)
        if len(slot.sign) != 32 or not sodium.crypto_core_ed25519_is_valid_point(slot.sign):
            raise _refuse("link-request-key", "a device sign key is not a valid Ed25519 key", slot=i, key="sign")
        if len(slot.box) != BOX_BYTES[suite]:
            raise _refuse("link-request-key", f"a suite-{suite} box key is {BOX_BYTES[suite]} bytes",
                          slot=i, key="box")
        try:
            if suite == 1:
                crypto.BoxPublicKey(slot.box)
            else:
                HybridPublicKey(slot.box)
        except ValueError:
            raise _refuse("link-request-key", "a device box key is not a valid key", slot=i, key="box") from None
        x25519 = slot.box[-32:]
        if slot.sign in seen or slot.box in seen or x25519 in seen:
            # keys used twice would link the person's devices across groups
            raise _refuse("link-request-key-reused", "a key appears twice in the request", slot=i)
        seen.update((slot.sign, slot.box, x25519))
    return LinkRequest(name, link, tuple(slots))


def _split(payload: bytes, frame: int, limit: int) -> list[bytes]:
    size = frame - _FRAME_SLACK
    chunks = [payload[i:i + size] for i in range(0, len(payload), size)] or [b""]
    if len(chunks) > limit:
        raise _refuse("link-too-large", f"this takes more than {limit} messages", limit=limit)
    return chunks


def _pad_to(data: bytes, size: int) -> bytes:
    return data + b"\x80" + bytes(size - len(data) - 1)


def _unpad(data: bytes) -> bytes:
    body = data.rstrip(b"\x00")
    if not body or body[-1] != 0x80:
        raise EncodingError("malformed padding")
    return body[:-1]


def _request_aad(secret: LinkSecret) -> bytes:
    return encode([REQUEST_AAD, LINK_VERSION, secret.drop_id])


def _request_payload(req: LinkRequest) -> bytes:
    return encode({"v": LINK_VERSION, "name": req.name, "link": req.link.raw,
                   "slots": [[s.sign, s.box] for s in req.slots]})


def confirmation(code: LinkCode, request: LinkRequest) -> str:
    """Eight digits both devices show once A has read B's request, so the person can
    check that A is about to link *this* device and not another that saw the code:
    ``BLAKE2b-256(key = derive(secret, "hramada:v2:link-confirm"), payload)``, read as
    a big-endian integer, modulo 10^8, as ``"dddd dddd"``."""
    key = code.secret._k(CONFIRM)
    n = int.from_bytes(hashlib.blake2b(_request_payload(request), key=key, digest_size=32).digest(), "big")
    digits = f"{n % 10**8:08d}"
    return f"{digits[:4]} {digits[4:]}"


def make_link_request(code: LinkCode, name: str, link: HybridPublicKey, slots: list[SlotKeys],
                      entropy: bytes) -> list[bytes]:
    """B's request as guest messages, in order, each exactly :data:`MESSAGE_BYTES`.
    ``entropy`` is 32 fresh random bytes: the nonces derive from it, so a request sent
    again with other content never reuses a nonce. Send each message once; resend
    exactly these bytes after a failure."""
    if type(entropy) is not bytes or len(entropy) != 32:
        raise ValueError("entropy is 32 random bytes")
    req = _check_request(code, name, link, slots)
    chunks = _split(_request_payload(req), REQUEST_FRAME, MAX_REQUEST_MESSAGES)
    key, aad, out = code.secret.request_key, _request_aad(code.secret), []
    for k, chunk in enumerate(chunks):
        nonce = hashlib.blake2b(NONCE.encode() + bytes([k]), key=entropy, digest_size=crypto.NONCE_BYTES).digest()
        frame = _pad_to(encode([k, len(chunks), chunk]), REQUEST_FRAME)
        out.append(nonce + crypto.encrypt(key, nonce, frame, aad))
    return out


def _gather(frames: list[tuple[int, int, bytes]], limit: int, what: str) -> bytes | None:
    """Join the chunks of one numbered stream; None while parts are missing."""
    parts: dict[int, bytes] = {}
    total = None
    for k, m, chunk in frames:
        if not 1 <= m <= limit or not 0 <= k < m or (total is not None and m != total):
            raise _refuse(f"{what}-parts", "the messages do not agree on how many there are")
        total = m
        if k in parts and parts[k] != chunk:
            raise _refuse(f"{what}-conflict", "two different messages claim the same place", part=k)
        parts[k] = chunk
    if total is None or len(parts) < total:
        return None
    return b"".join(parts[k] for k in range(total))


def _frame(plain: bytes, what: str, index: int, width: int) -> list:
    try:
        v = decode(_unpad(plain))
    except EncodingError:
        raise _refuse(f"{what}-malformed", "a message opened but is not well formed", index=index) from None
    if (type(v) is not list or len(v) != width or any(type(x) is not int for x in v[:-1])
            or type(v[-1]) is not bytes):
        raise _refuse(f"{what}-malformed", "a message opened but is not well formed", index=index)
    return v


def read_link_request(code: LinkCode, messages: list[bytes]) -> LinkRequest:
    """A's reading of the guest messages of the link's drop (in any order, copies
    allowed). Raises :class:`LinkIncomplete` while parts are missing, and
    :class:`Refused` (``link-request-…``) for anything else wrong."""
    key, aad, frames = code.secret.request_key, _request_aad(code.secret), []
    for i, msg in enumerate(messages):
        if type(msg) is not bytes or len(msg) != MESSAGE_BYTES:
            raise _refuse("link-request-forged", "a message in the link's drop is not a link message", index=i)
        try:
            plain = crypto.decrypt(key, msg[:crypto.NONCE_BYTES], msg[crypto.NONCE_BYTES:], aad)
        except DecryptionError:
            raise _refuse("link-request-forged", "a message in the link's drop does not authenticate "
                          "under this link code", index=i) from None
        frames.append(tuple(_frame(plain, "link-request", i, 3)))
    joined = _gather(frames, MAX_REQUEST_MESSAGES, "link-request")
    if joined is None:
        raise LinkIncomplete("link-incomplete", "the new device's request has not fully arrived yet",
                             have=len({f[0] for f in frames}), need=frames[0][1] if frames else None)
    try:
        v = decode(joined)
    except EncodingError:
        raise _refuse("link-request-malformed", "the request is not well formed", index=None) from None
    if (type(v) is not dict or set(v) != {"v", "name", "link", "slots"} or v["v"] != LINK_VERSION
            or type(v["link"]) is not bytes or type(v["slots"]) is not list):
        raise _refuse("link-request-malformed", "the request is not well formed", index=None)
    try:
        link = HybridPublicKey(v["link"])
    except ValueError:
        raise _refuse("link-request-key", "the link key is not a valid suite-2 key", slot=None, key="link") from None
    slots = []
    for i, s in enumerate(v["slots"]):
        if type(s) is not list or len(s) != 2 or any(type(x) is not bytes for x in s):
            raise _refuse("link-request-malformed", "a slot is not a device key set", slot=i)
        slots.append(SlotKeys(s[0], s[1]))
    return _check_request(code, v["name"], link, slots)


class LinkIncomplete(Refused):
    """Not every message has arrived yet (``link-incomplete``, ``have``, ``need``): wait
    and read the drop again. Not an alarm."""


# -- the answers (device A -> device B, member messages) ---------------------------

@dataclass(frozen=True, slots=True)
class GroupRef:
    """Where a group lives and who the person is in it: what a device needs to find and
    join the group's log (also in the recovery kit)."""

    relay: str
    mailbox: bytes
    group: bytes
    name: str     # the group's name
    member: str   # the member's name in the group

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "relay", check_relay_url(self.relay))
        except ValueError as exc:
            raise _refuse("group-ref", f"a group's relay address cannot be used: {exc}", field="relay") from None
        for f in ("mailbox", "group"):
            if type(getattr(self, f)) is not bytes or len(getattr(self, f)) != 16:
                raise _refuse("group-ref", f"a group's {f} id is 16 bytes", field=f)
        checked_name(self.name, "group-ref", "a group's name")
        checked_name(self.member, "group-ref", "a member's name")

    def value(self) -> list:
        return [self.relay, self.mailbox, self.group, self.name, self.member]

    @classmethod
    def from_value(cls, v: object) -> "GroupRef":
        if type(v) is not list or len(v) != 5 or type(v[0]) is not str:
            raise _refuse("group-ref", "a group reference is not well formed", field=None)
        return cls(*v)


@dataclass(frozen=True, slots=True)
class GroupAnswer:
    """One group, for slot ``slot``: the group, ``M``'s seed, the ``device-add`` entry
    that added B (seq, hash) and every full seed A holds as ``(generation, seq of the
    entry that made it, seed)``, ascending."""

    slot: int
    ref: GroupRef
    member_seed: bytes
    added: tuple[int, bytes]
    seeds: tuple[tuple[int, int, bytes], ...]

    def __post_init__(self) -> None:
        bad = _refuse("link-answer-malformed", "a group answer is not well formed", slot=self.slot)
        if not _u63(self.slot) or not isinstance(self.ref, GroupRef):
            raise bad
        if type(self.member_seed) is not bytes or len(self.member_seed) != 32:
            raise bad
        a = self.added
        if (not isinstance(a, (list, tuple)) or len(a) != 2 or not _u63(a[0]) or a[0] < 2
                or type(a[1]) is not bytes or len(a[1]) != 32):
            raise bad
        seeds = tuple(tuple(s) if isinstance(s, (list, tuple)) else s for s in self.seeds)
        if not seeds or len(seeds) > MAX_SEEDS or any(
                type(s) is not tuple or len(s) != 3 or not _u63(s[0]) or not _u63(s[1]) or s[1] < 1
                or type(s[2]) is not bytes or len(s[2]) != 32 for s in seeds):
            raise bad
        if any(b[0] <= a_[0] or b[1] <= a_[1] for a_, b in zip(seeds, seeds[1:])):
            raise bad
        object.__setattr__(self, "added", (a[0], a[1]))
        object.__setattr__(self, "seeds", seeds)

    def value(self) -> dict:
        return {"v": LINK_VERSION, "slot": self.slot, "ref": self.ref.value(), "seed": self.member_seed,
                "added": list(self.added), "seeds": [list(s) for s in self.seeds]}


@dataclass(frozen=True, slots=True)
class LinkedDevice:
    """One of the member's devices in the profile's registry: its name and, per group,
    its device id there (``(group id, device id)`` pairs)."""

    name: str
    ids: tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True, slots=True)
class ProfileAnswer:
    name: str
    devices: tuple[LinkedDevice, ...]

    def __post_init__(self) -> None:
        checked_name(self.name, "link-answer-malformed", "the profile's name")
        devices = tuple(self.devices)
        if len(devices) > MAX_DEVICES:
            raise _refuse("link-answer-malformed", "the device registry is too long", slot=None)
        for d in devices:
            if not isinstance(d, LinkedDevice):
                raise _refuse("link-answer-malformed", "a device entry is not well formed", slot=None)
            checked_name(d.name, "link-answer-malformed", "a device's name")
            ids = tuple(tuple(p) if isinstance(p, (list, tuple)) else p for p in d.ids)
            if len(ids) > 4096 or any(type(p) is not tuple or len(p) != 2 or type(p[0]) is not bytes
                                      or len(p[0]) != 16 or type(p[1]) is not bytes or len(p[1]) != 32
                                      for p in ids):
                raise _refuse("link-answer-malformed", "a device entry is not well formed", slot=None)
            object.__setattr__(d, "ids", ids)
        object.__setattr__(self, "devices", devices)

    def value(self) -> dict:
        return {"v": LINK_VERSION, "name": self.name,
                "devices": [{"name": d.name, "ids": [list(p) for p in d.ids]} for d in self.devices]}


def _seal_stream(sealer: Sealer, code: LinkCode, link: HybridPublicKey, stream: int,
                 payload: bytes) -> list[bytes]:
    chunks = _split(payload, ANSWER_FRAME, MAX_ANSWER_MESSAGES)
    info, out = code.secret.answer_info, []
    for k, chunk in enumerate(chunks):
        frame = _pad_to(encode([stream, k, len(chunks), chunk]), ANSWER_FRAME)
        out.extend(suite2.seal_many(sealer, [link], info, frame))
    return out


def make_group_answer(sealer: Sealer, code: LinkCode, link: HybridPublicKey,
                      answer: GroupAnswer) -> list[bytes]:
    """A's answer for one group, as member messages of exactly :data:`MESSAGE_BYTES`."""
    if answer.slot >= len(code.suites):
        raise _refuse("link-answer-slot", "the code has no such group slot", slot=answer.slot)
    return _seal_stream(sealer, code, link, answer.slot, encode(answer.value()))


def make_profile_answer(sealer: Sealer, code: LinkCode, link: HybridPublicKey,
                        answer: ProfileAnswer) -> list[bytes]:
    """The profile's name and device registry, sent as stream ``n`` (after the groups)."""
    return _seal_stream(sealer, code, link, len(code.suites), encode(answer.value()))


@dataclass(frozen=True, slots=True)
class Answers:
    """What has arrived so far: ``groups`` by slot, and the profile."""

    groups: dict[int, GroupAnswer]
    profile: ProfileAnswer | None
    slots: int

    @property
    def complete(self) -> bool:
        return self.profile is not None and len(self.groups) == self.slots


def _group_answer(slot: int, payload: bytes) -> GroupAnswer:
    bad = _refuse("link-answer-malformed", "a group answer is not well formed", slot=slot)
    try:
        v = decode(payload)
    except EncodingError:
        raise bad from None
    if type(v) is not dict or set(v) != {"v", "slot", "ref", "seed", "added", "seeds"} or v["v"] != LINK_VERSION:
        raise bad
    if v["slot"] != slot:
        raise _refuse("link-answer-slot", "a group answer names another slot than its messages", slot=slot)
    if type(v["added"]) is not list or type(v["seeds"]) is not list:
        raise bad
    try:
        ref = GroupRef.from_value(v["ref"])
    except Refused:
        raise bad from None
    return GroupAnswer(slot, ref, v["seed"], tuple(v["added"]), tuple(v["seeds"]))


def _profile_answer(payload: bytes) -> ProfileAnswer:
    bad = _refuse("link-answer-malformed", "the profile answer is not well formed", slot=None)
    try:
        v = decode(payload)
    except EncodingError:
        raise bad from None
    if (type(v) is not dict or set(v) != {"v", "name", "devices"} or v["v"] != LINK_VERSION
            or type(v["devices"]) is not list):
        raise bad
    devices = []
    for d in v["devices"]:
        if type(d) is not dict or set(d) != {"name", "ids"} or type(d["ids"]) is not list:
            raise bad
        devices.append(LinkedDevice(d["name"], tuple(d["ids"])))
    return ProfileAnswer(v["name"], tuple(devices))


def read_answers(code: LinkCode, link_key: HybridPrivateKey, messages: list[bytes]) -> Answers:
    """B's reading of the member messages of the link's drop (any order, copies
    allowed): every message must open under B's link key and this link's binding, or
    the whole reading is refused (``link-answer-forged``)."""
    info, n = code.secret.answer_info, len(code.suites)
    streams: dict[int, list[tuple[int, int, bytes]]] = {}
    for i, msg in enumerate(messages):
        if type(msg) is not bytes or len(msg) != MESSAGE_BYTES:
            raise _refuse("link-answer-forged", "a message in the link's drop is not a link answer", index=i)
        try:
            plain = suite2.open_box(link_key, info, msg)
        except DecryptionError:
            raise _refuse("link-answer-forged", "a message in the link's drop does not open with "
                          "this device's link key", index=i) from None
        stream, k, m, chunk = _frame(plain, "link-answer", i, 4)
        if not 0 <= stream <= n:
            raise _refuse("link-answer-slot", "an answer for a group slot the code does not have", slot=stream)
        streams.setdefault(stream, []).append((k, m, chunk))
    groups, profile = {}, None
    for stream, frames in sorted(streams.items()):
        joined = _gather(frames, MAX_ANSWER_MESSAGES, "link-answer")
        if joined is None:
            continue
        if stream == n:
            profile = _profile_answer(joined)
        else:
            groups[stream] = _group_answer(stream, joined)
    return Answers(groups, profile, n)


__all__ = ["LinkCode", "LinkSecret", "LinkRequest", "SlotKeys", "LinkIncomplete", "GroupRef",
           "GroupAnswer", "LinkedDevice", "ProfileAnswer", "Answers", "make_link_request",
           "read_link_request", "confirmation", "make_group_answer", "make_profile_answer", "read_answers",
           "Refused"]
