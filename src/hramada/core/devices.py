"""The devices of members: the rules of ``device-add``, the change a ``device-revoke``
makes, and which device of which member signed what (``log.md`` §5.12–5.13).

A mixin of :class:`hramada.core.state.GroupLog`. A member's devices are certified by
their member key in device records; every device ever recorded stays in
``GroupLog.devices`` (its ``until`` set once it is revoked or its member is gone), so
its keys stay unique in the group and its items stay attributable.

A ``device-revoke`` rotates the key: which devices it revokes and which device it adds
are named in its key block's authorisation (sealed under the old generation), so every
member, including a revoked device, knows them before any box opens. The change is
carried in the authorisation's *change* field: empty for no one, a member id for a
removal, else :func:`encode_revocation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hramada.core.encoding import decode, encode, expect, fields
from hramada.core.entries import Entry
from hramada.core.identity import DeviceRecord
from hramada.core.membership import Device, Member
from hramada.core.names import names_collide
from hramada.errors import EncodingError, ForgeryError

if TYPE_CHECKING:
    from hramada.core.state import Problem

MAX_DEVICES = 8  # current devices per member


@dataclass(frozen=True, slots=True)
class Revocation:
    """What a ``device-revoke`` changes: the revoked device ids (ascending) and the
    record of a device added in the same step, if any (as the entry carries it)."""

    devices: tuple[bytes, ...]
    add: dict | None = None


def encode_revocation(devices: list[bytes], add: dict | None = None) -> bytes:
    """The key block authorisation's change field for a ``device-revoke``."""
    value: dict = {"revoke": list(devices)}
    if add is not None:
        value["add"] = add
    return encode(value)


def decode_change(change: bytes) -> bytes | Revocation:
    """``b""`` (no one), a member id (a removal) or a :class:`Revocation`; raises
    ``EncodingError`` for anything else."""
    if len(change) in (0, 32):
        return change
    v = fields(decode(change), "key block change", {"revoke": list}, {"add": dict})
    ids = v["revoke"]
    expect(len(ids) >= 1 and all(type(d) is bytes and len(d) == 32 for d in ids)
           and all(a < b for a, b in zip(ids, ids[1:])), "key block change (devices)")
    return Revocation(tuple(ids), v.get("add"))


class DeviceRules:
    members: dict[bytes, Member]
    former: dict[bytes, Member]
    devices: dict[bytes, Device]
    group: bytes
    suite: int

    # _key_taken and _record_device come from AdmissionRules (membership.py)

    # -- views -------------------------------------------------------------------

    def device_at(self, device: bytes, seq: int) -> tuple[Member, Device] | None:
        """``(member, device)`` if ``device`` was a current device of a current member
        just after entry ``seq``."""
        d = self.devices.get(device)
        if d is None or d.since > seq or (d.until is not None and d.until <= seq):
            return None
        m = self.members.get(d.member) or self.former.get(d.member)
        if m is None or m.since > seq or (m.until is not None and m.until <= seq):
            return None
        return m, d

    def member_of(self, device: bytes) -> Member | None:
        """The member (current or former) a device ever recorded belongs to."""
        d = self.devices.get(device)
        if d is None:
            return None
        return self.members.get(d.member) or self.former.get(d.member)

    def current_boxes(self) -> dict[bytes, bytes]:
        """Every current device of every current member: device id → box public key."""
        return {d.id: d.box for m in self.members.values() for d in m.devices.values()}

    # -- device-add ----------------------------------------------------------------

    def _device_problem(self, member: Member, record: DeviceRecord, leaving: tuple[bytes, ...] = ()
                        ) -> Problem:
        """Why ``record`` cannot become a device of ``member`` now (``leaving``: devices
        that go in the same step), or None."""
        try:
            record.verify(member.key.id, self.group, self.suite)
        except ForgeryError:
            return "device-cert-invalid"
        taken = self._key_taken(record)
        if taken:
            return taken
        staying = [d for d in member.devices.values() if d.id not in leaving]
        for d in staying:
            if names_collide(d.name, record.name):
                return "device-name-taken", {"name": record.name, "like": d.name}
        if len(staying) >= MAX_DEVICES:
            return "too-many-devices", {"most": MAX_DEVICES}
        return None

    def _device_add(self, entry: Entry, author: Member) -> Problem:
        b = fields(entry.body, "device-add entry", {"device": dict})
        record = DeviceRecord.from_value(b["device"], self.suite, "device-add entry (device)")
        problem = self._device_problem(author, record)
        if problem:
            return problem
        self._record_device(author, record, entry.seq)
        return None

    # -- device-revoke ---------------------------------------------------------------

    def _revocation_target(self, change: Revocation, signer: Member, signer_device: bytes
                           ) -> tuple[Member, DeviceRecord | None]:
        """The member whose devices ``change`` revokes and the device it adds, if the
        revocation is allowed; raises ``PermissionError`` if the signer may not make it
        and ``ValueError`` if it is invalid (``log.md`` §5.13)."""
        owners = {self.devices[d].member if d in self.devices else None for d in change.devices}
        if len(owners) != 1 or None in owners:
            raise ValueError("the revoked devices are not devices of one member")
        target = self.members.get(owners.pop())  # type: ignore[arg-type]
        if target is None or any(d not in target.devices for d in change.devices):
            raise ValueError("a revoked device is not a current device of a current member")
        own = target is signer and signer_device not in change.devices
        if not own and signer.role != "admin":
            raise PermissionError("only another device of the member or an admin revokes a device")
        added = None
        if change.add is not None:
            try:
                added = DeviceRecord.from_value(change.add, self.suite, "device-revoke (add)")
            except EncodingError:
                raise ValueError("the added device record is malformed") from None
            if self._device_problem(target, added, change.devices):
                raise ValueError("the added device cannot join the member")
        if len(target.devices) - len(change.devices) + (added is not None) < 1:
            raise ValueError("the member would keep no device")
        return target, added

    def _apply_revocation(self, change: Revocation, target: Member, added: DeviceRecord | None,
                          by: bytes, seq: int) -> None:
        for d in change.devices:
            device = target.devices.pop(d)
            device.until, device.revoked_by = seq, by
        if added is not None:
            self._record_device(target, added, seq)

    def _end_devices(self, member: Member, seq: int) -> None:
        """A member who leaves or is removed takes every device along."""
        for device in member.devices.values():
            device.until = seq
        member.devices = {}
