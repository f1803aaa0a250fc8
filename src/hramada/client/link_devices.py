"""The steps of device linking that touch a group's members and devices: certify a new
device with the member key, append its ``device-add``, list the seeds this device
holds, and, on the new device, fold a group's log with the seeds it was handed and
check that it was added (``docs/spec/devices.md`` §4–5).

The linking flows (:mod:`hramada.client.linking`, :mod:`hramada.client.link_join`)
reach the log only through these functions.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hramada.client.devices import device_infos
from hramada.client.transport import Relay
from hramada.core import crypto, suite2
from hramada.core.devices import MAX_DEVICES
from hramada.core.identity import CERT_PURPOSE, DeviceRecord, Identity, cert_message
from hramada.core.joining import walk_back_generations
from hramada.core.keys import Generation
from hramada.core.link_answers import GroupAnswer, LinkedDevice
from hramada.core.linking import SlotKeys
from hramada.core.names import names_collide
from hramada.core.state import GroupLog, Keyring
from hramada.errors import (DecryptionError, EncodingError, HramadaError, NotFoundError, PolicyError, RelayError,
                            VerificationError)

if TYPE_CHECKING:
    from hramada.client.api import Hramada
    from hramada.client.session import GroupSession

PAGE = 1000


def suite_of(s: GroupSession) -> int:
    """The group's suite (the ``s`` of its ``create`` entry)."""
    return s.log.suite


def member_seed(s: GroupSession) -> bytes:
    return s.identity.member.seed


def certify(s: GroupSession, name: str, slot: SlotKeys) -> DeviceRecord:
    """The device record of the new device's keys for this group, its cert signed with
    this member's key ``M``."""
    cert = crypto.sign(s.identity.member, CERT_PURPOSE,
                       cert_message(s.group_id, suite_of(s), s.member_id, slot.sign, slot.box, name))
    return DeviceRecord(name, slot.sign, slot.box, cert)


def recorded(s: GroupSession, sign: bytes) -> tuple[int, bytes] | None:
    """Where the log recorded device ``sign`` as a device of this member (seq, entry
    hash), or None."""
    d = s.log.devices.get(sign)
    if d is None or d.member != s.member_id:
        return None
    return d.since, s.log.hash_at(d.since)


def refusal(s: GroupSession, record: DeviceRecord) -> str | None:
    """The log's reason code if ``record`` could not become a device of this member now."""
    me = s.me
    if me is None:
        return "not-a-member"
    if record.sign in s.log.devices:
        return "device-key-taken"
    if any(names_collide(d.name, record.name) for d in me.devices.values()):
        return "device-name-taken"
    if len(me.devices) >= MAX_DEVICES:
        return "too-many-devices"
    return None


async def add_device(h: Hramada, s: GroupSession, record: DeviceRecord) -> tuple[int, bytes] | str:
    """Append the ``device-add`` of ``record`` (after a sync), or find it appended by an
    earlier attempt; returns (seq, entry hash), or the reason code the group refuses it with."""
    s = await h._synced(s.group_id.hex())
    done = recorded(s, record.sign)
    if done is not None:
        return done
    why = refusal(s, record)
    if why is not None:
        return why
    try:
        await h.add_device(s.group_id.hex(), record)
    except PolicyError:
        pass
    s = h._find(s.group_id.hex())
    return recorded(s, record.sign) or refusal(s, record) or "refused"


def held_seeds(s: GroupSession) -> list[tuple[int, int, bytes]]:
    """Every full generation seed this device holds, with the seq of the entry that made it."""
    return sorted((n, s.log.generations[n].start, g.seed) for n, g in s.keys.generations.items()
                  if g.full and n < len(s.log.generations))


def registry(h: Hramada) -> list[LinkedDevice]:
    """This member's current devices across the profile's active groups, matched by name."""
    by_name: dict[str, list[tuple[bytes, bytes]]] = {}
    names: dict[str, str] = {}
    for s in h._sessions():
        if s.status != "active" or s.me is None:
            continue
        for d in s.me.devices.values():
            key = d.name.casefold()
            names.setdefault(key, d.name)
            by_name.setdefault(key, []).append((s.group_id, d.id))
    return [LinkedDevice(names[k], tuple(v)) for k, v in sorted(by_name.items())]


# -- the new device -----------------------------------------------------------------

@dataclass(frozen=True, slots=True, repr=False)
class DeviceSecrets:
    """A new device's secrets in one group slot: its device key seed and box secret."""

    sign_seed: bytes
    box_secret: bytes
    suite: int

    def public(self) -> SlotKeys:
        sign = crypto.SigningKey.from_seed(self.sign_seed).public.raw
        if self.suite == 1:
            box = crypto.BoxPrivateKey.from_secret(self.box_secret).public.raw
        else:
            box = suite2.HybridPrivateKey.from_secret(self.box_secret).public.raw
        return SlotKeys(sign, box)


def identity(answer: GroupAnswer, device: DeviceSecrets, device_name: str) -> Identity:
    return Identity.from_secrets(answer.member_seed, device.sign_seed, device.box_secret, device_name)


async def fold_group(relay: Relay, answer: GroupAnswer, device: DeviceSecrets, device_name: str
                     ) -> tuple[GroupLog, Keyring, list]:
    """Read the group's whole log with the seeds of ``answer`` and fold it as the new
    device; check that the entry at ``answer.added`` is a ``device-add`` of exactly this
    device's record, added to the member whose key the answer hands over. Raises
    ``VerificationError`` if it is not."""
    me = identity(answer, device, device_name)
    gens = {n: Generation(n, seed) for n, _, seed in answer.seeds}
    mailbox = answer.ref.mailbox
    entries: list = []
    caps = [Generation(n, seed).relay_cap for n, _, seed in sorted(answer.seeds, reverse=True)]
    while True:
        page, head = await relay.read_log(mailbox, caps[0], len(entries), PAGE)
        entries.extend(page)
        if not page or len(entries) >= head[0]:
            break
    if [x.seq for x in entries] != list(range(1, len(entries) + 1)):
        raise VerificationError("the relay served the group's log out of order")
    try:
        lowest = min(gens)
        if lowest > 0:
            gens = {**walk_back_generations([(x.seq, x.ciphertext) for x in entries], gens[lowest]), **gens}
        log, keys = GroupLog(mailbox, answer.ref.group), Keyring(me.boxing, gens)
        for x in entries:
            log.apply(x.seq, x.prev, x.ciphertext, keys)
    except (DecryptionError, EncodingError) as exc:
        raise VerificationError(f"the group's log does not fold with the keys handed over ({exc})") from None
    seq, digest = answer.added
    d = log.devices.get(me.device_id)
    if (seq > log.head[0] or not crypto.equal(log.hash_at(seq), digest) or d is None
            or d.member != me.member_id or d.since != seq or d.name != device_name
            or d.box != device.public().box or me.member_id not in log.members):
        raise VerificationError("the group's log does not show this device added where the answer says")
    return log, keys, entries


def group_record(answer: GroupAnswer, device: DeviceSecrets, device_name: str, log: GroupLog,
                 keys: Keyring, numbering: dict) -> dict:
    """The stored record of a group this device now holds."""
    me = identity(answer, device, device_name)
    return {"group": answer.ref.group, "name": log.name or answer.ref.name, "relay": answer.ref.relay,
            "mailbox": answer.ref.mailbox, "me": answer.ref.member, "id": list(me.secrets()),
            "device": device_name, "gens": sorted(g.stored() for g in keys.generations.values()),
            "status": "active", "pin": [log.head[0], log.head[1]], "items": 0, "drops": 0,
            "item_seqs": numbering}


__all__ = ["certify", "add_device", "held_seeds", "registry", "DeviceSecrets", "fold_group", "group_record"]


# -- this member's devices across the profile -------------------------------------------

def list_id(name: str) -> str:
    """The short id ``hramada device list`` shows for a device: 8 hex digits of a keyed
    hash of its name, case-folded. A device's keys differ in every group; its name is
    the same (unique per member), so every device of the profile shows one id for it."""
    return hashlib.blake2b(unicodedata.normalize("NFC", name).casefold().encode(),
                           key=b"hramada:v2:device-list-id", digest_size=4).hexdigest()


async def my_devices(h: Hramada) -> list[dict]:
    """This member's current devices across the profile's active groups (synced first;
    a group out of reach is shown as stored), matched by name."""
    out: dict[str, dict] = {}
    for s in h._sessions():
        if s.status != "active":
            continue
        try:
            await h._sync(s)
        except RelayError:
            pass
        if s.status != "active":
            continue
        for d in device_infos(s):
            if not d.current:
                continue
            row = out.setdefault(d.name.casefold(), {"device": list_id(d.name), "name": d.name,
                                                     "current": False, "added": {}})
            row["current"] = row["current"] or d.me
            row["added"][s.name] = d.since
    return sorted(out.values(), key=lambda r: (not r["current"], r["name"].casefold()))


async def revoke_everywhere(h: Hramada, text: str) -> dict:
    """Revoke the device named ``text`` (its list id or its name) in every active group
    where it is a current device of this member; each group's key rotates in the same step."""
    wanted = text.strip()
    rows = [r for r in await my_devices(h) if r["device"] == wanted.lower() or r["name"].casefold() == wanted.casefold()]
    if not rows:
        raise NotFoundError(f"no device {text!r} of yours (see `hramada device list`)")
    row = rows[0]
    if row["current"]:
        raise PolicyError("this device cannot revoke itself: revoke it from another of your devices")
    revoked, failed = [], {}
    for s in h._sessions():
        if s.status != "active" or s.me is None:
            continue
        ids = [d.id for d in s.me.devices.values() if d.name.casefold() == row["name"].casefold()]
        if not ids:
            continue
        try:
            await h.revoke_devices(s.group_id.hex(), [ids[0].hex()])
            revoked.append(s.name)
        except (HramadaError, ValueError) as exc:
            failed[s.name] = str(exc)
    return {"device": row["device"], "name": row["name"], "revoked": revoked, "failed": failed}


def group_info(s: GroupSession) -> dict:
    """``hramada group info``: the group's settings and counts, its suite shown."""
    log = s.log
    return {"group": s.group_id.hex(), "name": s.name, "suite": log.suite, "history": log.history,
            "vouches": log.vouches_needed(), "generation": log.generation, "members": len(log.members),
            "devices": sum(len(m.devices) for m in log.members.values())}


__all__ = ["certify", "add_device", "held_seeds", "registry", "DeviceSecrets", "fold_group", "group_record",
           "list_id", "my_devices", "revoke_everywhere", "group_info"]
