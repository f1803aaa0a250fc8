"""The relay's admin set, as the log makes it (``relay-api-v1.md`` §5, ``log.md`` §6.1).

Every member holds the mailbox capability, so the capability alone cannot tell the
relay who may rotate it. The relay therefore keeps, per mailbox, the set of the
admins' *relay-admin keys* (:attr:`hramada.core.identity.Identity.relay_admin`), and
takes an append that rotates the capability or changes that set only with the
signature of a key in it.

The set follows the log by construction: an append whose entry changes who the admins
are (the group's creation, a role change, an admin's removal or departure) carries the
set that the folded state has *after* that entry, and the writer computes it by
folding the entry into a copy of its own state — never by restating the rules. Every
capability rotation carries the whole set too, so the relay's set is restored from the
log at each rotation even if it ever drifted (a relay that dropped the fields).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from hramada.core import wire
from hramada.core.build import NewEntry
from hramada.core.identity import Identity
from hramada.core.pages import page_digest
from hramada.core.state import GroupLog, Keyring

# Kinds whose entry can change who the admins are under the rules of ``core.state``
# (``role`` makes or unmakes one, ``remove`` and ``leave`` end one). For any other kind
# the fold leaves every member's role alone, so no copy of the state is folded for it.
ADMIN_SET_KINDS = frozenset({"role", "remove", "leave"})


def relay_admins(log: GroupLog) -> list[bytes]:
    """The relay-admin keys of the group's current admins, sorted, without repeats."""
    return sorted({m.relay for m in log.members.values() if m.role == "admin" and m.relay})


def admins_after(log: GroupLog, ne: NewEntry, keys: Keyring) -> list[bytes]:
    """The relay's admin set after ``ne`` (the writer's own next entry), from the state
    folded with it. ``log`` and ``keys`` are not changed."""
    if ne.kind not in ADMIN_SET_KINDS:
        return relay_admins(log)
    trial = copy.deepcopy(log)
    gens = dict(keys.generations)
    if ne.new_generation is not None:  # the writer's own rotation: it holds the new key (and pages)
        gens[ne.new_generation.number] = ne.new_generation
    trial.apply(ne.seq, ne.prev, ne.ciphertext,
                Keyring(keys.me, gens, {**keys.pages, **{page_digest(p): p for p in ne.pages}}))
    return relay_admins(trial)


@dataclass(frozen=True, slots=True)
class AdminClaim:
    """What an admin append carries for the relay: the new admin set (None: unchanged),
    the signer's relay-admin key and its signature over the append."""

    admins: list[bytes] | None
    key: bytes
    signature: bytes


def admin_claim(author: Identity, mailbox: bytes, ne: NewEntry,
                admins: list[bytes] | None) -> AdminClaim | None:
    """The claim for ``ne`` if it rotates the capability or changes the admin set, else
    None. The relay refuses it unless ``author`` is one of the mailbox's admins."""
    if ne.new_cap_hash is None and admins is None:
        return None
    key = author.relay_admin
    signature = wire.sign_admin_append(key, mailbox, ne.seq, ne.prev, ne.ciphertext,
                                       ne.new_cap_hash, admins)
    return AdminClaim(admins, key.public.raw, signature)


def claim_for(log: GroupLog, keys: Keyring, author: Identity, ne: NewEntry) -> AdminClaim | None:
    """What the relay must be told with ``ne``, computed from the writer's own state: the
    admin set after it when it changes the set, and with every capability rotation (so
    that each rotation also restores the set from the log, should the relay's ever have
    drifted from it), signed by ``author``; None for any other entry."""
    if ne.new_cap_hash is None and ne.kind not in ADMIN_SET_KINDS:
        return None  # the common case: no state is folded, no key listed
    before, after = relay_admins(log), admins_after(log, ne, keys)
    if ne.new_cap_hash is None and after == before:
        return None
    return admin_claim(author, log.mailbox, ne, after)
