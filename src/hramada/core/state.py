"""Folding a verified log into group state.

:class:`GroupLog` takes entries one at a time, exactly in log order, and either
applies them or raises. Two kinds of trouble are told apart:

* a **verification failure** (``VerificationError`` and subclasses, ``DecryptionError``,
  ``EncodingError``): broken chain, bad signature, an author who is not a member, a
  tampered or unopenable ciphertext, a key that does not match its commitment, an
  invalid key rotation. The log is not what the group wrote; the group stops.
* an **ignored entry**: correctly signed by a current member, but not allowed by the
  group's rules (a second vouch by the same member, an admit without enough vouches,
  a non-admin removing someone). Every client ignores it the same way and records a
  warning, so one rogue member cannot brick the group's log.

Nothing here touches the network, the disk, a clock or randomness.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hramada.core import crypto, wire
from hramada.core.crypto import BoxPrivateKey, BoxPublicKey, VerifyKey
from hramada.core.encoding import expect, fields
from hramada.core.entries import (ROTATING_KINDS, Entry, Envelope, check_position,
                                  group_id_of, open_entry, verify_signature)
from hramada.core.devices import DeviceRules, Revocation
from hramada.core.identity import DeviceRecord, MemberKey, public_box_key
from hramada.core.keys import Generation, KeyBlock, check_commitment
from hramada.core.membership import VOUCHING_ROLES, AdmissionRules, Device, Invite, Member, Request
from hramada.core.names import check_name
from hramada.core.rotation import Authorised, RotationChecks, Void as _Void
from hramada.core.suite2 import HybridPrivateKey, HybridPublicKey
from hramada.errors import DecryptionError, EncodingError, ForgeryError, ForkError, VerificationError

ROLES = ("admin", "member", "newcomer")
# Why a member's entry was ignored (log.md §5): the reason codes of "ignored-entry" warnings.
IGNORED_REASONS = (
    "malformed", "created-already", "not-admin", "newcomer-cannot-invite", "invite-exists",
    "no-such-invite", "not-inviter-or-admin", "invite-used", "invite-revoked", "request-invalid",
    "request-exists", "name-taken", "already-member", "former-member", "box-key-taken",
    "relay-key-taken", "no-such-request", "newcomer-cannot-vouch", "already-vouched",
    "admit-needs-rotation",
    "bad-role", "vouches-missing", "last-admin", "no-such-member", "no-change",
    "vouches-below-one", "bad-history", "device-cert-invalid", "device-key-taken",
    "device-name-taken", "too-many-devices")
# Why an entry a holder of the group's key appended is void (log.md §4): the reason codes of
# "void-entry" warnings.
VOID_REASONS = (
    "malformed", "undecryptable", "bad-signature", "not-a-member", "not-a-device", "other-group",
    "misplaced", "rotation-without-keys", "keys-on-ordinary-entry", "rotation-not-authorised",
    "rotation-invalid")
Problem = str | tuple[str, dict] | None  # a rule's verdict: None (applied) or why not
HISTORY_POLICIES = ("since-join", "all")  # what a newcomer may read: from their admission, or everything


@dataclass
class GenerationInfo:
    number: int
    commitment: bytes
    cap_hash: bytes
    start: int                 # seq of the entry that made it
    end: int | None = None     # seq of the entry that replaced it
    items_cutoff: dict[bytes, int] | None = None  # once replaced: each device's last item number under it
    items_links: dict[bytes, bytes] | None = None  # and the link of that item (items.md §3)


class _ParsedKeys(dict):
    """Parsed device box public keys by their bytes. They are immutable, so a copy of
    the state (a trial fold, ``admins.py``) shares them rather than copying them."""

    def __deepcopy__(self, memo: dict) -> "_ParsedKeys":
        return self


@dataclass
class Keyring:
    """The secrets a client brings to folding: its device's box key, the
    generations it already holds (number → Generation), and the key-block pages it
    has fetched (digest → page; ``keys.md`` §4.1), which are not stored: a page is
    needed only to open the one rotation that named it."""

    me: BoxPrivateKey | HybridPrivateKey | None
    generations: dict[int, Generation] = field(default_factory=dict)
    pages: dict[bytes, bytes] = field(default_factory=dict)


class GroupLog(RotationChecks, DeviceRules, AdmissionRules):
    """The state of one group, built by applying its log entries in order."""

    def __init__(self, mailbox: bytes, group_id: bytes | None = None) -> None:
        self.mailbox = mailbox
        self.expected_group = group_id
        self.group: bytes = b""
        self.suite = crypto.SUITE     # the group's cipher suite (its ``create`` entry's)
        self.name = ""
        self.vouches_required = 1
        self.history = "all"          # the group's history policy (``create`` and ``policy`` entries)
        self._rotating_admit = 0      # seq of an admit entry that rotated the key, while it applies
        self.members: dict[bytes, Member] = {}
        self.former: dict[bytes, Member] = {}
        self.devices: dict[bytes, Device] = {}  # every device ever recorded, by device id
        self.invites: dict[bytes, Invite] = {}
        self.requests: dict[bytes, Request] = {}
        self.generations: list[GenerationInfo] = []
        self.hashes: list[bytes] = []
        self.warnings: list[tuple[str, dict]] = []  # (code, parameters), rendered by the client
        self.rotation_due = False
        self._box_keys = _ParsedKeys()  # device box key bytes → the parsed key

    # -- views -------------------------------------------------------------------

    @property
    def head(self) -> tuple[int, bytes]:
        return (len(self.hashes), self.hashes[-1] if self.hashes else wire.GENESIS_PREV)

    @property
    def generation(self) -> int:
        return len(self.generations) - 1

    def box_public_key(self, raw: bytes) -> BoxPublicKey | HybridPublicKey:
        """A recorded device box key, parsed once (a suite-2 key is 1,216 bytes whose
        ML-KEM half takes real work to load): rotations seal to and label every current
        device, so a large group's rotation must not parse them all again."""
        key = self._box_keys.get(raw)
        if key is None:
            key = self._box_keys[raw] = public_box_key(raw)
        return key

    def hash_at(self, seq: int) -> bytes:
        return self.hashes[seq - 1]

    def generation_at(self, seq: int) -> int:
        """The generation in force just after entry ``seq``."""
        number = 0
        for info in self.generations:
            if info.start <= seq:
                number = info.number
        return number

    def member_at(self, member: bytes, seq: int) -> Member | None:
        """The member record if ``member`` was a member just after entry ``seq``."""
        m = self.members.get(member) or self.former.get(member)
        if m is None or m.since > seq or (m.until is not None and m.until <= seq):
            return None
        return m

    def vouches_needed(self) -> int:
        eligible = sum(1 for m in self.members.values() if m.role in VOUCHING_ROLES)
        return max(1, min(self.vouches_required, eligible))

    def valid_vouches(self, request: Request) -> list[bytes]:
        return [v for v in request.vouches
                if v in self.members and self.members[v].role in VOUCHING_ROLES]

    # -- applying ----------------------------------------------------------------

    def apply(self, seq: int, prev: bytes, ciphertext: bytes, keys: Keyring) -> Entry | None:
        """Verify one relay entry against everything before it and fold it in.

        Raises a ``VerificationError`` (or ``DecryptionError``/``EncodingError``) if the
        relay served something that no holder of the group's key appended at this
        position; then the state is unchanged. An entry that a holder of the key
        appended but that does not verify or parse is *void*: it stays in the chain and
        changes nothing but a warning ``("void-entry", {"seq", "by", "reason"})``;
        ``None`` is returned for it.
        """
        head_seq, head_hash = self.head
        if seq != head_seq + 1:
            raise ForkError(f"the relay served entry {seq} where entry {head_seq + 1} belongs")
        if not crypto.equal(prev, head_hash):
            raise VerificationError(f"entry {seq} does not chain to entry {head_seq} (broken chain)")
        number = 0 if seq == 1 else self.generation
        in_force = keys.generations.get(number)
        if in_force is None:
            raise DecryptionError(f"this device holds no key for generation {number}")
        try:
            envelope = wire.open_append(in_force.append_key.public, self.mailbox, seq, prev, ciphertext)
        except ForgeryError:
            raise ForgeryError(f"entry {seq} does not carry the signature of a holder of the "
                               "group's key: the relay changed it or made it up") from None
        new_generation = None
        entry: Entry | None
        if seq == 1:
            entry = self._apply_create(envelope, in_force)
        else:
            try:
                entry, new_generation = self._fold(seq, prev, envelope, in_force, keys)
            except _Void as void:
                entry = None
                self.warnings.append(("void-entry", {"seq": seq, "by": void.by, "reason": void.reason}))
        if new_generation is not None:
            keys.generations[new_generation.number] = new_generation
        self.hashes.append(wire.entry_hash(self.mailbox, seq, prev, ciphertext))
        return entry

    def _fold(self, seq: int, prev: bytes, envelope_bytes: bytes, in_force: Generation,
              keys: Keyring) -> tuple[Entry, Generation | None]:
        """Fold an entry that a holder of the group's key appended, or raise
        :class:`_Void`. Only what concerns this device alone (its own key box, its
        removal) can still raise a verification error here."""
        try:
            envelope = Envelope.parse(envelope_bytes)
        except EncodingError:
            raise _Void(None, "malformed") from None
        if envelope.suite != self.suite:
            raise _Void(None, "malformed")
        if envelope.key_block is None:
            try:
                entry, signature = open_entry(envelope, seq, in_force)
            except DecryptionError:
                raise _Void(None, "undecryptable") from None
            except EncodingError:
                raise _Void(None, "malformed") from None
            author = self._signed_by_member(entry, signature, seq, prev)
            if entry.kind in ROTATING_KINDS:
                raise _Void(entry.author, "rotation-without-keys")
            self._apply_rules(entry, author)
            return entry, None
        block = envelope.key_block
        auth = self._authorised_rotation(block, in_force, seq)
        new, fresh = self._next_generation(block, in_force, auth, keys, seq)
        try:
            entry, signature = open_entry(envelope, seq, new)
        except DecryptionError:
            raise VerificationError(
                f"entry {seq}: the new key that {self.members[auth.signer].name} sealed to "
                "this device does not open the key rotation") from None
        except EncodingError:
            raise _Void(auth.signer, "malformed") from None
        author = self._signed_by_member(entry, signature, seq, prev)
        admits = entry.kind == "admit"  # an admission that rotates the key (history policy)
        if entry.kind not in ROTATING_KINDS and not admits:
            raise _Void(entry.author, "keys-on-ordinary-entry")
        if not crypto.equal(entry.device, auth.device):
            raise _Void(entry.author, "rotation-not-authorised")
        try:
            self._check_rotation(entry, block, new, auth)
        except (EncodingError, VerificationError):
            raise _Void(entry.author, "rotation-invalid") from None
        if admits:
            self._rotating_admit = seq
            self._apply_rules(entry, author)
        return entry, fresh

    def _signed_by_member(self, entry: Entry, signature: bytes, seq: int, prev: bytes) -> Member:
        """The current member one of whose current devices signed ``entry`` for this group
        and position; else void."""
        try:
            verify_signature(entry, signature)
        except ForgeryError:
            raise _Void(None, "bad-signature") from None
        author = self.members.get(entry.author)
        if author is None:
            raise _Void(entry.author if entry.author in self.former else None, "not-a-member")
        if entry.device not in author.devices:
            raise _Void(entry.author, "not-a-device")
        if not crypto.equal(entry.group, self.group):
            raise _Void(entry.author, "other-group")
        if entry.seq != seq or not crypto.equal(entry.prev, prev):
            raise _Void(entry.author, "misplaced")
        return author

    def _apply_create(self, envelope_bytes: bytes, generation: Generation) -> Entry:
        envelope = Envelope.parse(envelope_bytes)
        if envelope.key_block is not None:
            raise VerificationError("the creation entry carries a key rotation")
        entry, signature = open_entry(envelope, 1, generation)
        check_position(entry, 1, wire.GENESIS_PREV)
        if entry.kind != "create":
            raise VerificationError("the log does not start with the group's creation")
        self._check_create(entry, signature, generation)
        return entry

    def _check_create(self, entry: Entry, signature: bytes, generation: Generation) -> None:
        b = fields(entry.body, "create entry",
                   {"name": str, "nonce": bytes, "vouches": int, "member": dict,
                    "commit": bytes, "cap": bytes}, {"history": str})
        m = fields(b["member"], "create entry (member)", {"name": str, "sign": bytes, "relay": bytes,
                                                          "device": dict})
        expect(len(m["sign"]) == 32 and len(m["relay"]) == 32 and len(b["cap"]) == 32, "create entry")
        expect(b["vouches"] >= 1 and entry.group == b"" and b.get("history", "all") in HISTORY_POLICIES,
               "create entry")
        record = DeviceRecord.from_value(m["device"], entry.suite, "create entry (device)")
        if not crypto.equal(m["sign"], entry.author) or not crypto.equal(record.sign, entry.device):
            raise ForgeryError("the group's creation is not signed by its creator")
        verify_signature(entry, signature)
        record.verify(entry.author, b"", entry.suite)
        group = group_id_of(entry)
        if self.expected_group is not None and not crypto.equal(group, self.expected_group):
            raise ForgeryError("this log belongs to a different group than the invitation named")
        check_commitment(generation, b["commit"])
        try:
            name, member_name = check_name(b["name"]), check_name(m["name"])
        except ValueError:
            raise EncodingError("malformed create entry (name)") from None
        self.group, self.name, self.vouches_required = group, name, b["vouches"]
        self.suite = entry.suite
        self.history = b.get("history", "all")
        key = MemberKey(VerifyKey(m["sign"]), m["relay"])
        creator = Member(member_name, key, "admin", since=1, relay=m["relay"])
        self.members[entry.author] = creator
        self._record_device(creator, record, 1)
        self.generations.append(GenerationInfo(0, b["commit"], b["cap"], start=1))

    def _check_rotation(self, entry: Entry, block: KeyBlock, generation: Generation,
                        auth: Authorised) -> None:
        """A rotating entry's own checks (``log.md`` §5.9). Its key block was authorised
        already, by its author's device, for the change ``auth`` names."""
        required = {"commit": bytes, "cap": bytes, "keys": bytes, "items": list}
        optional: dict = {}
        if entry.kind == "remove":
            required["member"] = bytes
        if entry.kind == "admit":  # an admission that rotates the key (history policy)
            required.update(request=bytes, role=str)
        if entry.kind == "device-revoke":
            required["devices"] = list
            optional["add"] = dict
        b = fields(entry.body, f"{entry.kind} entry", required, optional)
        if not crypto.equal(b["keys"], block.digest):
            raise ForgeryError(f"entry {entry.seq}: the key block is not the one signed")
        cut = entry.kind == "admit" and self.history == "since-join"
        if cut != (not block.back_content):
            raise VerificationError(f"entry {entry.seq}: " + (
                "an admission under the since-join history policy links the new key back to "
                "older content" if cut else "a rotation that cuts the group's history"))
        check_commitment(generation, b["commit"])
        revocation = auth.revocation
        if entry.kind == "device-revoke":
            named = Revocation(tuple(b["devices"]), b.get("add"))
            if revocation is None or named != revocation:
                raise ForgeryError(f"entry {entry.seq}: the key block was authorised for another revocation")
        elif revocation is not None or auth.removed != (b["member"] if entry.kind == "remove" else b""):
            raise ForgeryError(f"entry {entry.seq}: the key block was authorised for another removal")
        expect(len(b["cap"]) == 32, f"{entry.kind} entry")
        items_cutoff, items_links = self._items_cutoff(b["items"], entry.seq)
        if entry.kind == "remove":
            gone = self.members.pop(b["member"])
            gone.until = entry.seq
            self._end_devices(gone, entry.seq)
            self.former[b["member"]] = gone
            self._revoke_invites_of(b["member"], entry.seq)
        if revocation is not None:
            self._apply_revocation(revocation, self.members[auth.target], auth.added, auth.signer, entry.seq)
        old = self.generations[-1]
        old.end, old.items_cutoff, old.items_links = entry.seq, items_cutoff, items_links
        self.generations.append(GenerationInfo(generation.number, b["commit"], b["cap"],
                                               start=entry.seq))
        self.rotation_due = False

    def _items_cutoff(self, triples: list, seq: int) -> tuple[dict[bytes, int], dict[bytes, bytes]]:
        """A rotation's item cut-off: ``[[device, last item number, its link], …]``, devices
        strictly ascending, each a device ever recorded in the group, numbers
        1 … 2**32 - 1, links of 32 bytes (items.md §3). Returns (numbers, links) by device."""
        numbers: dict[bytes, int] = {}
        links: dict[bytes, bytes] = {}
        previous = b""
        for t in triples:
            expect(isinstance(t, list) and len(t) == 3 and isinstance(t[0], bytes)
                   and type(t[1]) is int and 1 <= t[1] < 2**32 and t[0] > previous
                   and isinstance(t[2], bytes) and len(t[2]) == 32, f"rotation entry {seq} (items)")
            if t[0] not in self.devices:
                raise VerificationError(f"entry {seq}: the item cut-off names a device the group never had")
            numbers[t[0]], links[t[0]] = t[1], t[2]
            previous = t[0]
        return numbers, links

    def _apply_rules(self, entry: Entry, author: Member) -> None:
        rule = _RULES.get(entry.kind)  # "create" is valid only as entry 1
        try:
            problem = rule(self, entry, author) if rule else "created-already"
        except EncodingError:  # signed by a member, but nonsense: ignore it
            problem = "malformed"
        if problem:
            reason, detail = (problem, {}) if isinstance(problem, str) else problem
            self.warnings.append(("ignored-entry", {"seq": entry.seq, "kind": entry.kind,
                                                    "by": entry.author, "reason": reason,
                                                    "detail": detail}))

    # -- the rule for each kind: None if applied, else why it was ignored: a reason code,
    # or (code, parameters); IGNORED_REASONS lists them --

    def _leave(self, entry: Entry, author: Member) -> Problem:
        b = fields(entry.body, "leave entry", {}, {"items": list})
        last: dict[bytes, int] = {}
        previous = b""
        for pair in b.get("items", []):  # [[device, last item number], …], ascending by device
            expect(type(pair) is list and len(pair) == 2 and type(pair[0]) is bytes and pair[0] > previous
                   and type(pair[1]) is int and 0 <= pair[1] < 2**32
                   and pair[0] in self.devices and self.devices[pair[0]].member == entry.author,
                   "leave entry (items)")
            last[pair[0]], previous = pair[1], pair[0]
        if author.role == "admin" and sum(m.role == "admin" for m in self.members.values()) == 1 \
                and len(self.members) > 1:
            return "last-admin"
        gone = self.members.pop(entry.author)
        gone.until = entry.seq
        for device_id, number in last.items():
            self.devices[device_id].last_item = number
        self._end_devices(gone, entry.seq)
        self.former[entry.author] = gone
        self._revoke_invites_of(entry.author, entry.seq)
        self.rotation_due = True
        return None

    def _role(self, entry: Entry, author: Member) -> Problem:
        b = fields(entry.body, "role entry", {"member": bytes, "role": str})
        if author.role != "admin":
            return "not-admin"
        target = self.members.get(b["member"])
        if target is None or b["role"] not in ROLES:
            return "no-such-member"
        if target.role == "admin" and b["role"] != "admin" and \
                sum(m.role == "admin" for m in self.members.values()) == 1:
            return "last-admin"
        target.role = b["role"]
        return None

    def _policy(self, entry: Entry, author: Member) -> Problem:
        b = fields(entry.body, "policy entry", {}, {"vouches": int, "history": str})
        if not b:
            return "no-change"
        if author.role != "admin":
            return "not-admin"
        if b.get("vouches", 1) < 1:
            return "vouches-below-one"
        if b.get("history", self.history) not in HISTORY_POLICIES:
            return "bad-history", {}
        self.vouches_required = b.get("vouches", self.vouches_required)
        self.history = b.get("history", self.history)
        return None


_RULES = {
    "invite": GroupLog._invite,
    "revoke": GroupLog._revoke,
    "request": GroupLog._request,
    "vouch": GroupLog._vouch,
    "admit": GroupLog._admit,
    "leave": GroupLog._leave,
    "role": GroupLog._role,
    "policy": GroupLog._policy,
    "device-add": GroupLog._device_add,
}
