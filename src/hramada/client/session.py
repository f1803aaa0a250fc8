"""One group as this device holds it: its stored record, folded log and keys.

A :class:`GroupSession` is loaded from the encrypted store by re-verifying the whole
stored log, so a tampered local database is caught the same way as a tampered relay.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hramada.client import notices
from hramada.client.store import Store
from hramada.core.identity import DEFAULT_DEVICE_NAME, Identity
from hramada.core.keys import Generation
from hramada.core.state import GroupLog, Keyring, Member
from hramada.core import crypto
from hramada.errors import ForkError, NotFoundError, PolicyError, VerificationError
from hramada.core.identity import fingerprint_matches


@dataclass
class GroupSession:
    ref: int
    record: dict
    identity: Identity
    log: GroupLog
    keys: Keyring
    stale: bool = field(default=False)       # a failed change left memory ahead of the store
    suspected: bool = field(default=False)   # withholding seen during the current sync
    checked: int | None = field(default=None)  # the store's data version when last known current

    # -- loading ------------------------------------------------------------------

    @classmethod
    def load(cls, store: Store, ref: int, record: dict | None = None) -> "GroupSession":
        record = record if record is not None else store.group(ref)
        # the device box key is of the group's suite (a record without one is suite 1)
        identity = Identity.from_secrets(*record["id"], record.get("device", DEFAULT_DEVICE_NAME),
                                         suite=record.get("suite", 1))
        keys = Keyring(identity.boxing, {row[0]: Generation.restore(*row) for row in record["gens"]})
        log = GroupLog(record["mailbox"], record["group"])
        if record["status"] not in ("pending", "recovering"):  # no log yet: waiting for a welcome
            for seq, prev, ciphertext in store.log(ref):
                log.apply(seq, prev, ciphertext, keys)
            pin_seq, pin_hash = record["pin"]
            if 0 < pin_seq <= log.head[0] and not crypto.equal(log.hash_at(pin_seq), pin_hash):
                raise ForkError(f"the stored log's entry {pin_seq} is not the one this device pinned")
        return cls(ref, record, identity, log, keys)

    def save(self, store: Store) -> None:
        """Write the record (inside the journal's transaction). Every save bumps the
        record's version, so another process holding this group sees it is behind."""
        self.record["v"] = self.record.get("v", 0) + 1
        self.record["gens"] = sorted(g.stored() for g in self.keys.generations.values())
        if self.log.head[0] >= self.record["pin"][0]:  # the pin only moves forward
            self.record["pin"] = [self.log.head[0], self.log.head[1]]
        if self.log.name:
            self.record["name"] = self.log.name
        store.put_group(self.ref, self.record)

    def suspect(self, text: str) -> None:
        """Note that the relay may be withholding ``text`` (saved with the next change;
        a full sync that notes nothing clears it)."""
        self.record["suspicion"] = text
        self.suspected = True

    # -- views --------------------------------------------------------------------

    @property
    def group_id(self) -> bytes:
        return self.record["group"]

    @property
    def name(self) -> str:
        return self.record["name"]

    @property
    def status(self) -> str:
        return self.record["status"]

    @property
    def generation(self) -> Generation:
        if not self.log.generations:  # a linked device before its first fold: the newest key it was handed
            return self.keys.generations[max(self.keys.generations)]
        return self.keys.generations[self.log.generation]

    @property
    def cap(self) -> bytes:
        return self.generation.relay_cap

    @property
    def me(self) -> Member | None:
        return self.log.members.get(self.identity.public.id)

    @property
    def member_id(self) -> bytes:
        """This member's id in the group (their member key's public key)."""
        return self.identity.member_id

    @property
    def device_id(self) -> bytes:
        """This device's id in the group (its device key's public key)."""
        return self.identity.device_id

    def require_active(self) -> None:
        status = self.status
        if status == "alarm":
            raise VerificationError(f"group {self.name!r} is stopped: {self.record['alarm']}")
        if status == "removed":
            raise PolicyError(f"you are no longer a member of {self.name!r}")
        if status == "left":
            raise PolicyError(f"you have left {self.name!r}")
        if status == "revoked":
            raise PolicyError(f"{self.record.get('revoked', 'this device was revoked from the group')} "
                              f"({self.name!r})")
        if status == "pending" and self.record.get("refused"):
            raise PolicyError(notices.refusal_claim(self.record["refused"], self.group_id.hex()))
        if status == "recovering":
            raise PolicyError(f"this device waits for an admin of {self.name!r} to re-admit it: show them "
                              "its recovery code (`hramada backup codes`), then run `hramada sync`")
        if status == "pending":
            raise PolicyError(f"your request to join {self.name!r} has not been accepted yet "
                              "(run `hramada sync` to check)")

    def require_role(self, *roles: str) -> Member:
        self.require_active()
        me = self.me
        if me is None or me.role not in roles:
            raise PolicyError(f"only {' or '.join(roles)}s can do this in {self.name!r}")
        return me

    def find_member(self, text: str) -> Member:
        """A member by display name (exact, case-insensitive) or fingerprint prefix."""
        everyone = list(self.log.members.values())
        by_name = [m for m in everyone if m.name.casefold() == text.strip().casefold()]
        if len(by_name) == 1:
            return by_name[0]
        if len(by_name) > 1:
            raise NotFoundError(f"{len(by_name)} members are called {text!r}; name one by fingerprint")
        by_print = [m for m in everyone if fingerprint_matches(m.key, text)]
        if len(by_print) == 1:
            return by_print[0]
        raise NotFoundError(f"no member {text!r} in {self.name!r}")

    def name_of(self, member: bytes) -> str:
        """A member's name, by member id or by the id of one of their devices (an item's
        author is a device: it is shown as its member)."""
        m = self.log.members.get(member) or self.log.former.get(member) or self.log.member_of(member)
        return m.name if m is not None else "(unknown)"
