"""Commands that write to the log: each returns the relay ciphertext of one new entry.

Every function takes the group's current :class:`GroupLog`, the author's identity,
the keyring and the randomness it needs as arguments. Nothing is applied here: the
caller sends the entry and, once the relay accepts it, applies it like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from hramada.core import wire
from hramada.core.entries import seal_entry
from hramada.core.identity import Identity
from hramada.core.names import check_name
from hramada.core.keys import Generation, make_key_block
from hramada.core.state import GroupLog, Keyring


@dataclass(frozen=True, slots=True)
class NewEntry:
    seq: int
    prev: bytes
    ciphertext: bytes
    new_generation: Generation | None = None
    kind: str = ""  # the entry's kind (the relay never sees it; the writer's client does)

    @property
    def new_cap_hash(self) -> bytes | None:
        if self.new_generation is None:
            return None
        return wire.cap_hash(self.new_generation.relay_cap)


def create_group(*, mailbox: bytes, name: str, creator: Identity, creator_name: str, vouches: int,
                 seed: bytes, group_nonce: bytes, nonce: bytes, history: str = "all"
                 ) -> tuple[NewEntry, Generation]:
    """The first entry of a new group and its generation 0. ``history`` is the group's
    history policy: ``"since-join"`` or ``"all"`` (log.md §5.1)."""
    if not isinstance(vouches, int) or vouches < 1:
        raise ValueError("a group needs at least one vouch per newcomer")
    if history not in ("since-join", "all"):
        raise ValueError("the history policy is since-join or all")
    gen0 = Generation(0, seed)
    body = {"name": check_name(name), "nonce": group_nonce, "vouches": vouches,
            "member": {"name": check_name(creator_name), "sign": creator.public.sign.raw,
                       "box": creator.public.box.raw, "relay": creator.relay_admin.public.raw},
            "commit": gen0.commitment, "cap": wire.cap_hash(gen0.relay_cap), "history": history}
    ct = seal_entry(mailbox=mailbox, group=b"", seq=1, prev=wire.GENESIS_PREV, kind="create", body=body,
                    author=creator.signing, generation=gen0, nonce=nonce)
    return NewEntry(1, wire.GENESIS_PREV, ct, kind="create"), gen0


def entry(log: GroupLog, kind: str, body: dict, *, author: Identity, keys: Keyring,
          nonce: bytes) -> NewEntry:
    """Any non-rotating entry, encrypted under the generation in force."""
    seq, prev = log.head
    ct = seal_entry(mailbox=log.mailbox, group=log.group, seq=seq + 1, prev=prev, kind=kind, body=body,
                    author=author.signing, generation=keys.generations[log.generation],
                    nonce=nonce)
    return NewEntry(seq + 1, prev, ct, kind=kind)


def rotation(log: GroupLog, *, author: Identity, keys: Keyring, seed: bytes,
             ephemeral_secret: bytes, nonce: bytes, auth_nonce: bytes,
             items_cutoff: Mapping[bytes, tuple[int, bytes]], remove: bytes | None = None,
             admit: tuple[bytes, str] | None = None) -> NewEntry:
    """A ``rotate`` entry, or a ``remove`` entry when ``remove`` names a member.

    The new seed is sealed to every member who remains; the entry is encrypted under
    the new generation, so whoever is removed cannot read even this entry.
    ``items_cutoff`` maps each author to the number and link of their last item that the
    rotating device has verified (items.md §3); it is signed into the entry as a sorted
    list, so every item at or below a bound must lie on the chain ending at that link.
    Authors who are not (or no longer) in the log are left out.
    ``admit`` = ``(request id, role)`` makes it an ``admit`` entry that rotates the key:
    under the ``since-join`` history policy the new key leads back to no older content.
    """
    if admit is not None and remove is not None:
        raise ValueError("one rotation admits or removes, not both")
    previous = keys.generations[log.generation]
    new = Generation(previous.number + 1, seed)
    remaining = [m.key.box for pk, m in log.members.items() if pk != remove]
    seq, prev = log.head
    block = make_key_block(previous, new, remaining, ephemeral_secret, author=author.signing,
                           group=log.group, seq=seq + 1, auth_nonce=auth_nonce,
                           removed=remove or b"", cut=admit is not None and log.history == "since-join")
    body: dict = {"commit": new.commitment, "cap": wire.cap_hash(new.relay_cap),
                  "keys": block.digest, "items": items_cutoff_pairs(log, items_cutoff)}
    if remove is not None:
        body["member"] = remove
    if admit is not None:
        body["request"], body["role"] = admit
    kind = "remove" if remove is not None else "admit" if admit is not None else "rotate"
    ct = seal_entry(mailbox=log.mailbox, group=log.group, seq=seq + 1, prev=prev, kind=kind, body=body,
                    author=author.signing, generation=new, nonce=nonce, key_block=block,
                    in_force=previous)
    return NewEntry(seq + 1, prev, ct, new, kind)


def items_cutoff_pairs(log: GroupLog, cutoff: Mapping[bytes, tuple[int, bytes]]) -> list[list]:
    """The signed form of an item cut-off: ``[[author, last item number, its link], …]``
    by author, for members and former members only, numbers above zero."""
    known = log.members.keys() | log.former.keys()
    return [[author, n, link] for author, (n, link) in sorted(cutoff.items())
            if author in known and type(n) is int and 0 < n < 2**32
            and type(link) is bytes and len(link) == 32]
