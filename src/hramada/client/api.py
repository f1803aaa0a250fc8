"""The public Python API of a Hramada profile; the CLI and the web UI both call it.

    async with await Hramada.open(home, passphrase) as h:
        group = await h.create_group("Mutual aid Tbilisi", "http://127.0.0.1:8470", vouches=2)
        code = await h.invite(group.id)
        ...

Every method that reads a group syncs it first, except :meth:`Hramada.post` and
:meth:`Hramada.comment`, which queue the item and send it in one round trip, and
:meth:`Hramada.groups`, which shows what this device holds; the admission commands
that append an entry act on the verified local log and append at its head
(:mod:`hramada.client.admission`). With the relay out of
reach, reads show what is stored and ``GroupInfo.offline`` says why it may be out of
date; posts stay queued (:meth:`Hramada.queued`) and go out at the next sync.

``GroupInfo.alarm`` is proven tampering only (the CLI exits 3);
``GroupInfo.suspicion`` is what the relay may be withholding (exit 4, see
:meth:`Hramada.suspicions`); ``GroupInfo.offline`` is a relay that could not be
reached or refused (neither). Every listing returns plain dataclasses that the CLI
prints as tables or JSON (:mod:`hramada.client.views`). The admission operations
(invite, join, vouch, admit, ...) are in :mod:`hramada.client.admission`.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from hramada.client import link_devices, notices, numbering, profile
from hramada.client.admission import Admissions
from hramada.client.devices import DeviceCommands, leaving_items
from hramada.client.link_join import JoinLink
from hramada.client.linking import Linking
from hramada.client.recovery import RECOVERING, RecoveryCode, RecoveryCommands, import_kit
from hramada.client.session import GroupSession
from hramada.client.store import Store
from hramada.client.sync import Progress, random
from hramada.client.transport import Relay
from hramada.client.views import GroupInfo, InviteInfo, ItemView, JoinInfo, MemberInfo, RequestInfo, as_json
from hramada.client.watching import share
from hramada.core import build, wire
from hramada.core.identity import Identity, fingerprint, safety_code
from hramada.core.names import clean_name
from hramada.core.items import ITEM_ID_BYTES, check_body
from hramada.core.state import GroupLog, Keyring
from hramada.core.urls import check_relay_url
from hramada.errors import HramadaError, NotFoundError, PolicyError, RelayError, RelayUnreachable

FORGETTABLE = ("pending", "removed", "left", "revoked", RECOVERING)
HISTORY_POLICIES = ("since-join", "all")
SUITES = (1, 2)      # the cipher suites a new group may use (keys.md §9)
DEFAULT_SUITE = 1    # suite 2 by `--suite 2`: a seized profile of a suite-2 group can still single out its mailbox (keys.md §8)


class Hramada(Linking, JoinLink, DeviceCommands, Admissions, RecoveryCommands):
    """An unlocked profile."""

    def __init__(self, unlocked: profile.Unlocked, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.home = unlocked.home
        self.store = Store(unlocked.home / profile.STORE, unlocked.store_key)
        self.name = self.store.profile_name() or unlocked.name  # a linked device learns it from the link
        # noted in the profile so that panic can stop this process; the note goes at
        # close, or when this object is dropped, or at exit
        self._unregister = weakref.finalize(self, profile.unregister_process,
                                            profile.register_process(self.home))
        self._transport = transport
        self._relays: dict[str, Relay] = {}
        self._init_loaded()

    # -- lifecycle ----------------------------------------------------------------

    @classmethod
    def init(cls, home: Path, passphrase: str, name: str, **kw: Any) -> "Hramada":
        return cls(profile.create(home, passphrase, name), **kw)

    @classmethod
    def open(cls, home: Path, passphrase: str, **kw: Any) -> "Hramada":
        return cls(profile.unlock(home, passphrase), **kw)

    @classmethod
    def from_kit(cls, home: Path, path: Path, kit_passphrase: str, passphrase: str, device_name: str,
                 **kw: Any) -> tuple["Hramada", list[RecoveryCode]]:
        """A new profile from a recovery kit (``hramada backup import``): each of its
        groups waits for an admin to re-admit this device; returns the recovery codes."""
        unlocked, codes = import_kit(home, path, kit_passphrase, passphrase, device_name)
        return cls(unlocked, **kw), codes

    async def close(self) -> None:
        for relay in self._relays.values():
            await relay.close()
        self._relays.clear()
        self.store.close()
        self._unregister()

    async def __aenter__(self) -> "Hramada":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- groups -------------------------------------------------------------------

    async def create_group(self, name: str, relay_url: str, vouches: int = 1,
                           history: str = "since-join", suite: int = DEFAULT_SUITE) -> GroupInfo:
        name = clean_name(name)
        relay_url = check_relay_url(relay_url)
        if not isinstance(vouches, int) or vouches < 1:
            raise ValueError("--vouches must be at least 1")
        if history not in HISTORY_POLICIES:
            raise ValueError("--history is since-join or all")
        if suite not in SUITES or type(suite) is not int:
            raise ValueError("--suite is 1 or 2")
        identity = Identity.from_secrets(random(32), random(32), random(32), suite=suite)
        mailbox = random(wire.MAILBOX_ID_BYTES)
        ne, gen0 = build.create_group(mailbox=mailbox, name=name, creator=identity,
                                      creator_name=self.name, vouches=vouches, seed=random(32),
                                      group_nonce=random(16), nonce=random(24), history=history)
        relay = self._relay(relay_url)
        await relay.create_mailbox(mailbox, wire.cap_hash(gen0.relay_cap), identity.relay_admin.public.raw)
        await relay.append_log(mailbox, gen0.relay_cap, ne.seq, ne.prev, ne.ciphertext)
        log = GroupLog(mailbox)
        log.apply(ne.seq, ne.prev, ne.ciphertext, Keyring(identity.boxing, {0: gen0}))
        record = {"group": log.group, "name": name, "relay": relay.url, "mailbox": mailbox,
                  "me": self.name, "id": list(identity.secrets()), "device": identity.device_name,
                  "suite": suite, "gens": [[0, gen0.seed]],
                  "status": "active", "pin": [0, wire.GENESIS_PREV], "items": 0, "drops": 0}
        with self.store.transaction():
            ref = self.store.add_group(record)
            self.store.add_log(ref, ne.seq, ne.prev, ne.ciphertext)
            session = GroupSession.load(self.store, ref)
            session.save(self.store)
        return self._info(self._session(ref))

    def _info(self, s: GroupSession) -> GroupInfo:
        me = s.me if s.status == "active" else None
        return GroupInfo(group=s.group_id.hex(), name=s.name, relay=s.record["relay"], status=s.status,
                         role=me.role if me else None, members=len(s.log.members),
                         generation=s.log.generation if s.log.generations else 0,
                         alarm=s.record.get("alarm") if s.status == "alarm" else None,
                         suspicion=s.record.get("suspicion"), offline=self._offline.get(s.ref),
                         news=self._news.get(s.ref, 0),
                         warnings=[notices.render(s.log, code, params) for code, params in s.log.warnings]
                         + [notices.render_unreadable(s.log, invite, why)
                            for _, invite, why in s.record.get("unreadable", [])]
                         + [f"refused: {text}" for text in s.record.get("void_items", [])]
                         + list(s.record.get("item_notes", []))
                         + ([notices.refusal_claim(s.record["refused"], s.group_id.hex())]
                            if s.status == "pending" and s.record.get("refused") else [])
                         + ([notices.recovery_waiting(s.record["recovery"].get("rejected", 0))]
                            if s.status == RECOVERING else [])
                         + list(s.record.get("recovery_notes", [])),
                         history=s.log.history if s.log.generations else "",
                         vouches=s.log.vouches_needed() if s.log.generations else 0,
                         suite=s.log.suite if s.log.generations else s.record.get("suite", 1))

    def groups(self) -> list[GroupInfo]:
        return [self._info(s) for s in self._sessions()]

    async def sync(self, group: str | None = None, progress: Progress | None = None) -> list[GroupInfo]:
        """Sync every group (or one). Each group's outcome is reported for that group:
        one group's failure never stops the others. A relay out of reach or refusing is
        in that group's ``offline``; any other failure (a damaged record, an address
        that cannot be used) in its ``error``."""
        refs = [self._find(group).ref] if group else list(self._refs())
        out = []
        for ref in refs:
            s = None
            try:
                s = self._session(ref)
                await self._sync(s, progress)
            except RelayError:
                pass  # in GroupInfo.offline
            except (HramadaError, ValueError) as exc:
                info = self._info(s) if s is not None else self._bare_info(ref)
                info.error = str(exc)
                out.append(info)
                continue
            out.append(self._info(s))
        return out

    def _bare_info(self, ref: int) -> GroupInfo:
        """What can be said about a group whose record could not be loaded."""
        rec = self._refs().get(ref, {})
        group = rec.get("group")
        return GroupInfo(group=group.hex() if isinstance(group, bytes) else "?", name=str(rec.get("name", "?")),
                         relay=str(rec.get("relay", "?")), status=str(rec.get("status", "?")))

    async def watch(self, timeout: int = 25) -> list[GroupInfo]:
        """Wait until any active group has news (or ``timeout`` passes), then sync the
        groups that have it. Returns their new state (empty if nothing happened).

        A relay that cannot be reached is reported once (``offline`` set), not at every
        turn; when it answers again the group syncs (sending what was queued) and is
        reported with ``offline`` cleared. A group whose sync brought nothing new and left
        a suspicion backs off (``watching.py``): it does not spin on a withholding relay,
        and the same suspicion is reported once. Any other failure of a group's wait is
        reported in its ``error`` and does not stop the others."""
        sessions = [s for s in self._sessions() if s.status == "active"]
        if not sessions:
            await profile.unless_wiped(self.home, asyncio.sleep(min(timeout, 5)))
            return []
        on_relay = Counter(s.record["relay"] for s in sessions)  # waits take turns (watching.share)
        news = await profile.unless_wiped(self.home, asyncio.gather(
            *(self._engine(s).wait(self._backoff.timeout(s.ref, share(timeout, on_relay[s.record["relay"]])),
                                   self._backoff.floor(s.ref))
              for s in sessions), return_exceptions=True))
        out: list[GroupInfo] = []
        due: list[tuple[GroupSession, dict]] = []
        fresh = False
        for s, n in zip(sessions, news):
            if isinstance(n, RelayError):
                first = s.ref not in self._offline
                self._offline[s.ref] = str(n)
                if first and n.code == "unauthorized" and not isinstance(n, RelayUnreachable):
                    # its capability refused: a sync checks whether the relay lost a write
                    # it acknowledged (an alarm), else reports the refusal once
                    due.append((s, {"log": 0, "items": 0, "drops": 0, "changed": True}))
                elif first:
                    fresh = True
                    out.append(self._info(s))
            elif isinstance(n, (HramadaError, ValueError)):
                info = self._info(s)
                info.error = str(n)
                out.append(info)
            elif isinstance(n, BaseException):
                raise n
            elif self._backoff.due(s.ref, n["changed"]) or s.ref in self._offline:
                due.append((s, n))
        if not due and not fresh and all(isinstance(n, (HramadaError, ValueError)) for n in news):
            await profile.unless_wiped(self.home, asyncio.sleep(min(timeout, 5)))  # every wait failed: do not spin
        for s, heads in due:
            for info in await self.sync(s.group_id.hex()):
                if self._backoff.synced(s.ref, info.news, info.suspicion, heads) or info.error or info.alarm:
                    out.append(info)
        return out

    async def members(self, group: str) -> list[MemberInfo]:
        s = await self._synced(group)
        my_id = s.identity.public.id
        return [MemberInfo(m.name, m.role, fingerprint(m.key), m.since,
                           [s.name_of(v) for v in m.vouchers], m.key.id == my_id)
                for m in sorted(s.log.members.values(), key=lambda m: m.since)]

    def forget_group(self, group: str) -> dict:
        """Drop a group this profile is no longer part of (a pending or refused request,
        a recovery no admin answered, a group it was removed from or left) with
        everything stored about it."""
        s = self._find(group)
        if s.status not in FORGETTABLE:
            raise PolicyError(f"{s.name!r} is {s.status}: only a pending or refused request, or a group "
                              "you left or were removed from, or a recovery still waiting, can be forgotten (leave it first)")
        self.store.delete_group(s.ref)
        return {"forgotten": s.name, "group": s.group_id.hex(), "status": s.status}

    async def remove(self, group: str, member: str) -> dict:
        s = await self._synced(group)
        s.require_role("admin")
        target = s.find_member(member)
        if target.key.id == s.identity.public.id:
            raise PolicyError("you cannot remove yourself; another admin must, or leave the group")

        def check() -> None:
            if target.key.id not in s.log.members:
                raise PolicyError(f"{target.name} is no longer a member")
        await self._engine(s).rotate(remove=target.key.id, check=check)
        await self._close_drops_of(s, target.key.id)
        return {"removed": target.name, "fingerprint": fingerprint(target.key),
                "generation": s.log.generation}

    async def leave(self, group: str) -> dict:
        """Leave a group. An admin's client rotates the key when it next syncs."""
        s = await self._synced(group)
        me = s.require_role("admin", "member", "newcomer")
        admins = [m for m in s.log.members.values() if m.role == "admin"]
        if me.role == "admin" and len(admins) == 1 and len(s.log.members) > 1:
            raise PolicyError("you are the group's only admin: make another member admin first")
        # the journal marks the group left with it; the entry names the last item number of
        # each of the member's devices (this one's own count, the others' as verified here),
        # so nothing numbered after it can pass as written before leaving
        await self._engine(s).append("leave", {"items": leaving_items(s)})
        await self._close_drops_of(s, s.identity.public.id)
        return {"left": s.name}

    async def set_role(self, group: str, member: str, role: str) -> MemberInfo:
        """Give or take the admin role (admins only); the group always keeps an admin."""
        if role not in ("admin", "member"):
            raise ValueError("a role is admin or member")
        s = await self._synced(group)
        s.require_role("admin")
        target = s.find_member(member)

        def check() -> None:
            m = s.log.members.get(target.key.id)
            if m is None:
                raise PolicyError(f"{target.name} is no longer a member")
            if m.role == role:
                raise PolicyError(f"{m.name} is {role} already")
            if m.role == "admin" and sum(x.role == "admin" for x in s.log.members.values()) == 1:
                raise PolicyError("the group must keep an admin: make another member admin first")
        await self._engine(s).append("role", {"member": target.key.id, "role": role}, check)
        m = s.log.members[target.key.id]
        return MemberInfo(m.name, m.role, fingerprint(m.key), m.since, [s.name_of(v) for v in m.vouchers],
                          m.key.id == s.identity.public.id)

    async def set_policy(self, group: str, *, history: str | None = None, vouches: int | None = None) -> GroupInfo:
        """Change the group's history policy or vouches needed (admins only)."""
        if history is not None and history not in HISTORY_POLICIES:
            raise ValueError("the history policy is since-join or all")
        if vouches is not None and (not isinstance(vouches, int) or vouches < 1):
            raise ValueError("--vouches must be at least 1")
        body = {k: v for k, v in (("history", history), ("vouches", vouches)) if v is not None}
        if not body:
            raise ValueError("say what to change: --history and/or --vouches")
        s = await self._synced(group)
        s.require_role("admin")
        await self._engine(s).append("policy", body)
        return self._info(s)

    async def rotate(self, group: str) -> dict:
        s = await self._synced(group)
        s.require_role("admin")
        await self._engine(s).rotate()
        return {"generation": s.log.generation}

    # -- bulletins ----------------------------------------------------------------

    async def _post_item(self, s: GroupSession, kind: str, body: dict) -> str:
        s.require_active()
        try:
            item, queued = await self._engine(s).post_item(kind, body)
        except RelayError as exc:
            self._offline[s.ref] = str(exc)
            raise
        if queued:
            self._offline[s.ref] = f"could not reach the relay at {s.record['relay']}"
        return item.hex()

    async def post(self, group: str, text: str, title: str = "") -> str:
        """Queue a bulletin and send it (one round trip, no sync first). Returns its id;
        if the relay is out of reach it stays queued (see :meth:`queued`)."""
        body = check_body("bulletin", {"title": title or "", "text": text})
        return await self._post_item(self._find(group), "bulletin", body)

    def queued(self, group: str) -> list[str]:
        """Ids of this device's items still waiting in the outgoing queue."""
        s = self._find(group)
        return [job["id"].hex() for _, job in self.store.outbox(s.ref) if job.get("t") == "item"]

    def info(self, group: str) -> GroupInfo:
        """One group as this device holds it (``offline`` set if its last sync in this
        session could not reach the relay)."""
        return self._info(self._find(group))

    async def comment(self, group: str, item: str, text: str) -> str:
        try:
            parent = bytes.fromhex(item.strip())
        except ValueError:
            raise ValueError(f"{item!r} is not an item id") from None
        if len(parent) != ITEM_ID_BYTES:
            raise ValueError(f"{item!r} is not an item id ({ITEM_ID_BYTES * 2} hex digits)")
        body = check_body("comment", {"parent": parent, "text": text})
        s = self._find(group)
        if not any(v["id"] == parent and v["kind"] == "bulletin" for _, v in self.store.items(s.ref)):
            try:
                await self._sync(s)  # perhaps the bulletin arrived since the last sync
            except RelayUnreachable:
                pass
            if not any(v["id"] == parent and v["kind"] == "bulletin" for _, v in self.store.items(s.ref)):
                raise NotFoundError(f"no bulletin {item} in {s.name!r}")
        return await self._post_item(s, "comment", body)

    async def read(self, group: str, progress: Progress | None = None) -> list[ItemView]:
        """Sync, then show the group's bulletins. With the relay out of reach, show what
        is stored (``info(group).offline`` says why it may be out of date)."""
        s = self._find(group)
        try:
            await self._sync(s, progress)
        except RelayUnreachable:
            pass
        s.require_active()
        rows = [v for _, v in self.store.items(s.ref)]  # one per author and number, on the bound chains
        held = {n for n, g in s.keys.generations.items() if g.full}
        ordered = sorted(numbering.shown(rows, numbering.check_chains(rows, s.log, held)),
                         key=lambda v: (v["time"], v["id"]))
        authors = {a: _author(s, a) for a in {v["author"] for v in ordered}}
        bulletins = {v["id"]: ItemView(v["id"].hex(), authors[v["author"]][0], v["time"], v["body"]["text"],
                                       v["body"].get("title", ""), author_fingerprint=authors[v["author"]][1])
                     for v in ordered if v["kind"] == "bulletin"}
        for v in ordered:
            if v["kind"] == "comment" and v["body"]["parent"] in bulletins:
                name, print_ = authors[v["author"]]
                bulletins[v["body"]["parent"]].comments.append(
                    {"item": v["id"].hex(), "author": name, "time": v["time"],
                     "text": v["body"]["text"], "author_fingerprint": print_})
        return list(bulletins.values())

    # -- devices ------------------------------------------------------------------

    async def my_devices(self) -> list[dict]:
        """This member's devices across the profile's groups, matched by name:
        ``[{"device", "name", "current", "added"}]`` (``link_devices.my_devices``)."""
        return await link_devices.my_devices(self)

    async def revoke_device(self, device: str) -> dict:
        """Revoke one of this member's other devices in every group (keys rotate)."""
        return await link_devices.revoke_everywhere(self, device)

    async def group_info(self, group: str) -> dict:
        """``{"group", "name", "suite", "history", "vouches", "generation", "members",
        "devices"}`` after a sync (as stored if the relay is out of reach)."""
        s = self._find(group)
        try:
            await self._sync(s)
        except RelayUnreachable:
            pass
        s.require_active()
        return link_devices.group_info(s)

    # -- safety -------------------------------------------------------------------

    async def safety_code(self, group: str, member: str) -> dict:
        s = await self._synced(group)
        m = s.find_member(member)
        return {"member": m.name, "fingerprint": fingerprint(m.key), "code": safety_code(s.group_id, m.key, s.log.suite)}


AUTHOR_PRINT_CHARS = 9  # "xxxx xxxx": enough to tell two look-alike names apart at a glance


def _author(s: GroupSession, device: bytes) -> tuple[str, str]:
    """An item author's name and the start of their member fingerprint, shown beside it:
    an item's author is a device, shown as its member."""
    m = s.log.member_of(device)
    if m is None:
        return "(unknown)", ""
    return m.name, fingerprint(m.key)[:AUTHOR_PRINT_CHARS]


def run(coro: Any) -> Any:
    """Run one API coroutine to completion (for synchronous callers)."""
    return asyncio.run(coro)


__all__ = ["Hramada", "GroupInfo", "MemberInfo", "RequestInfo", "InviteInfo", "JoinInfo", "ItemView", "as_json",
           "HramadaError", "run"]
