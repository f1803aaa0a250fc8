"""The checks of a key rotation that every member makes alike, before anyone opens a
box (``keys.md`` §4, ``log.md`` §4 step 6′), and what a rotation means for this device.

A mixin of :class:`hramada.core.state.GroupLog`: it reads the group state (members,
roles, the generation in force) and changes nothing. What fails here in a way every
member sees alike raises :class:`Void`; only what is this device's own (its removal,
its own key box) raises a ``KeyWithheldError`` or ``ForgeryError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hramada.core import crypto
from hramada.core.keys import Generation, KeyBlock, box_label, key_block_author, open_key_block
from hramada.errors import DecryptionError, ForgeryError, KeyWithheldError

if TYPE_CHECKING:
    from hramada.core.state import Keyring, Member


class Void(Exception):
    """An entry a holder of the group's key appended that does not verify: ``by`` is the
    member id whose signature it carries, if any; ``reason`` a code (``log.md`` §4)."""

    def __init__(self, by: bytes | None, reason: str) -> None:
        super().__init__(reason)
        self.by, self.reason = by, reason


class RotationChecks:
    members: dict[bytes, "Member"]
    former: dict[bytes, "Member"]
    group: bytes

    @property
    def generation(self) -> int:  # provided by GroupLog
        raise NotImplementedError

    def _authorised_rotation(self, block: KeyBlock, in_force: Generation, seq: int
                             ) -> tuple[bytes, bytes]:
        """The checks of a key block that every member makes alike with the generation in
        force, before anyone opens a box (``keys.md`` §4): a current admin authorised
        exactly this block for this position, removing no one or a current member other
        than themselves, and its labels are exactly those of the members who remain.
        Returns ``(signer, removed)``; anything else makes the entry void."""
        try:
            signer, removed = key_block_author(block, in_force, self.group, seq)
        except ForgeryError:
            raise Void(None, "rotation-not-authorised") from None
        admin = self.members.get(signer)
        if admin is None or admin.role != "admin":
            known = signer in self.members or signer in self.former
            raise Void(signer if known else None, "rotation-not-authorised")
        if removed and (removed not in self.members or crypto.equal(removed, signer)):
            raise Void(signer, "rotation-invalid")
        expected = {box_label(in_force, m.key.box) for pk, m in self.members.items() if pk != removed}
        if len(block.boxes) != len(expected) or block.labels != expected:
            raise Void(signer, "rotation-invalid")
        return signer, removed

    def _next_generation(self, block: KeyBlock, in_force: Generation, signer: bytes,
                         removed: bytes, keys: Keyring, seq: int) -> tuple[Generation, Generation | None]:
        """The generation an authorised key block makes, and whether this device opened
        it just now. What fails here is this device's own: its removal
        (``KeyWithheldError``) or its box not opening (``ForgeryError``)."""
        known = keys.generations.get(self.generation + 1)
        if known is not None:  # a newcomer that walked back to it
            return known, None
        if keys.me is None:
            raise DecryptionError("no identity to open key rotations with")
        mine = [pk for pk, m in self.members.items() if crypto.equal(m.key.box.raw, keys.me.public.raw)]
        if not mine:  # this identity left the group: no rotation after that is for it
            raise KeyWithheldError(f"entry {seq}: this identity left the group; the key "
                                   "rotation after it gives it no key")
        if removed == mine[0]:
            raise KeyWithheldError(f"entry {seq}: {self.members[signer].name}, an admin, removed this "
                                   "identity from the group")
        new = open_key_block(block, in_force, keys.me)  # the labels include mine (checked)
        return new, new
