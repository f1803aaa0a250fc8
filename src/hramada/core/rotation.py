"""The checks of a key rotation that every member makes alike, before anyone opens a
box (``keys.md`` §4, ``log.md`` §4 step 6′), and what a rotation means for this device.

A mixin of :class:`hramada.core.state.GroupLog`: it reads the group state (members,
roles, the generation in force) and changes nothing. What fails here in a way every
member sees alike raises :class:`Void`; only what is this device's own (its removal,
its own key box) raises a ``KeyWithheldError`` or ``ForgeryError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hramada.core import crypto
from hramada.core.devices import Revocation, decode_change
from hramada.core.identity import DeviceRecord
from hramada.core.crypto import BoxPublicKey
from hramada.core.suite2 import HybridPublicKey
from hramada.core.keys import Generation, KeyBlock, box_label, key_block_author, open_key_block
from hramada.errors import DecryptionError, DeviceRevokedError, EncodingError, ForgeryError, KeyWithheldError

if TYPE_CHECKING:
    from hramada.core.membership import Device
    from hramada.core.state import Keyring, Member


class Void(Exception):
    """An entry a holder of the group's key appended that does not verify: ``by`` is the
    member id whose signature it carries, if any; ``reason`` a code (``log.md`` §4)."""

    def __init__(self, by: bytes | None, reason: str) -> None:
        super().__init__(reason)
        self.by, self.reason = by, reason


@dataclass(frozen=True, slots=True)
class Authorised:
    """What an authorised key block says, checked: the signing device and its member, and
    the change it makes: ``removed`` (a member id, or ``b""``), or a device revocation
    (``revocation``, of ``target``'s devices, adding ``added``)."""

    device: bytes
    signer: bytes
    change: bytes
    removed: bytes = b""
    revocation: Revocation | None = None
    target: bytes = b""
    added: DeviceRecord | None = None


class RotationChecks:
    members: dict[bytes, "Member"]
    former: dict[bytes, "Member"]
    devices: dict[bytes, "Device"]
    group: bytes

    @property
    def generation(self) -> int:  # provided by GroupLog
        raise NotImplementedError

    def box_public_key(self, raw: bytes) -> BoxPublicKey | HybridPublicKey:  # provided by GroupLog
        raise NotImplementedError

    # current_boxes and _revocation_target come from DeviceRules (devices.py)

    def _authorised_rotation(self, block: KeyBlock, in_force: Generation, seq: int) -> Authorised:
        """The checks of a key block that every member makes alike with the generation in
        force, before anyone opens a box (``keys.md`` §4): a current device of a current
        member authorised exactly this block for this position; for a removal or a plain
        rotation that member is an admin removing no one or a current member other than
        themselves; for a device revocation the signer is another device of the same
        member or an admin's (``log.md`` §5.13). Its labels are exactly those of the
        current devices that remain, plus the one added. Anything else makes the entry
        void."""
        try:
            device, change = key_block_author(block, in_force, self.group, seq)
        except ForgeryError:
            raise Void(None, "rotation-not-authorised") from None
        d = self.devices.get(device)
        member = self.members.get(d.member) if d is not None else None
        if d is None or member is None or device not in member.devices:
            known = d is not None and (d.member in self.members or d.member in self.former)
            raise Void(d.member if known else None, "rotation-not-authorised")
        signer = member.key.id
        try:
            parsed = decode_change(change)
        except EncodingError:
            raise Void(signer, "rotation-invalid") from None
        boxes = self.current_boxes()
        if isinstance(parsed, Revocation):
            try:
                target, added = self._revocation_target(parsed, member, device)
            except PermissionError:
                raise Void(signer, "rotation-not-authorised") from None
            except ValueError:
                raise Void(signer, "rotation-invalid") from None
            for gone in parsed.devices:
                del boxes[gone]
            if added is not None:
                boxes[added.sign] = added.box
            result = Authorised(device, signer, change, revocation=parsed, target=target.key.id, added=added)
        else:
            if member.role != "admin":
                raise Void(signer, "rotation-not-authorised")
            if parsed and (parsed not in self.members or crypto.equal(parsed, signer)):
                raise Void(signer, "rotation-invalid")
            if parsed:
                for gone in self.members[parsed].devices:
                    del boxes[gone]
            result = Authorised(device, signer, change, removed=parsed)
        expected = {box_label(in_force, self.box_public_key(box)) for box in boxes.values()}
        if len(block.boxes) != len(expected) or block.labels != expected:
            raise Void(signer, "rotation-invalid")
        return result

    def _next_generation(self, block: KeyBlock, in_force: Generation, auth: Authorised,
                         keys: Keyring, seq: int) -> tuple[Generation, Generation | None]:
        """The generation an authorised key block makes, and whether this device opened
        it just now. What fails here is this device's own: its removal or revocation
        (``KeyWithheldError``) or its box not opening (``ForgeryError``)."""
        known = keys.generations.get(self.generation + 1)
        if known is not None:  # a newcomer that walked back to it
            return known, None
        if keys.me is None:
            raise DecryptionError("no identity to open key rotations with")
        mine = [d for d in self.devices.values() if crypto.equal(d.box, keys.me.public.raw)]
        by = self.members[auth.signer].name
        if not mine or mine[0].member not in self.members:
            # this identity left the group: no rotation after that is for it
            raise KeyWithheldError(f"entry {seq}: this identity left the group; the key "
                                   "rotation after it gives it no key")
        if mine[0].until is not None:
            raise DeviceRevokedError(f"entry {seq}: this device was revoked from the group; the key "
                                     "rotation after it gives it no key")
        if auth.removed == mine[0].member:
            raise KeyWithheldError(f"entry {seq}: {by}, an admin, removed this "
                                   "identity from the group")
        if auth.revocation is not None and mine[0].id in auth.revocation.devices:
            raise DeviceRevokedError(f"entry {seq}: this device was revoked from the group by {by}")
        # the labels include mine (checked); a paged block's page comes from keys.pages
        # (pages.PageMissing if it is not there: the caller fetches it and applies again)
        new = open_key_block(block, in_force, keys.me, group=self.group, seq=seq, pages_at_hand=keys.pages)
        return new, new
