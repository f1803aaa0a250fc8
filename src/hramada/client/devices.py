"""This member's devices in a group: list them, record a new one, revoke some.

A member's devices all hold the member key; each has its own device keys and is
recorded in the log (``device-add``, or with the member's admission or creation). A
``device-add`` does not rotate the key: the device that links a new one hands it the
seeds it holds (the linking protocol, elsewhere). Revoking devices rotates the key in
the same entry (``device-revoke``): the revoked devices read nothing written after it.
"""

from __future__ import annotations

from hramada.client.loaded import LoadedGroups
from hramada.client.numbering import Numbering
from hramada.client.session import GroupSession
from hramada.client.views import DeviceInfo
from hramada.core.devices import MAX_DEVICES
from hramada.core.identity import DeviceRecord
from hramada.errors import ForgeryError, NotFoundError, PolicyError


def device_infos(s: GroupSession) -> list[DeviceInfo]:
    """Every device this member ever had in the group, in the order they were recorded."""
    mine = s.member_id
    return [DeviceInfo(d.id.hex(), d.name, d.record.fingerprint, d.since,
                       d.until is None and mine in s.log.members, d.id == s.device_id, d.until)
            for d in s.log.devices.values() if d.member == mine]


def leaving_items(s: GroupSession) -> list[list]:
    """A ``leave`` entry's ``items``: the last item number of each of this member's
    devices, ascending by device — this device's own count, the others' as far as this
    device has verified them (log.md §5.7)."""
    verified = Numbering(s.record.get("item_seqs", {})).cutoff()
    mine = {d.id for d in s.log.devices.values() if d.member == s.member_id}
    counts = {d: n for d, (n, _) in verified.items() if d in mine}
    counts[s.device_id] = s.record.get("next_item", 1) - 1
    return [[d, n] for d, n in sorted(counts.items())]


class DeviceCommands(LoadedGroups):
    async def devices(self, group: str) -> list[DeviceInfo]:
        """This member's devices in ``group`` (after a sync)."""
        s = await self._synced(group)
        s.require_active()
        return device_infos(s)

    async def add_device(self, group: str, record: DeviceRecord) -> DeviceInfo:
        """Append a ``device-add`` for ``record``, a device record certified by this
        member's key for this group. The new device holds no key yet: whoever links it
        hands it the seeds."""
        s = await self._synced(group)
        s.require_active()
        try:
            record.verify(s.member_id, s.group_id, s.log.suite)
        except ForgeryError:
            raise ValueError("this device record is not certified by your member key for this group") from None

        def check() -> None:
            me = s.me
            if me is None:
                raise PolicyError(f"you are no longer a member of {s.name!r}")
            if record.sign in s.log.devices:
                raise PolicyError("this device is already recorded in the group")
            if len(me.devices) >= MAX_DEVICES:
                raise PolicyError(f"a member has at most {MAX_DEVICES} devices in a group: revoke one first")
            if any(d.name.casefold() == record.name.casefold() for d in me.devices.values()):
                raise PolicyError(f"you already have a device called {record.name!r} here")
        check()
        await self._engine(s).append("device-add", {"device": record.to_value()}, check)
        if record.sign not in s.log.devices or s.log.devices[record.sign].member != s.member_id:
            raise PolicyError("the group did not take the device (see `hramada group info`)")
        return next(d for d in device_infos(s) if d.device == record.sign.hex())

    async def revoke_devices(self, group: str, devices: list[str], *, member: str | None = None) -> dict:
        """Revoke devices (ids in hex, or names) of this member in ``group`` — or, for an
        admin, of the member ``member`` (a name or fingerprint), e.g. a member who lost a
        phone and is not an admin — rotating the key in the same entry: they read nothing
        written after it. The member keeps at least one device."""
        s = await self._synced(group)
        me = s.require_role("admin", "member", "newcomer")
        owner = s.find_member(member) if member is not None else me
        ids = sorted({self._device_of(s, owner.key.id, text) for text in devices})
        if not ids:
            raise ValueError("name at least one device to revoke")
        if s.device_id in ids:
            raise PolicyError("this device cannot revoke itself: revoke it from another of your devices")
        if me.role != "admin":
            raise PolicyError("the relay takes a key rotation only from an admin's device: ask an admin "
                              "to revoke the device (`hramada device revoke DEVICE --member NAME`)")
        if len(owner.devices) <= len(ids):
            raise PolicyError(f"{owner.name} would have no device left: remove the member instead, "
                              "or recover them onto a new device")

        def check() -> None:
            holder = s.log.members.get(owner.key.id)
            current = holder.devices if holder is not None else {}
            for d in ids:
                if d not in current:
                    raise PolicyError(f"device {d.hex()[:16]} is no longer a device of {owner.name}")
        await self._engine(s).rotate(revoke=ids, check=check)
        return {"revoked": [d.hex() for d in ids], "member": owner.name, "generation": s.log.generation}

    @staticmethod
    def _device_of(s: GroupSession, member: bytes, text: str) -> bytes:
        holder = s.log.members.get(member)
        current = holder.devices.values() if holder is not None else []
        wanted = text.strip().lower()
        found = [d for d in current if d.id.hex() == wanted or d.name.casefold() == text.strip().casefold()
                 or (len(wanted) >= 8 and d.id.hex().startswith(wanted))]
        if len(found) != 1:
            whose = "of yours" if member == s.member_id else f"of {holder.name}" if holder else ""
            raise NotFoundError(f"no single current device {text!r} {whose} in {s.name!r}")
        return found[0].id
