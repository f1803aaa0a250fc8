"""The sync engine: pull, verify, apply; then send what is queued.

Rules it keeps:

* Everything the relay serves is verified by the core before it is stored. Any
  verification failure stops the group: its status becomes ``alarm`` with the reason,
  stored, and every later command on it refuses with that alarm (never a log line).
* The pin: the highest ``(seq, hash)`` this device has seen. A relay whose log is
  shorter than the pin, or disagrees with it, is rolling back or forking: alarm.
* The journal rule: state and the outgoing queue are committed in one local
  transaction, and only then sent. A send that fails stays queued for the next sync.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Awaitable, Callable

import nacl.utils

from hramada.client.session import GroupSession
from hramada.client.store import Store
from hramada.client.transport import LogConflict, Relay
from hramada.core import build, crypto, invitation, items as items_mod
from hramada.core.joining import WelcomeMismatch, adopt
from hramada.errors import (DecryptionError, EncodingError, ForkError, HramadaError,
                            KeyWithheldError, PolicyError, RelayError, VerificationError)

Progress = Callable[[str, int, int], None]  # (what, done, total)
PAGE = 1000
MAX_PENDING = 1000  # items waiting for log entries the relay has not shown yet
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hramada-verify")  # the second core


def random(n: int) -> bytes:
    return nacl.utils.random(n)


def now_ms() -> int:
    return int(time.time() * 1000)


class Engine:
    """Syncs and writes one group through one relay."""

    def __init__(self, store: Store, session: GroupSession, relay: Relay,
                 progress: Progress | None = None) -> None:
        self.store, self.s, self.relay = store, session, relay
        self.progress = progress or (lambda what, done, total: None)

    # -- the whole sync -----------------------------------------------------------

    async def sync(self) -> None:
        s = self.s
        if s.status in ("alarm", "removed", "left"):
            return
        try:
            if s.status == "pending":
                if not await self._finish_joining():
                    return
            await self.pull_log()
            if s.status != "active":
                return
            await self._flush_outbox()
            await self._rotate_if_due()
            await self._take_join_requests()
            await self.pull_items()
        except (VerificationError, DecryptionError, EncodingError) as exc:
            self._stop(exc)

    async def wait(self, timeout: int = 25) -> bool:
        """Block until the relay has news for this group (or ``timeout`` seconds pass),
        without polling. Returns True if there is news."""
        s = self.s
        if s.status != "active":
            return False
        answer = await self.relay.wait(s.record["mailbox"], s.cap, s.log.head[0], s.record["items"],
                                       s.record["drops"], timeout)
        return bool(answer.get("changed"))

    def _stop(self, exc: HramadaError) -> None:
        s = self.s
        with self.store.transaction():
            if isinstance(exc, KeyWithheldError):
                s.record["status"] = "removed"
            else:
                s.record["status"] = "alarm"
                s.record["alarm"] = f"{type(exc).__name__}: {exc}"
            self.store.put_group(s.ref, s.record)

    # -- the log ------------------------------------------------------------------

    async def pull_log(self) -> int:
        """Fetch, verify and store new log entries. Returns how many were applied."""
        s = self.s
        applied = 0
        while True:
            pin_seq, pin_hash = s.record["pin"]
            entries, (head_seq, head_hash) = await self.relay.read_log(
                s.record["mailbox"], s.cap, s.log.head[0], PAGE)
            if head_seq < pin_seq:
                raise ForkError(f"the relay rolled the log back to {head_seq} entries; "
                                f"this device has already seen {pin_seq}")
            ours_seq, ours_hash = s.log.head
            if head_seq == ours_seq and not crypto.equal(head_hash, ours_hash):
                raise ForkError(f"the relay's entry {head_seq} differs from the one this device verified")
            if not entries:
                if head_seq > ours_seq:
                    raise ForkError(f"the relay claims {head_seq} entries but withholds them")
                return applied
            with self.store.transaction():
                for e in entries:
                    expected = s.log.head[0] + 1
                    if e.seq != expected:
                        raise ForkError(f"the relay served entry {e.seq} where entry {expected} belongs "
                                        "(dropped or reordered)")
                    s.log.apply(e.seq, e.prev, e.ciphertext, s.keys)
                    if not crypto.equal(s.log.head[1], e.hash):
                        raise ForkError(f"the relay misreports the hash of entry {e.seq}")
                    self.store.add_log(s.ref, e.seq, e.prev, e.ciphertext)
                    applied += 1
                s.save(self.store)

    async def append(self, kind: str, body: dict, check: Callable[[], None] | None = None) -> None:
        """Append one entry at the head; on a race, pull and try again."""
        s = self.s

        async def make() -> build.NewEntry:
            return build.entry(s.log, kind, body, author=s.identity, keys=s.keys, nonce=random(24))
        await self._write(make, check)

    async def rotate(self, remove: bytes | None = None, check: Callable[[], None] | None = None) -> None:
        """Rotate the group key (removing ``remove`` in the same entry)."""
        s = self.s

        async def make() -> build.NewEntry:
            _, items_head = await self.relay.read_items(s.record["mailbox"], s.cap, 0, 1)
            return build.rotation(s.log, author=s.identity, keys=s.keys, seed=random(32), auth_nonce=random(24),
                                  ephemeral_secret=random(32), nonce=random(24),
                                  items_cutoff=items_head, remove=remove)
        await self._write(make, check)

    async def _write(self, make: Callable[[], Awaitable[build.NewEntry]],
                     check: Callable[[], None] | None) -> None:
        """Build against the local head and append; after a lost race (the log moved on),
        pull, check the command still holds, and build again."""
        for _ in range(8):
            if check is not None:
                check()
            if await self._send_entry(await make()):
                return
        raise RelayError("the group's log kept changing under this write; try again")

    async def _rotate_if_due(self) -> None:
        """Someone left: the first admin to sync rotates the key, so they read nothing new."""
        s = self.s
        me = s.me
        if not s.log.rotation_due or me is None or me.role != "admin":
            return

        def still_due() -> None:
            if not s.log.rotation_due:
                raise _AlreadyDone()
        try:
            await self.rotate(check=still_due)
        except _AlreadyDone:
            pass

    async def _send_entry(self, ne: build.NewEntry) -> bool:
        s = self.s
        try:
            await self.relay.append_log(s.record["mailbox"], s.cap, ne.seq, ne.prev, ne.ciphertext,
                                        ne.new_cap_hash)
        except LogConflict:
            await self.pull_log()
            return False
        with self.store.transaction():
            if ne.new_generation is not None:
                s.keys.generations[ne.new_generation.number] = ne.new_generation
            s.log.apply(ne.seq, ne.prev, ne.ciphertext, s.keys)
            self.store.add_log(s.ref, ne.seq, ne.prev, ne.ciphertext)
            s.save(self.store)
        return True

    # -- items --------------------------------------------------------------------

    async def pull_items(self) -> int:
        """Fetch, verify, decrypt and store new items, page by page. The next page is
        fetched while this one is verified, on two threads (libsodium releases the GIL)."""
        s = self.s
        mailbox, got = s.record["mailbox"], 0
        fetch: asyncio.Future | None = asyncio.ensure_future(
            self.relay.read_items(mailbox, s.cap, s.record["items"], PAGE))
        try:
            while fetch is not None:
                batch, head = await fetch
                fetch = None
                if batch and batch[-1][0] < head:
                    fetch = asyncio.ensure_future(self.relay.read_items(mailbox, s.cap, batch[-1][0], PAGE))
                pending = [(c, ct) for c, ct in s.record.get("pending_items", [])]
                if not batch and not pending:
                    return got
                outcomes = await asyncio.to_thread(self._open_items, pending + batch)
                still, rows = [], []
                for (cursor, ct), outcome in zip(pending + batch, outcomes):
                    if isinstance(outcome, items_mod.NotYet):
                        still.append([cursor, ct])
                    elif isinstance(outcome, items_mod.Stale):
                        if outcome.item.author == s.identity.public.id:  # ours lost a race: send again
                            self.store.add_outbox(s.ref, {"t": "item", "kind": outcome.item.kind,
                                                          "body": outcome.item.body, "id": b"", "ct": b"",
                                                          "gen": -1})
                    elif isinstance(outcome, Exception):
                        raise outcome
                    else:
                        rows.append((cursor, {"id": outcome.id, "kind": outcome.kind, "author": outcome.author,
                                              "time": outcome.time, "body": outcome.body,
                                              "gen": outcome.generation}))
                if len(still) > MAX_PENDING:
                    raise ForkError(f"the relay serves {len(still)} items that refer to log entries "
                                    "or keys it does not show")
                with self.store.transaction():
                    self.store.add_items(s.ref, rows)
                    s.record["pending_items"] = still
                    if batch:
                        s.record["items"] = batch[-1][0]
                    s.save(self.store)
                got += len(rows)
                self.progress("items", s.record["items"], head)
            return got
        finally:
            if fetch is not None:
                fetch.cancel()

    def _open_items(self, received: list[tuple[int, bytes]]) -> list[object]:
        """Open each item; the outcome is the item, or the exception it raised (in order)."""
        s = self.s

        def open_all(chunk: list[tuple[int, bytes]]) -> list[object]:
            out: list[object] = []
            for cursor, ct in chunk:
                try:
                    out.append(items_mod.open_item(ct, cursor, s.log, s.keys.generations))
                except (HramadaError, items_mod.NotYet, items_mod.Stale) as exc:
                    out.append(exc)
            return out
        if len(received) < 64:
            return open_all(received)
        half = len(received) // 2
        second = _POOL.submit(open_all, received[half:])
        return open_all(received[:half]) + second.result()

    async def post_item(self, kind: str, body: dict) -> bytes:
        """Queue an item and send it; returns its id."""
        s = self.s
        item_id, ct = items_mod.seal_item(group=s.group_id, kind=kind, body=body, author=s.identity.signing,
                                          head=s.log.head, time=now_ms(), generation=s.generation,
                                          nonce=random(24))
        self.store.add_outbox(s.ref, {"t": "item", "kind": kind, "body": body, "id": item_id,
                                      "ct": ct, "gen": s.generation.number})
        await self._flush_outbox()
        return item_id

    # -- the outgoing queue -------------------------------------------------------

    async def _flush_outbox(self) -> None:
        s = self.s
        for oid, job in self.store.outbox(s.ref):
            if job["t"] == "item":
                if job["gen"] != s.generation.number:  # the key rotated: seal again
                    job["id"], job["ct"] = items_mod.seal_item(
                        group=s.group_id, kind=job["kind"], body=job["body"], author=s.identity.signing,
                        head=s.log.head, time=now_ms(), generation=s.generation, nonce=random(24))
                await self.relay.append_items(s.record["mailbox"], s.cap, [job["ct"]])
            elif job["t"] == "welcome":
                await self._send_welcome(job["request"])
            self.store.done_outbox(oid)

    # -- admission ----------------------------------------------------------------

    async def _take_join_requests(self) -> None:
        """Move verified join requests from the drop boxes into the log."""
        s = self.s
        me = s.me
        if me is None or me.role not in ("admin", "member"):
            return
        messages, head = await self.relay.read_drops(s.record["mailbox"], s.cap, s.record["drops"])
        by_drop = {inv.drop: inv for inv in s.log.invites.values()}
        for _, drop, sender, message in messages:
            invite = by_drop.get(drop)
            if sender != "guest" or invite is None or invite.request is not None:
                continue
            try:
                signed = invitation.open_guest_message(invite.box_key, message)
                req = invitation.verify_join_request(signed, s.log.group, invite.sign)
            except HramadaError:
                continue  # junk dropped by someone holding a drop capability: not the group's log
            if req.id in s.log.requests or invite.request is not None:
                continue

            def still_open(invite_id: bytes = invite.id) -> None:
                if s.log.invites[invite_id].request is not None:
                    raise _AlreadyDone()
            try:
                await self.append("request", {"request": signed}, still_open)
            except _AlreadyDone:
                pass
        with self.store.transaction():
            s.record["drops"] = head
            s.save(self.store)

    async def _send_welcome(self, request: bytes) -> None:
        s = self.s
        req = s.log.requests[request]
        invite = s.log.invites[req.invite]
        member = s.log.members.get(req.key.id)
        if member is None:  # removed or gone before the welcome went out
            return
        message = invitation.make_welcome(
            req.key.box, random(32), s.group_id, request, s.generation,
            admit=(member.since, s.log.hash_at(member.since)),
            starts=[g.start for g in s.log.generations[1:]])
        await self.relay.post_to_drop(s.record["mailbox"], s.cap, invite.drop, message)

    async def _finish_joining(self) -> bool:
        """For a pending joiner: send the request if not yet sent, and look for a welcome.
        Returns True once the group is active."""
        s = self.s
        join = s.record["join"]
        secret = invitation.InvitationSecret(join["secret"])
        if not join.get("sent"):
            await self.relay.guest_post(secret.drop_id, secret.drop_cap, join["message"])
            with self.store.transaction():
                join["sent"] = True
                self.store.put_group(s.ref, s.record)
        for _, sender, message in await self.relay.guest_read(secret.drop_id, secret.drop_cap):
            if sender != "member":
                continue
            try:
                welcome = invitation.open_welcome(s.identity.boxing, message, s.group_id)
            except (HramadaError, ValueError):
                continue
            if welcome.request != join["request"]:
                continue
            try:
                await self._adopt_log(welcome)
            except WelcomeMismatch:
                continue  # stale, or made up by a member: try the next one
            return True
        return False

    async def _adopt_log(self, welcome: invitation.Welcome) -> None:
        """Fetch the whole log with the welcome's key and fold it from the group's
        creation; keep it only if the welcome fits it (``joining.adopt``)."""
        s = self.s
        entries = []
        while True:
            page, head = await self.relay.read_log(s.record["mailbox"], welcome.generation.relay_cap,
                                                   len(entries), PAGE)
            entries.extend(page)
            if not page or len(entries) >= head[0]:
                break
        if [e.seq for e in entries] != list(range(1, len(entries) + 1)):
            raise WelcomeMismatch("the relay served the log out of order")
        log, keys = adopt(s.record["mailbox"], s.group_id, [(e.seq, e.prev, e.ciphertext) for e in entries],
                          welcome, s.identity.boxing, s.identity.public.id)
        with self.store.transaction():
            for e in entries:
                self.store.add_log(s.ref, e.seq, e.prev, e.ciphertext)
            s.log, s.keys = log, keys
            s.record["status"] = "active"
            s.record.pop("join", None)
            s.save(self.store)


class _AlreadyDone(Exception):
    pass


