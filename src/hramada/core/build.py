"""Commands that write to the log: each returns the relay ciphertext of one new entry.

Every function takes the group's current :class:`GroupLog`, the author's identity,
the keyring and the randomness it needs as arguments. Nothing is applied here: the
caller sends the entry and, once the relay accepts it, applies it like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from hramada.core import crypto, wire
from hramada.core.devices import encode_revocation
from hramada.core.entries import seal_entry
from hramada.core.identity import DeviceRecord, Identity, public_box_key
from hramada.core.names import check_name
from hramada.core.keys import Generation, make_key_block
from hramada.core.state import GroupLog, Keyring
from hramada.core.suite2 import Sealer


@dataclass(frozen=True, slots=True)
class NewEntry:
    seq: int
    prev: bytes
    ciphertext: bytes
    new_generation: Generation | None = None
    kind: str = ""  # the entry's kind (the relay never sees it; the writer's client does)
    pages: tuple[bytes, ...] = ()  # a paged key block's pages: uploaded before the entry

    @property
    def new_cap_hash(self) -> bytes | None:
        if self.new_generation is None:
            return None
        return wire.cap_hash(self.new_generation.relay_cap)


def create_group(*, mailbox: bytes, name: str, creator: Identity, creator_name: str, vouches: int,
                 seed: bytes, group_nonce: bytes, nonce: bytes, history: str = "all",
                 suite: int | None = None) -> tuple[NewEntry, Generation]:
    """The first entry of a new group and its generation 0. ``history`` is the group's
    history policy: ``"since-join"`` or ``"all"`` (log.md §5.1); ``suite`` its cipher
    suite, bound into every later entry: the suite of the creator's device box key
    (a hybrid key makes a suite-2 group), which it must match if given."""
    if suite is None:
        suite = creator.suite
    if suite != creator.suite:
        raise ValueError(f"a suite-{suite} group needs a suite-{suite} device box key")
    if not isinstance(vouches, int) or vouches < 1:
        raise ValueError("a group needs at least one vouch per newcomer")
    if history not in ("since-join", "all"):
        raise ValueError("the history policy is since-join or all")
    gen0 = Generation(0, seed)
    body = {"name": check_name(name), "nonce": group_nonce, "vouches": vouches,
            "member": {"name": check_name(creator_name), "sign": creator.public.sign.raw,
                       "relay": creator.relay_admin.public.raw,
                       "device": creator.device_record(b"", suite).to_value()},
            "commit": gen0.commitment, "cap": wire.cap_hash(gen0.relay_cap), "history": history}
    ct = seal_entry(mailbox=mailbox, group=b"", seq=1, prev=wire.GENESIS_PREV, kind="create", body=body,
                    author=creator.member_id, device=creator.signing, generation=gen0, nonce=nonce,
                    suite=suite)
    return NewEntry(1, wire.GENESIS_PREV, ct, kind="create"), gen0


def entry(log: GroupLog, kind: str, body: dict, *, author: Identity, keys: Keyring,
          nonce: bytes) -> NewEntry:
    """Any non-rotating entry, encrypted under the generation in force."""
    seq, prev = log.head
    ct = seal_entry(mailbox=log.mailbox, group=log.group, seq=seq + 1, prev=prev, kind=kind, body=body,
                    author=author.member_id, device=author.signing,
                    generation=keys.generations[log.generation], nonce=nonce, suite=log.suite)
    return NewEntry(seq + 1, prev, ct, kind=kind)


def device_add(log: GroupLog, record: DeviceRecord, *, author: Identity, keys: Keyring,
               nonce: bytes) -> NewEntry:
    """A ``device-add`` entry: ``record`` (certified by ``author``'s member key for this
    group) becomes a device of ``author``'s member. It does not rotate the key: the
    device that links the new one hands it the seeds it holds."""
    return entry(log, "device-add", {"device": record.to_value()}, author=author, keys=keys, nonce=nonce)


def rotation(log: GroupLog, *, author: Identity, keys: Keyring, seed: bytes,
             ephemeral_secret: bytes, nonce: bytes, auth_nonce: bytes,
             items_cutoff: Mapping[bytes, tuple[int, bytes]], remove: bytes | None = None,
             admit: tuple[bytes, str] | None = None, sealer: Sealer | None = None) -> NewEntry:
    """A ``rotate`` entry, or a ``remove`` entry when ``remove`` names a member.

    The new seed is sealed to every current device of every member who remains; the entry is encrypted under
    the new generation, so whoever is removed cannot read even this entry.
    ``items_cutoff`` maps each device to the number and link of their last item that the
    rotating device has verified (items.md §3); it is signed into the entry as a sorted
    list, so every item at or below a bound must lie on the chain ending at that link.
    Devices the log never recorded are left out.
    ``sealer`` seals the key boxes of a suite-2 group (one HPKE box per device; none in
    suite 1, whose boxes share ``ephemeral_secret``).
    ``admit`` = ``(request id, role)`` makes it an ``admit`` entry that rotates the key:
    under the ``since-join`` history policy the new key leads back to no older content.
    """
    if admit is not None and remove is not None:
        raise ValueError("one rotation admits or removes, not both")
    gone = set(log.members[remove].devices) if remove is not None and remove in log.members else set()
    body: dict = {}
    if remove is not None:
        body["member"] = remove
    if admit is not None:
        body["request"], body["role"] = admit
    kind = "remove" if remove is not None else "admit" if admit is not None else "rotate"
    return _rotating(log, kind, body, author=author, keys=keys, seed=seed,
                     ephemeral_secret=ephemeral_secret, nonce=nonce, auth_nonce=auth_nonce,
                     items_cutoff=items_cutoff, change=remove or b"", gone=gone,
                     cut=admit is not None and log.history == "since-join", sealer=sealer)


def device_revoke(log: GroupLog, devices: list[bytes], *, author: Identity, keys: Keyring, seed: bytes,
                  ephemeral_secret: bytes, nonce: bytes, auth_nonce: bytes,
                  items_cutoff: Mapping[bytes, tuple[int, bytes]], add: DeviceRecord | None = None,
                  sealer: Sealer | None = None) -> NewEntry:
    """A ``device-revoke`` entry: ``devices`` (current devices of one member) leave the
    group and the key rotates, sealed to every other current device (and to ``add``, a
    device record certified by that member's key, which joins in the same step)."""
    ids = sorted(set(devices))
    if not ids:
        raise ValueError("a revocation names at least one device")
    body: dict = {"devices": ids}
    added = {}
    if add is not None:
        body["add"] = add.to_value()
        added = {add.sign: add.box}
    change = encode_revocation(ids, body.get("add"))
    return _rotating(log, "device-revoke", body, author=author, keys=keys, seed=seed,
                     ephemeral_secret=ephemeral_secret, nonce=nonce, auth_nonce=auth_nonce,
                     items_cutoff=items_cutoff, change=change, gone=set(ids), added=added, sealer=sealer)


def _rotating(log: GroupLog, kind: str, body: dict, *, author: Identity, keys: Keyring, seed: bytes,
              ephemeral_secret: bytes, nonce: bytes, auth_nonce: bytes,
              items_cutoff: Mapping[bytes, tuple[int, bytes]], change: bytes, gone: set[bytes],
              added: Mapping[bytes, bytes] | None = None, cut: bool = False,
              sealer: Sealer | None = None) -> NewEntry:
    """A rotating entry of ``kind`` whose new seed is sealed to every current device but
    ``gone``, plus ``added`` (device id → box key); ``change`` is what the key block's
    authorisation names (log.md §5.13). A suite-2 block is sealed through ``sealer``;
    the pages of a paged one travel in ``NewEntry.pages``."""
    previous = keys.generations[log.generation]
    new = Generation(previous.number + 1, seed)
    boxes = {d: box for d, box in log.current_boxes().items() if d not in gone}
    boxes.update(added or {})
    remaining = [log.box_public_key(box) for box in boxes.values()]
    seq, prev = log.head
    block = make_key_block(previous, new, remaining, ephemeral_secret, author=author.signing,
                           group=log.group, seq=seq + 1, auth_nonce=auth_nonce, removed=change, cut=cut,
                           sealer=sealer if log.suite != 1 else None)
    body = {**body, "commit": new.commitment, "cap": wire.cap_hash(new.relay_cap),
            "keys": block.digest, "items": items_cutoff_pairs(log, items_cutoff)}
    ct = seal_entry(mailbox=log.mailbox, group=log.group, seq=seq + 1, prev=prev, kind=kind, body=body,
                    author=author.member_id, device=author.signing, generation=new, nonce=nonce,
                    key_block=block, in_force=previous, suite=log.suite)
    return NewEntry(seq + 1, prev, ct, new, kind, tuple(block.pages()))


def items_cutoff_pairs(log: GroupLog, cutoff: Mapping[bytes, tuple[int, bytes]]) -> list[list]:
    """The signed form of an item cut-off: ``[[device, last item number, its link], …]``
    by device, for devices the group ever recorded only, numbers above zero."""
    known = log.devices.keys()
    return [[device, n, link] for device, (n, link) in sorted(cutoff.items())
            if device in known and type(n) is int and 0 < n < 2**32
            and type(link) is bytes and len(link) == 32]
