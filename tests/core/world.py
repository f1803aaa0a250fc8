"""A small deterministic world for core tests: people, one group, one in-memory relay.

Every secret, nonce and seed comes from a seeded generator, so a failing test
reproduces exactly. Nothing here is under test; it only drives the public core API
the way a client would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hramada.core import build, crypto, items, wire
from hramada.core import invitation as inv
from hramada.core.encoding import encode
from hramada.core.entries import Envelope, envelope_bytes, seal_entry
from hramada.core.identity import Identity
from hramada.core.keys import Generation, KeyBlock
from hramada.core.joining import adopt
from hramada.core.state import GroupLog, Keyring
from hramada.errors import DecryptionError

RELAY = "https://relay.example"


class Rand:
    """Deterministic bytes from a seed (never use this outside tests)."""

    def __init__(self, seed: int | str) -> None:
        self._r = random.Random(seed)

    def bytes(self, n: int) -> bytes:
        return self._r.randbytes(n)

    def identity(self) -> Identity:
        return Identity.from_secrets(self.bytes(32), self.bytes(32), self.bytes(32))

    def device(self, of: Identity, name: str) -> Identity:
        """Another device of the member ``of``: the same member key, fresh device keys."""
        return Identity.from_secrets(of.member.seed, self.bytes(32), self.bytes(32), name)


@dataclass
class View:
    """One person's device: their identity, their copy of the log and their keys."""

    identity: Identity
    log: GroupLog
    keys: Keyring


@dataclass
class World:
    rand: Rand
    mailbox: bytes
    people: dict[str, Identity] = field(default_factory=dict)
    views: dict[str, View] = field(default_factory=dict)
    relay: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    item_log: list[tuple[int, bytes]] = field(default_factory=list)
    item_seqs: dict[str, int] = field(default_factory=dict)  # person → their last item number
    item_links: dict[tuple[str, int], bytes] = field(default_factory=dict)  # (person, number) → link
    secrets: dict[str, inv.InvitationSecret] = field(default_factory=dict)
    requests: dict[str, bytes] = field(default_factory=dict)  # person → request id
    letters: dict[str, bytes] = field(default_factory=dict)  # person → their welcome

    # -- setting up ----------------------------------------------------------

    @classmethod
    def create(cls, seed: int | str = 0, *, vouches: int = 2, creator: str = "alice",
               group_name: str = "Minsk mutual aid", history: str = "all",
               mailbox: bytes | None = None) -> World:
        rand = Rand(seed)
        drawn = rand.bytes(wire.MAILBOX_ID_BYTES)
        world = cls(rand, drawn if mailbox is None else mailbox)
        me = world.person(creator)
        new, gen0 = build.create_group(mailbox=world.mailbox, name=group_name, creator=me,
                                       creator_name=creator,
                                       vouches=vouches, seed=rand.bytes(32),
                                       group_nonce=rand.bytes(16), nonce=rand.bytes(24),
                                       history=history)
        view = View(me, GroupLog(world.mailbox), Keyring(me.boxing, {0: gen0}))
        world.views[creator] = view
        world.publish(new)
        return world

    def person(self, name: str) -> Identity:
        if name not in self.people:
            self.people[name] = self.rand.identity()
        return self.people[name]

    @property
    def group(self) -> bytes:
        return next(iter(self.views.values())).log.group

    def log(self, name: str) -> GroupLog:
        return self.views[name].log

    def keys(self, name: str) -> Keyring:
        return self.views[name].keys

    # -- the relay -----------------------------------------------------------

    def publish(self, new: build.NewEntry) -> None:
        """Append to the relay and let every device that still can apply it."""
        self.relay.append((new.seq, new.prev, new.ciphertext))
        for name, view in list(self.views.items()):
            try:
                view.log.apply(new.seq, new.prev, new.ciphertext, view.keys)
            except DecryptionError:
                del self.views[name]  # left out of a rotation: this device stops here

    def post(self, author: str, kind: str, body: dict) -> build.NewEntry:
        view = self.views[author]
        new = build.entry(view.log, kind, body, author=view.identity, keys=view.keys,
                          nonce=self.rand.bytes(24))
        self.publish(new)
        return new

    def forge(self, signer: Identity, kind: str, body: dict, *, reader: str = "alice",
              seq: int | None = None, prev: bytes | None = None, group: bytes | None = None,
              generation: Generation | None = None, key_block=None,
              in_force: Generation | None = None) -> tuple[int, bytes, bytes]:
        """An entry for the next position (as ``reader`` sees it) written by anyone who
        holds the log key, e.g. a departed member or a relay that stole a seed."""
        view = self.views[reader]
        head, head_hash = view.log.head
        seq = head + 1 if seq is None else seq
        prev = head_hash if prev is None else prev
        ct = seal_entry(mailbox=self.mailbox, group=view.log.group if group is None else group,
                        seq=seq, prev=prev, in_force=in_force or view.keys.generations[view.log.generation],
                        kind=kind, body=body, author=signer.member_id, device=signer.signing,
                        generation=generation or view.keys.generations[view.log.generation],
                        nonce=self.rand.bytes(24), key_block=key_block)
        return seq, prev, ct

    # -- admission -----------------------------------------------------------

    def invite(self, by: str, label: str) -> inv.InvitationSecret:
        secret = inv.InvitationSecret(self.rand.bytes(32))
        self.secrets[label] = secret
        self.post(by, "invite", secret.log_body())
        return secret

    def code(self, label: str) -> str:
        return inv.InvitationCode(RELAY, self.mailbox, self.group, self.secrets[label]).to_text()

    def join_request(self, name: str, label: str) -> bytes:
        """What the invitee ``name`` drops for the group, from the code alone."""
        code = inv.InvitationCode.from_text(self.code(label))
        return inv.make_join_request(code.group, code.secret, self.person(name), name)

    def request(self, name: str, label: str, *, by: str) -> bytes:
        signed = self.join_request(name, label)
        self.post(by, "request", {"request": signed})
        self.requests[name] = inv.request_id(signed)
        return self.requests[name]

    def vouch(self, by: str, name: str) -> None:
        self.post(by, "vouch", {"request": self.requests[name]})

    def admit(self, by: str, name: str, role: str = "member") -> None:
        self.post(by, "admit", {"request": self.requests[name], "role": role})

    def welcome_for(self, name: str, *, by: str) -> bytes:
        """The welcome ``by`` seals for ``name`` now: the current generation, bound to
        the entry that admitted them."""
        sender = self.views[by]
        log = sender.log
        member = log.members[self.person(name).public.id]
        return inv.make_welcome(self.person(name).boxing.public, self.rand.bytes(32), log.group,
                                self.requests[name], sender.keys.generations[log.generation],
                                admit=(member.since, log.hash_at(member.since)),
                                starts=[g.start for g in log.generations[1:]])

    def welcome(self, name: str, *, by: str) -> View:
        """``by`` seals the current generation to ``name``, who then folds the log."""
        letter = self.welcome_for(name, by=by)
        self.letters[name] = letter
        view = self.fold_as_newcomer(name, letter)
        self.views[name] = view
        return view

    def fold_as_newcomer(self, name: str, letter: bytes,
                         relay: list[tuple[int, bytes, bytes]] | None = None) -> View:
        relay = self.relay if relay is None else relay
        me = self.person(name)
        welcome = inv.open_welcome(me.boxing, letter, self.group)
        log, keys = adopt(self.mailbox, self.group, relay, welcome, me.boxing, me.public.id)
        return View(me, log, keys)

    def join(self, name: str, *, invited_by: str, vouchers: list[str], admitted_by: str,
             role: str = "member") -> View:
        label = f"for-{name}"
        self.invite(invited_by, label)
        self.request(name, label, by=invited_by)
        for v in vouchers:
            self.vouch(v, name)
        self.admit(admitted_by, name, role)
        return self.welcome(name, by=admitted_by)

    # -- rotation ------------------------------------------------------------

    def build_rotation(self, by: str, *, remove: str | None = None,
                       items_cutoff: dict[bytes, int] | None = None) -> build.NewEntry:
        """A rotation (or removal) by ``by``, built but not yet on the relay. Its item
        cut-off is, unless given, every author's last item number so far (with the link
        of their item with that number)."""
        view = self.views[by]
        if items_cutoff is None:
            items_cutoff = {self.person(name).device_id: n for name, n in self.item_seqs.items()}
        names = {self.person(name).device_id: name for name in self.people}
        cutoff = {a: (n, self.item_links.get((names.get(a, ""), n), bytes(32))) for a, n in items_cutoff.items()}
        return build.rotation(view.log, author=view.identity, keys=view.keys,
                              seed=self.rand.bytes(32), ephemeral_secret=self.rand.bytes(32),
                              nonce=self.rand.bytes(24), auth_nonce=self.rand.bytes(24),
                              items_cutoff=cutoff,
                              remove=None if remove is None else self.person(remove).public.id)

    def rotate(self, by: str, *, remove: str | None = None,
               items_cutoff: dict[bytes, int] | None = None) -> build.NewEntry:
        new = self.build_rotation(by, remove=remove, items_cutoff=items_cutoff)
        self.publish(new)
        return new

    # -- devices -------------------------------------------------------------

    def link(self, owner: str, name: str, device_name: str | None = None) -> View:
        """A new device ``name`` of ``owner``'s member: ``owner``'s device records it with a
        ``device-add`` and hands it every seed it holds; the new device folds the log."""
        me = self.rand.device(self.person(owner), device_name or name)
        self.people[name] = me
        view = self.views[owner]
        self.publish(build.device_add(view.log, me.device_record(view.log.group), author=view.identity,
                                      keys=view.keys, nonce=self.rand.bytes(24)))
        keys = Keyring(me.boxing, dict(view.keys.generations))
        log = GroupLog(self.mailbox, self.group)
        for entry in self.relay:
            log.apply(*entry, keys)
        self.views[name] = View(me, log, keys)
        return self.views[name]

    def build_revocation(self, by: str, devices: list[str], *, add: Identity | None = None) -> build.NewEntry:
        """A ``device-revoke`` by ``by`` of the named devices (adding ``add``'s record)."""
        view = self.views[by]
        names = {self.person(name).device_id: name for name in self.people}
        cutoff = {a: (n, self.item_links.get((names.get(a, ""), n), bytes(32)))
                  for a, n in ((self.person(name).device_id, n) for name, n in self.item_seqs.items())}
        return build.device_revoke(view.log, [self.person(d).device_id for d in devices], author=view.identity,
                                   keys=view.keys, seed=self.rand.bytes(32), ephemeral_secret=self.rand.bytes(32),
                                   nonce=self.rand.bytes(24), auth_nonce=self.rand.bytes(24), items_cutoff=cutoff,
                                   add=None if add is None else add.device_record(view.log.group))

    # -- items ---------------------------------------------------------------

    def seal_item(self, author: str, text: str, *, kind: str = "bulletin",
                  body: dict | None = None, head: tuple[int, bytes] | None = None,
                  generation: Generation | None = None, time: int = 1_700_000_000_000,
                  seq: int | None = None, prev: bytes | None = None) -> tuple[bytes, bytes]:
        """An item by ``author``, numbered next after their last one unless ``seq`` is given,
        chained to their item ``seq - 1`` unless ``prev`` is given."""
        view = self.views[author]
        if seq is None:
            seq = self.item_seqs.get(author, 0) + 1
        if prev is None:
            prev = self.item_links.get((author, seq - 1), items.ZERO_LINK) if type(seq) is int else items.ZERO_LINK
        link, ct = items.seal_item_linked(
            group=view.log.group, kind=kind, body=body or {"title": "news", "text": text},
            author=view.identity.signing, seq=seq, head=head or view.log.head, time=time,
            generation=generation or view.keys.generations[view.log.generation],
            nonce=self.rand.bytes(24), prev=prev)
        self.item_seqs[author] = max(seq, self.item_seqs.get(author, 0))
        self.item_links.setdefault((author, seq), link)
        return link[:items.ITEM_ID_BYTES], ct

    def post_item(self, author: str, text: str, **kw) -> tuple[int, bytes, bytes]:
        """Seal an item and put it on the relay; returns (cursor, id, ciphertext)."""
        iid, ct = self.seal_item(author, text, **kw)
        cursor = len(self.item_log) + 1
        self.item_log.append((cursor, ct))
        return cursor, iid, ct

    # -- folding from scratch ------------------------------------------------

    def fold(self, name: str, relay: list[tuple[int, bytes, bytes]] | None = None,
             keys: Keyring | None = None) -> GroupLog:
        """A fresh fold of the relay's log (or ``relay``) with ``name``'s keys as they
        were before the first rotation (generation 0 only)."""
        view = self.views[name]
        keys = keys or Keyring(view.identity.boxing, {0: view.keys.generations[0]})
        log = GroupLog(self.mailbox, self.group)
        for entry in self.relay if relay is None else relay:
            log.apply(*entry, keys)
        return log


def authorised(block: KeyBlock, previous: Generation, *, signer: Identity, group: bytes,
               seq: int, nonce: bytes, digest: bytes | None = None, sealed_seq: int | None = None,
               plaintext: bytes | None = None, removed: bytes = b"") -> KeyBlock:
    """``block`` with its authorisation made again by hand, as keys.md §4 describes it,
    so that each part can be wrong on its own: who signs, the group and position signed
    for, the digest signed, whom it removes (``b""``: no one), the position it is sealed
    for, or the sealed bytes."""
    if plaintext is None:
        signed = encode([group, seq, block.digest if digest is None else digest, removed])
        plaintext = encode([signer.device_id, removed,
                            crypto.sign(signer.signing, "hramada:v1:key-block-auth", signed)])
    aad = encode(["hramada:v1:key-block-auth", seq if sealed_seq is None else sealed_seq])
    sealed = crypto.encrypt(previous.auth_key, nonce, plaintext, aad)
    return KeyBlock(block.ephemeral, block.boxes, block.back, nonce + sealed, block.back_content)


def signed_again(entry: tuple[int, bytes, bytes], envelope: bytes, in_force: Generation,
                 mailbox: bytes) -> tuple[int, bytes, bytes]:
    """``entry`` with ``envelope`` in place of its own, append-signed with ``in_force``:
    what a member holding the group's key (not the relay) can append."""
    seq, prev, _ = entry
    return seq, prev, wire.sign_append(in_force.append_key, mailbox, seq, prev, envelope)


def with_key_block(entry: tuple[int, bytes, bytes], change) -> tuple[int, bytes, bytes]:
    """The relay's ``(seq, prev, ciphertext)`` with ``change(key block)`` in place of its key
    block; nothing inside the AEAD is touched (what a relay can do)."""
    seq, prev, ct = entry
    env = Envelope.parse(envelope_bytes(ct))
    return seq, prev, Envelope(env.nonce, env.sealed, change(env.key_block)).to_bytes() + ct[-64:]


def summary(log: GroupLog) -> dict:
    """Everything a user could see about a group's state, as plain comparable data."""
    def member(m):
        return (m.name, m.key.sign.raw, m.key.relay, m.role, m.since, m.until,
                m.request, m.vouchers, tuple((d.id, d.box, d.since) for d in m.devices.values()))
    return {
        "group": log.group, "name": log.name, "head": log.head,
        "vouches_required": log.vouches_required, "generation": log.generation,
        "members": {k: member(m) for k, m in log.members.items()},
        "former": {k: member(m) for k, m in log.former.items()},
        "invites": {k: (i.sign.raw, i.box_key, i.drop, i.by, i.seq, i.request)
                    for k, i in log.invites.items()},
        "devices": {k: (d.member, d.record, d.since, d.until, d.last_item) for k, d in log.devices.items()},
        "requests": {k: (r.name, r.key.sign.raw, r.device.sign, r.invite, r.seq, r.posted_by,
                         tuple(r.vouches), r.status) for k, r in log.requests.items()},
        "generations": [(g.number, g.commitment, g.cap_hash, g.start, g.end, g.items_cutoff)
                        for g in log.generations],
        "hashes": list(log.hashes), "warnings": list(log.warnings),
        "rotation_due": log.rotation_due,
    }
