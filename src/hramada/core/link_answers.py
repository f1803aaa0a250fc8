"""Device linking, the answers: what device A sends device B once it has added B's
devices (``docs/spec/devices.md`` §5), and the group reference the recovery kit
shares.

Per group slot, A seals to B's link key (suite 2, a ``Sealer`` passed in) the group,
the member key's seed, where B was added and every seed A holds; then the profile's
name and its registry of devices. Each is a *stream* of numbered parts, each part one
drop message of exactly ``MESSAGE_BYTES``, under an HPKE ``info`` that carries a
binding derived from the link secret: only a holder of the secret makes an answer B
opens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hramada.core import suite2
from hramada.core.encoding import decode, encode
from hramada.core.linking import (LINK_VERSION, MESSAGE_BYTES, SHORT_BYTES, LinkCode, checked_name,
                                  gather_parts, is_int, pad_frame, read_frame, refuse, split_payload, u63)
from hramada.core.suite2 import HybridPrivateKey, HybridPublicKey, Sealer
from hramada.core.textcode import Refused
from hramada.core.urls import check_relay_url
from hramada.errors import DecryptionError, EncodingError

MAX_ANSWER_MESSAGES = 256    # per answer (one group's, or the profile's)
MAX_DEVICES = 256            # entries of the profile's device registry
MAX_SEEDS = 65536            # generations in one group answer
ANSWER_FRAME = MESSAGE_BYTES - suite2.BOX_OVERHEAD                              # 15,248
_REASON = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


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
            raise refuse("group-ref", f"a group's relay address cannot be used: {exc}", field="relay") from None
        for f in ("mailbox", "group"):
            if type(getattr(self, f)) is not bytes or len(getattr(self, f)) != 16:
                raise refuse("group-ref", f"a group's {f} id is 16 bytes", field=f)
        checked_name(self.name, "group-ref", "a group's name")
        checked_name(self.member, "group-ref", "a member's name")

    def value(self) -> list:
        return [self.relay, self.mailbox, self.group, self.name, self.member]

    @classmethod
    def from_value(cls, v: object) -> "GroupRef":
        if type(v) is not list or len(v) != 5 or type(v[0]) is not str:
            raise refuse("group-ref", "a group reference is not well formed", field=None)
        return cls(*v)


@dataclass(frozen=True, slots=True, repr=False)
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
        bad = refuse("link-answer-malformed", "a group answer is not well formed", slot=self.slot)
        if not u63(self.slot) or not isinstance(self.ref, GroupRef):
            raise bad
        if type(self.member_seed) is not bytes or len(self.member_seed) != 32:
            raise bad
        a = self.added
        if (not isinstance(a, (list, tuple)) or len(a) != 2 or not u63(a[0]) or a[0] < 2
                or type(a[1]) is not bytes or len(a[1]) != 32):
            raise bad
        seeds = tuple(tuple(s) if isinstance(s, (list, tuple)) else s for s in self.seeds)
        if not seeds or len(seeds) > MAX_SEEDS or any(
                type(s) is not tuple or len(s) != 3 or not u63(s[0]) or not u63(s[1]) or s[1] < 1
                or type(s[2]) is not bytes or len(s[2]) != 32 for s in seeds):
            raise bad
        if any(b[0] <= a_[0] or b[1] <= a_[1] for a_, b in zip(seeds, seeds[1:])):
            raise bad
        object.__setattr__(self, "added", (a[0], a[1]))
        object.__setattr__(self, "seeds", seeds)

    def __repr__(self) -> str:
        return f"GroupAnswer(slot={self.slot}, group={self.ref.name!r}, generations={len(self.seeds)})"

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
            raise refuse("link-answer-malformed", "the device registry is too long", slot=None)
        for d in devices:
            if not isinstance(d, LinkedDevice):
                raise refuse("link-answer-malformed", "a device entry is not well formed", slot=None)
            checked_name(d.name, "link-answer-malformed", "a device's name")
            ids = tuple(tuple(p) if isinstance(p, (list, tuple)) else p for p in d.ids)
            if len(ids) > 4096 or any(type(p) is not tuple or len(p) != 2 or type(p[0]) is not bytes
                                      or len(p[0]) != 16 or type(p[1]) is not bytes or len(p[1]) != 32
                                      for p in ids):
                raise refuse("link-answer-malformed", "a device entry is not well formed", slot=None)
            object.__setattr__(d, "ids", ids)
        object.__setattr__(self, "devices", devices)

    def value(self) -> dict:
        return {"v": LINK_VERSION, "name": self.name,
                "devices": [{"name": d.name, "ids": [list(p) for p in d.ids]} for d in self.devices]}


def _seal_stream(sealer: Sealer, code: LinkCode, link: HybridPublicKey, stream: int,
                 payload: bytes) -> list[bytes]:
    chunks = split_payload(payload, ANSWER_FRAME, MAX_ANSWER_MESSAGES)
    info, out = code.secret.answer_info, []
    for k, chunk in enumerate(chunks):
        frame = pad_frame(encode([stream, k, len(chunks), chunk]), ANSWER_FRAME)
        out.extend(suite2.seal_many(sealer, [link], info, frame))
    return out


def make_group_answer(sealer: Sealer, code: LinkCode, link: HybridPublicKey,
                      answer: GroupAnswer) -> list[bytes]:
    """A's answer for one group, as member messages of exactly :data:`MESSAGE_BYTES`."""
    if answer.slot >= len(code.suites):
        raise refuse("link-answer-slot", "the code has no such group slot", slot=answer.slot)
    return _seal_stream(sealer, code, link, answer.slot, encode(answer.value()))


def make_group_refusal(sealer: Sealer, code: LinkCode, link: HybridPublicKey, slot: int,
                       reason: str) -> list[bytes]:
    """A's word that it will not answer slot ``slot`` — its ``device-add`` was ignored
    (``reason``: the log's reason code, e.g. ``too-many-devices``), or the person
    declined — so that B does not wait for it."""
    if not u63(slot) or slot >= len(code.suites):
        raise refuse("link-answer-slot", "the code has no such group slot", slot=slot)
    if type(reason) is not str or len(reason) > 64 or not _REASON.fullmatch(reason):
        raise ValueError("a reason is a reason code: lower-case words joined by '-'")
    return _seal_stream(sealer, code, link, slot, encode({"v": LINK_VERSION, "slot": slot, "refused": reason}))


def make_profile_answer(sealer: Sealer, code: LinkCode, link: HybridPublicKey,
                        answer: ProfileAnswer) -> list[bytes]:
    """The profile's name and device registry, sent as stream ``n`` (after the groups)."""
    return _seal_stream(sealer, code, link, len(code.suites), encode(answer.value()))


@dataclass(frozen=True, slots=True)
class Answers:
    """What has arrived so far: ``groups`` by slot, the slots A will not answer
    (``refused``: slot → reason code), and the profile."""

    groups: dict[int, GroupAnswer]
    refused: dict[int, str]
    profile: ProfileAnswer | None
    slots: int

    @property
    def complete(self) -> bool:
        return self.profile is not None and len(self.groups) + len(self.refused) == self.slots


def _group_answer(slot: int, payload: bytes) -> GroupAnswer | str:
    bad = refuse("link-answer-malformed", "a group answer is not well formed", slot=slot)
    try:
        v = decode(payload)
    except EncodingError:
        raise bad from None
    if type(v) is not dict or not is_int(v.get("v"), LINK_VERSION) or type(v.get("slot")) is not int:
        raise bad
    if v["slot"] != slot:
        raise refuse("link-answer-slot", "a group answer names another slot than its messages", slot=slot)
    if set(v) == {"v", "slot", "refused"}:
        if type(v["refused"]) is not str or len(v["refused"]) > 64 or not _REASON.fullmatch(v["refused"]):
            raise bad
        return v["refused"]
    if set(v) != {"v", "slot", "ref", "seed", "added", "seeds"}:
        raise bad
    if type(v["added"]) is not list or type(v["seeds"]) is not list:
        raise bad
    try:
        ref = GroupRef.from_value(v["ref"])
    except Refused:
        raise bad from None
    return GroupAnswer(slot, ref, v["seed"], tuple(v["added"]), tuple(v["seeds"]))


def _profile_answer(payload: bytes) -> ProfileAnswer:
    bad = refuse("link-answer-malformed", "the profile answer is not well formed", slot=None)
    try:
        v = decode(payload)
    except EncodingError:
        raise bad from None
    if (type(v) is not dict or set(v) != {"v", "name", "devices"} or not is_int(v["v"], LINK_VERSION)
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
        if type(msg) is bytes and len(msg) == SHORT_BYTES:
            continue  # A's challenge: linking.read_challenge
        if type(msg) is not bytes or len(msg) != MESSAGE_BYTES:
            raise refuse("link-answer-forged", "a message in the link's drop is not a link answer", index=i)
        try:
            plain = suite2.open_box(link_key, info, msg)
        except DecryptionError:
            raise refuse("link-answer-forged", "a message in the link's drop does not open with "
                          "this device's link key", index=i) from None
        stream, k, m, chunk = read_frame(plain, "link-answer", i, 4)
        if not 0 <= stream <= n:
            raise refuse("link-answer-slot", "an answer for a group slot the code does not have", slot=stream)
        streams.setdefault(stream, []).append((k, m, chunk))
    groups, refused, profile = {}, {}, None
    for stream, frames in sorted(streams.items()):
        joined = gather_parts(frames, MAX_ANSWER_MESSAGES, "link-answer")
        if joined is None:
            continue
        if stream == n:
            profile = _profile_answer(joined)
            continue
        answer = _group_answer(stream, joined)
        if isinstance(answer, str):
            refused[stream] = answer
        else:
            groups[stream] = answer
    return Answers(groups, refused, profile, n)


__all__ = ["GroupRef", "GroupAnswer", "LinkedDevice", "ProfileAnswer", "Answers", "make_group_answer",
           "make_group_refusal", "make_profile_answer", "read_answers"]
