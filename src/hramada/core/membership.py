"""Who is in a group and how they got there: the member, invitation and join-request
records of the group state, and the rules of the entries that admit people
(``log.md`` §5.2–5.5: invite, revoke, request, vouch, admit).

A mixin of :class:`hramada.core.state.GroupLog`: each rule reads and changes the group
state and returns ``None`` when the entry applies, else why it is ignored (a reason
code of ``state.IGNORED_REASONS``, or ``(code, parameters)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hramada.core import crypto
from hramada.core.crypto import VerifyKey
from hramada.core.encoding import expect, fields
from hramada.core.entries import Entry
from hramada.core.identity import DeviceRecord, MemberKey
from hramada.core.invitation import peek_invite_id, verify_join_request
from hramada.core.names import names_collide
from hramada.errors import EncodingError, ForgeryError

if TYPE_CHECKING:
    from hramada.core.state import Problem

VOUCHING_ROLES = ("admin", "member")


@dataclass
class Device:
    """A device of a member, as the log recorded it (``device-add``, ``create``, an
    admission or a recovery)."""

    record: DeviceRecord
    member: bytes           # the member id it belongs to
    since: int              # seq of the entry that recorded it
    until: int | None = None  # seq of the entry that revoked it, removed or ended its member
    last_item: int | None = None  # for a member who left: its last item number, signed in `leave`
    revoked_by: bytes | None = None  # the member whose device revoked it (device-revoke)

    @property
    def id(self) -> bytes:
        return self.record.sign

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def box(self) -> bytes:
        return self.record.box


@dataclass
class Member:
    name: str
    key: MemberKey
    role: str
    since: int              # seq of the entry that made them a member
    until: int | None = None  # seq of the entry that ended it
    request: bytes | None = None  # the join request that admitted them
    vouchers: tuple[bytes, ...] = ()
    relay: bytes = b""      # their relay-admin key: the relay's admin set is that of the admins
    devices: dict[bytes, Device] = field(default_factory=dict)  # current devices, by device id


@dataclass
class Invite:
    id: bytes
    sign: VerifyKey
    box_key: bytes
    drop: bytes
    by: bytes
    seq: int
    expires: int = 0              # Unix time the inviter's client set; enforced where a clock is
    request: bytes | None = None  # the request that used it
    revoked: int | None = None    # seq of the entry that revoked it (or removed its author)

    @property
    def status(self) -> str:
        """``used``, ``revoked`` or ``open`` (expiry needs a clock: see the client)."""
        return "used" if self.request is not None else "revoked" if self.revoked is not None else "open"


@dataclass
class Request:
    id: bytes
    name: str
    key: MemberKey
    device: DeviceRecord  # the joining device
    invite: bytes
    seq: int
    posted_by: bytes
    relay: bytes = b""  # the joiner's relay-admin key
    vouches: list[bytes] = field(default_factory=list)
    status: str = "pending"  # pending | admitted


class AdmissionRules:
    members: dict[bytes, Member]
    former: dict[bytes, Member]
    invites: dict[bytes, Invite]
    requests: dict[bytes, Request]
    group: bytes
    suite: int
    history: str
    devices: dict[bytes, Device]
    _rotating_admit: int

    def vouches_needed(self) -> int:  # provided by GroupLog
        raise NotImplementedError

    def valid_vouches(self, request: Request) -> list[bytes]:  # provided by GroupLog
        raise NotImplementedError

    def _invite(self, entry: Entry, author: Member) -> Problem:
        b = fields(entry.body, "invite entry", {"invite": bytes, "sign": bytes, "key": bytes, "drop": bytes,
                                                "expires": int})
        expect(len(b["invite"]) == 16 and len(b["sign"]) == 32 and len(b["key"]) == 32
               and len(b["drop"]) == 16 and b["expires"] >= 0, "invite entry")
        if author.role not in VOUCHING_ROLES:
            return "newcomer-cannot-invite"
        if b["invite"] in self.invites:
            return "invite-exists"
        self.invites[b["invite"]] = Invite(b["invite"], VerifyKey(b["sign"]), b["key"], b["drop"],
                                           entry.author, entry.seq, b["expires"])
        return None

    def _revoke(self, entry: Entry, author: Member) -> Problem:
        b = fields(entry.body, "revoke entry", {"invite": bytes})
        invite = self.invites.get(b["invite"])
        if invite is None:
            return "no-such-invite"
        if author.role != "admin" and entry.author != invite.by:
            return "not-inviter-or-admin"
        if invite.status != "open":
            return "invite-" + invite.status, {}
        invite.revoked = entry.seq
        return None

    def _revoke_invites_of(self, member: bytes, seq: int) -> None:
        """A member who leaves or is removed takes their unused invitations along."""
        for invite in self.invites.values():
            if invite.by == member and invite.status == "open":
                invite.revoked = seq

    def name_taken(self, name: str, *, request: bytes | None = None) -> str | None:
        """The member or pending requester (other than ``request``) whose name ``name``
        equals or imitates, if any (``core.names``)."""
        for m in self.members.values():
            if names_collide(m.name, name):
                return m.name
        for r in self.requests.values():
            if r.status == "pending" and r.id != request and names_collide(r.name, name):
                return r.name
        return None
    def _request(self, entry: Entry, author: Member) -> Problem:
        b = fields(entry.body, "request entry", {"request": bytes})
        invite = self.invites.get(peek_invite_id(b["request"]))
        if invite is None:
            return "no-such-invite"
        try:
            req = verify_join_request(b["request"], self.group, invite.sign, self.suite)
        except (ForgeryError, EncodingError) as exc:
            return "request-invalid", {"error": "forged" if isinstance(exc, ForgeryError) else "malformed"}
        if req.id in self.requests:
            return "request-exists"
        if invite.request is not None:
            return "invite-used"
        if invite.revoked is not None:
            return "invite-revoked"
        taken = self.name_taken(req.name)
        if taken is not None:
            return "name-taken", {"name": req.name, "like": taken}
        if req.key.id in self.members:
            return "already-member"
        if req.key.id in self.former:
            return "former-member"
        taken_key = self._key_taken(req.device, req.relay)
        if taken_key:
            return taken_key
        invite.request = req.id
        self.requests[req.id] = Request(req.id, req.name, req.key, req.device, invite.id, entry.seq,
                                        entry.author, req.relay)
        return None

    def _vouch(self, entry: Entry, author: Member) -> Problem:
        b = fields(entry.body, "vouch entry", {"request": bytes})
        req = self.requests.get(b["request"])
        if req is None or req.status != "pending":
            return "no-such-request"
        if author.role not in VOUCHING_ROLES:
            return "newcomer-cannot-vouch"
        if entry.author in req.vouches:
            return "already-vouched"
        req.vouches.append(entry.author)
        return None

    def _admit(self, entry: Entry, author: Member) -> Problem:
        rotation = {"commit": bytes, "cap": bytes, "keys": bytes, "items": list}
        b = fields(entry.body, "admit entry", {"request": bytes, "role": str},
                   rotation if self._rotating_admit == entry.seq else None)
        if self.history == "since-join" and self._rotating_admit != entry.seq:
            return "admit-needs-rotation"
        req = self.requests.get(b["request"])
        if req is None or req.status != "pending":
            return "no-such-request"
        if author.role != "admin":
            return "not-admin"
        if b["role"] not in ("member", "newcomer"):
            return "bad-role"
        have, need = len(self.valid_vouches(req)), self.vouches_needed()
        if have < need:
            return "vouches-missing", {"have": have, "need": need}
        if req.key.id in self.members or req.key.id in self.former:
            return "former-member"
        taken_key = self._key_taken(req.device, req.relay)
        if taken_key:
            return taken_key
        taken = self.name_taken(req.name, request=req.id)
        if taken is not None:
            return "name-taken", {"name": req.name, "like": taken}
        req.status = "admitted"
        member = Member(req.name, req.key, b["role"], since=entry.seq, request=req.id,
                        vouchers=tuple(self.valid_vouches(req)), relay=req.relay)
        self.members[req.key.id] = member
        self._record_device(member, req.device, entry.seq)
        return None

    def _record_device(self, member: Member, record: DeviceRecord, seq: int) -> Device:
        device = Device(record, member.key.id, since=seq)
        member.devices[record.sign] = device
        self.devices[record.sign] = device
        return device

    def _key_taken(self, device: DeviceRecord, relay: bytes | None = None) -> str | None:
        """Device keys, box keys and relay-admin keys are unique in a group, over every
        device and member ever recorded: box keys label each device's share of a new
        key, device keys name a device's items and entries; a relay-admin key two
        members shared would keep a demoted admin in the relay's admin set while the
        other is an admin."""
        for d in self.devices.values():
            if crypto.equal(d.id, device.sign):
                return "device-key-taken"
            if crypto.equal(d.box, device.box):
                return "box-key-taken"
        if relay is not None:
            for m in (*self.members.values(), *self.former.values()):
                if crypto.equal(m.relay, relay):
                    return "relay-key-taken"
        return None
