"""The sync engine: pull, verify, apply; then send what is queued. Joining (join
requests, welcomes, adopting a group's log) is in :mod:`hramada.client.joining`.

Rules it keeps:

* Everything the relay serves is verified by the core before it is stored. Any
  verification failure stops the group: its status becomes ``alarm`` with the reason,
  stored, and every later command on it refuses with that alarm (never a log line).
* The pin: the highest ``(seq, hash)`` this device has seen. A relay whose log is
  shorter than the pin, or disagrees with it, is rolling back or forking: alarm.
* The journal rule (:mod:`hramada.client.journal`): state and the outgoing queue are
  committed in one local transaction, and only then sent. A send that fails stays
  queued for the next sync. The relay is reached only through the journal's guard,
  which refuses a call while a transaction is open.
* Withholding that cannot be proven (a head the relay claims but never serves) is a
  *suspicion* (``record["suspicion"]``), not an alarm; a full sync that sees none
  clears it.
"""

from __future__ import annotations

import asyncio
import copy
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Awaitable, Callable

import nacl.utils

from hramada.client import joining, recovery
from hramada.client.joining import AlreadyDone
from hramada.client.journal import Journal, fault
from hramada.client.numbering import Numbering, judge_chains, suspicion, top_bounds
from hramada.client.pages import PageMismatch, PageWithheld, fetch_page, upload_pages
from hramada.client.sealing import OsSealer
from hramada.client.session import GroupSession
from hramada.client.store import Store
from hramada.client.transport import LogConflict, Relay, RetiredCapability
from hramada.core import admins, build, crypto, items as items_mod, wire
from hramada.core.identity import DeviceRecord
from hramada.core.keys import HistoryNotShared
from hramada.core.pages import PageMissing
from hramada.errors import (DecryptionError, EncodingError, ForkError, HramadaError,
                            DeviceRevokedError, KeyWithheldError, PolicyError, RelayError,
                            RelayUnreachable, VerificationError)

Progress = Callable[[str, int, int], None]  # (what, done, total)
PAGE = 1000
MAX_PENDING = 1000  # items waiting for log entries the relay has not shown yet
MAX_VOID = 100  # refused items of removed members, remembered to say who posted them
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hramada-verify")  # the second core


def random(n: int) -> bytes:
    return nacl.utils.random(n)


def now_ms() -> int:
    return int(time.time() * 1000)


class Engine:
    """Syncs and writes one group through one relay."""

    def __init__(self, store: Store, session: GroupSession, relay: Relay,
                 progress: Progress | None = None) -> None:
        self.store, self.s = store, session
        self.journal = Journal(store)
        self.relay = self.journal.guard(relay)
        self.progress = progress or (lambda what, done, total: None)
        self.news = 0  # entries and items the last sync applied
        self.page_refused = False  # a key-block page this device needs was withheld or swapped
        self._tops: dict[bytes, int] = {}  # each author's highest bound (items.md §3)
        self._chains_due = False

    # -- the whole sync -----------------------------------------------------------

    async def sync(self) -> None:
        s = self.s
        if s.status in ("alarm", "removed", "left", "revoked"):
            return
        s.suspected = False
        self.news = 0
        self.page_refused = False
        try:
            if s.status == "pending":
                if not await joining.finish_joining(self):
                    return
            if s.status == recovery.RECOVERING:
                if not await recovery.finish_recovery(self):
                    return
            self.news += await self.pull_log()
            if s.status != "active" or self.page_refused:
                return  # behind a rotation it cannot open: its capability is retired
            await self._flush_outbox()
            await self._rotate_if_due()
            await joining.take_join_requests(self)
            self.news += await self.pull_items()
        except (VerificationError, DecryptionError, EncodingError) as exc:
            self._stop(exc)
            return
        if not s.suspected and s.record.get("suspicion"):
            with self.journal.change(s) as ch:
                ch.record["suspicion"] = None

    async def wait(self, timeout: int = 25, floor: dict[str, int] | None = None) -> dict:
        """Block until the relay has news for this group (or ``timeout`` seconds pass),
        without polling; with ``floor``, news beyond those heads only (``watching.py``).
        Returns the relay's answer: ``{"log", "items", "drops", "changed"}``."""
        s = self.s
        if s.status != "active":
            return {"log": 0, "items": 0, "drops": 0, "changed": False}
        floor = floor or {}
        return await self.relay.wait(s.record["mailbox"], s.cap, max(s.log.head[0], floor.get("log", 0)),
                                     max(s.record["items"], floor.get("items", 0)),
                                     max(s.record["drops"], floor.get("drops", 0)), timeout)

    def _stop(self, exc: HramadaError) -> None:
        with self.journal.change(self.s) as ch:  # reloads what the failed change left behind
            if isinstance(exc, DeviceRevokedError):
                ch.record["status"] = "revoked"
                ch.record["revoked"] = str(exc).split(": ", 1)[-1]
            elif isinstance(exc, KeyWithheldError):
                ch.record["status"] = "removed"
            else:
                ch.record["status"] = "alarm"
                ch.record["alarm"] = f"{type(exc).__name__}: {exc}"

    # -- the log ------------------------------------------------------------------

    async def pull_log(self) -> int:
        """Fetch, verify and store new log entries. Returns how many were applied.

        A relay head below the pin, or a different hash at the pin or at our head, is
        a rollback or a fork (alarm). A head above ours that the relay does not serve
        is withholding that cannot be proven: a suspicion."""
        s = self.s
        applied = 0
        while True:
            pin_seq, pin_hash = s.record["pin"]
            entries, (head_seq, head_hash) = await self._read_log(s.log.head[0])
            if head_seq < pin_seq:
                raise ForkError(f"the relay rolled the log back to {head_seq} entries; "
                                f"this device has already seen {pin_seq}")
            if head_seq == pin_seq and not crypto.equal(head_hash, pin_hash):
                raise ForkError(f"the relay's entry {head_seq} differs from the one this device pinned")
            ours_seq, ours_hash = s.log.head
            if head_seq == ours_seq and not crypto.equal(head_hash, ours_hash):
                raise ForkError(f"the relay's entry {head_seq} differs from the one this device verified")
            if not entries:
                if head_seq > ours_seq:
                    with self.journal.change(s) as ch:
                        ch.suspect(f"log entries {ours_seq + 1} to {head_seq}, which the relay says "
                                   "exist but does not serve")
                return applied
            done = applied
            try:
                with self.journal.change(s) as ch:
                    for e in entries:
                        expected = s.log.head[0] + 1
                        if e.seq != expected:
                            raise ForkError(f"the relay served entry {e.seq} where entry {expected} belongs "
                                            "(dropped or reordered)")
                        ch.entry(e.seq, e.prev, e.ciphertext, e.hash)
                        applied += 1
            except PageMissing as missing:
                applied = done  # the change was rolled back: fetch the page and fold again
                if not await self._fetch_page(missing):
                    return applied

    async def _fetch_page(self, missing: PageMissing) -> bool:
        """Fetch the key-block page a rotation needs to open this device's key box
        (``sync.md``, the page step), checked against the digest the signed key block
        names, into the pages at hand. A page the relay withholds or swaps is refused
        and becomes a suspicion (never skipped in silence: without it this device
        cannot follow the rotation); then False."""
        s = self.s
        if missing.digest in s.keys.pages:  # cannot happen: a page at hand opens or is refused
            raise RuntimeError("a key-block page at hand was asked for again")
        try:
            page = await fetch_page(self.relay, s.record["mailbox"], s.cap, missing.digest)
        except (PageWithheld, PageMismatch) as exc:
            with self.journal.change(s) as ch:
                ch.suspect(str(exc))
            self.page_refused = True
            return False
        self.journal.reload(s)
        s.keys.pages[missing.digest] = page
        return True

    async def _read_log(self, after: int) -> tuple[list, tuple[int, bytes]]:
        """Read the log with the current capability. If the relay calls it unknown, the
        relay may have acknowledged this device's rotation and never kept it: see
        :meth:`_check_lost_write` (an alarm when proven), else the refusal stands."""
        s = self.s
        try:
            return await self.relay.read_log(s.record["mailbox"], s.cap, after, PAGE)
        except RelayError as exc:
            if exc.code != "unauthorized" or isinstance(exc, RelayUnreachable):
                raise
            await self._check_lost_write()
            raise

    async def _check_lost_write(self) -> None:
        """The current capability was refused as unknown. Read the log with the previous
        generation's capability: a log without the pinned entry (shorter, or another
        entry there) is a rollback of an entry the relay acknowledged (ForkError). If
        the previous capability is refused too, or the log holds the pinned entry,
        nothing is proven and the caller's refusal stands."""
        s = self.s
        earlier = [n for n in s.keys.generations if n < s.log.generation]
        pin_seq, pin_hash = s.record["pin"]
        if not earlier or pin_seq < 1:
            return
        cap = s.keys.generations[max(earlier)].relay_cap
        try:
            entries, (head_seq, _) = await self.relay.read_log(s.record["mailbox"], cap, pin_seq - 1, 1)
        except RelayError:
            return
        if head_seq < pin_seq:
            raise ForkError(f"the relay acknowledged entry {pin_seq} and then lost it: it refuses this "
                            f"device's capability and serves a log of {head_seq} entries under the previous one")
        served = entries[0] if entries else None
        if served is not None and served.seq == pin_seq and not crypto.equal(
                wire.entry_hash(s.record["mailbox"], served.seq, served.prev, served.ciphertext), pin_hash):
            raise ForkError(f"the relay acknowledged entry {pin_seq} and then lost it: it refuses this "
                            "device's capability and serves another entry there under the previous one")

    async def catch_up(self) -> int:
        """Pull the log outside a whole sync (a command found it behind); a verification
        failure stops the group, as in a sync."""
        try:
            return await self.pull_log()
        except (VerificationError, DecryptionError, EncodingError) as exc:
            self._stop(exc)
            raise

    async def append(self, kind: str, body: dict, check: Callable[[], None] | None = None) -> None:
        """Append one entry at the head; on a race, pull and try again."""
        s = self.s

        async def make() -> build.NewEntry:
            return build.entry(s.log, kind, body, author=s.identity, keys=s.keys, nonce=random(24))
        await self._write(make, check)

    async def rotate(self, remove: bytes | None = None, check: Callable[[], None] | None = None,
                     admit: tuple[bytes, str] | None = None, revoke: list[bytes] | None = None,
                     add: DeviceRecord | None = None) -> None:
        """Rotate the group key (removing ``remove``, admitting ``admit`` = (request,
        role), or revoking the devices ``revoke`` and adding ``add``, in the same entry)."""
        s = self.s

        async def make() -> build.NewEntry:
            # the item cut-off: what this device has verified, never what the relay reports
            try:
                await self.pull_items()
            except (VerificationError, DecryptionError, EncodingError) as exc:
                self._stop(exc)  # found while verifying: the group stops, as in a sync
                raise
            cutoff = Numbering(s.record.get("item_seqs", {})).cutoff()
            if revoke is not None:
                return build.device_revoke(s.log, revoke, author=s.identity, keys=s.keys, seed=random(32),
                                           auth_nonce=random(24), ephemeral_secret=random(32),
                                           nonce=random(24), items_cutoff=cutoff, add=add, sealer=OsSealer())
            return build.rotation(s.log, author=s.identity, keys=s.keys, seed=random(32), auth_nonce=random(24),
                                  ephemeral_secret=random(32), nonce=random(24),
                                  items_cutoff=cutoff, remove=remove, admit=admit, sealer=OsSealer())
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
                raise AlreadyDone()
        try:
            await self.rotate(check=still_due)
        except AlreadyDone:
            pass

    async def _send_entry(self, ne: build.NewEntry) -> bool:
        """Append at the relay at the position this device verified up to; once it
        accepts, store the entry (and whatever it sets off, see the journal's reactions)
        in one transaction. A crash between the two loses nothing: the next sync pulls
        the entry and runs the same reactions. If the log has moved on (a conflict, or
        a capability a rotation retired), pull and verify what is new and return False
        (the caller checks its command again and builds anew)."""
        s = self.s
        claim = admins.claim_for(s.log, s.keys, s.identity, ne)  # what the relay must be told
        try:
            # a paged key block's pages go up first; the append names them (sync.md)
            digests = await upload_pages(self.relay, s.record["mailbox"], s.cap, list(ne.pages))
            await self.relay.append_log(s.record["mailbox"], s.cap, ne.seq, ne.prev, ne.ciphertext,
                                        ne.new_cap_hash, claim, pages=digests)
        except (LogConflict, RetiredCapability):  # the log moved on (perhaps a rotation)
            await self.catch_up()
            return False
        fault("entry-appended")
        with self.journal.change(s) as ch:
            if ne.new_generation is not None:
                s.keys.generations[ne.new_generation.number] = ne.new_generation
            ch.entry(ne.seq, ne.prev, ne.ciphertext, wire.entry_hash(s.record["mailbox"], ne.seq, ne.prev,
                                                                     ne.ciphertext))
        fault("entry-stored")
        return True

    # -- items --------------------------------------------------------------------

    async def pull_items(self) -> int:
        """Fetch, verify, decrypt and store new items; then look for what is missing.

        Items that refer to log entries not yet seen wait (at most ``MAX_PENDING``; the
        rest is fetched again later) and are retried after the log is pulled again. An
        author's number still missing after fetching one page again from where it must
        lie, or items still waiting for entries the relay does not deliver, are a
        suspicion (not an alarm)."""
        s = self.s
        self._chains_due = False
        self._tops = top_bounds(s.log, self._held())
        got = await self._pull_items_after(s.record["items"])
        if s.record.get("pending_items"):  # the log may have moved on meanwhile
            await self.pull_log()
            self._tops = top_bounds(s.log, self._held())
            got += await self._pull_items_after(s.record["items"])
        numbering = Numbering(copy.deepcopy(s.record.get("item_seqs", {})))
        numbering.expect_bounds(s.log, self._held())
        since = numbering.refetch_from()
        if since is not None:
            with self.journal.change(s) as ch:
                ch.record["item_seqs"] = numbering.table
            got += await self._pull_items_after(since, only_missing=True)
        anchored = sum(1 for g in s.log.generations if g.items_links is not None)
        if self._chains_due or s.record.get("chains_at", 0) != anchored:
            self._check_chains(anchored)
        text = suspicion(s.record, s.log.head[0], s.name_of)
        if text is not None:
            with self.journal.change(s) as ch:
                ch.suspect(text)
        return got

    def _held(self) -> set[int]:
        return {n for n, g in self.s.keys.generations.items() if g.full}

    def _check_chains(self, anchored: int) -> None:
        """Which stored items lie on the chains the rotations bind (items.md §3.1): what
        links nowhere is refused and named (its author's doing, never the relay's alone:
        not an alarm); equivocation is named; a number a chain misses is fetched again."""
        s = self.s
        refused, notes, table = judge_chains(self.store.items(s.ref), s.log, self._held(),
                                             copy.deepcopy(s.record.get("item_seqs", {})), s.name_of)
        with self.journal.change(s) as ch:
            void = ch.record.get("void_items", [])
            ch.record["void_items"] = (void + [t for t in refused if t not in void])[-MAX_VOID:]
            ch.record["item_notes"] = notes[-MAX_VOID:]
            ch.record["item_seqs"] = table
            ch.record["chains_at"] = anchored

    async def _pull_items_after(self, after: int, only_missing: bool = False) -> int:
        """Fetch items after cursor ``after`` up to the head, page by page; the next page
        is fetched while this one is verified, on two threads (libsodium releases the
        GIL). ``only_missing``: fetch one page again, keep only numbers this device is missing."""
        s = self.s
        mailbox, got = s.record["mailbox"], 0
        fetch: asyncio.Future | None = asyncio.ensure_future(self.relay.read_items(mailbox, s.cap, after, PAGE))
        try:
            while fetch is not None:
                batch, head = await fetch
                fetch = None
                if batch and batch[-1][0] < head and not only_missing:
                    fetch = asyncio.ensure_future(self.relay.read_items(mailbox, s.cap, batch[-1][0], PAGE))
                pending = [] if only_missing else [(c, ct) for c, ct in s.record.get("pending_items", [])]
                if not batch and not pending:
                    return got
                received = pending + batch
                outcomes = await asyncio.to_thread(self._open_items, received)
                numbering = Numbering(copy.deepcopy(s.record.get("item_seqs", {})),
                                      from_start=0 in s.keys.generations)
                still: list[list] = []
                rows: list[tuple[int, dict]] = []
                stale: list[items_mod.Item] = []
                void: list[str] = []
                last = batch[-1][0] if batch else s.record["items"]
                for index, ((cursor, ct), outcome) in enumerate(zip(received, outcomes)):
                    if isinstance(outcome, items_mod.NotYet):
                        if len(still) == MAX_PENDING:  # keep no more: fetch the rest again later
                            last = max(s.record["items"], received[index - 1][0] if index else after)
                            if fetch is not None:
                                fetch.cancel()
                                fetch = None
                            break
                        if not only_missing:
                            still.append([cursor, ct])
                        continue
                    if isinstance(outcome, HistoryNotShared):
                        continue  # written before this device's admission (history policy since-join)
                    if isinstance(outcome, items_mod.Predates):  # history kept from this member
                        continue
                    if isinstance(outcome, items_mod.PostedAfterRemoval):
                        void.append(str(outcome))  # signed by the member it names: void, not an alarm
                        continue
                    if isinstance(outcome, Exception) and not isinstance(outcome, items_mod.Stale):
                        raise outcome
                    item = outcome.item if isinstance(outcome, items_mod.Stale) else outcome
                    if only_missing and not numbering.is_missing(item.author, item.seq):
                        continue
                    if item.seq <= max(self._tops.get(item.author, 0),
                                       numbering.table.get(item.author, (0,))[0]):
                        self._chains_due = True  # at or below a bound, or a number seen before
                    numbering.saw(item.author, item.seq, cursor, item.link)
                    row = {"id": item.id, "kind": item.kind, "author": item.author, "seq": item.seq,
                           "time": item.time, "body": item.body, "gen": item.generation, "link": item.link,
                           "prev": item.prev}
                    if isinstance(outcome, items_mod.Stale):
                        stale.append(item)
                        row["stale"] = True  # never shown; a genuine link in its author's chain
                    rows.append((cursor, row))
                with self.journal.change(s) as ch:
                    ch.items(rows)
                    for item in stale:
                        job = self._send_again(ch.record, item)
                        if job is not None:
                            ch.queue(job)
                    ch.record["item_seqs"] = numbering.table
                    if void:
                        ch.record["void_items"] = (ch.record.get("void_items", []) + void)[-MAX_VOID:]
                    if not only_missing:
                        ch.record["pending_items"] = still
                        ch.record["items"] = max(ch.record["items"], last)
                got += len(rows) - len(stale)
                self.progress("items", s.record["items"], head)
            return got
        finally:
            if fetch is not None:
                fetch.cancel()

    def _send_again(self, record: dict, item: items_mod.Item) -> dict | None:
        """Our own item lost a race with a rotation. Send it again — under the current key,
        with the same number — only if this device never saw it confirmed (shown at a
        valid position), and only once per number: a relay that re-serves an old item
        cannot make this device repeat it. Returns the outbox job, if any."""
        s = self.s
        if item.author != s.identity.device_id:
            return None
        handled = record.setdefault("republished", [])
        if item.seq in handled:
            return None
        handled.append(item.seq)
        if any(v["author"] == item.author and v.get("seq") == item.seq and not v.get("stale")
               for _, v in self.store.items(s.ref)):
            return None  # confirmed here before: never again
        return {"t": "item", "kind": item.kind, "body": item.body, "seq": item.seq, "prev": item.prev,
                "id": b"", "ct": b"", "gen": -1}

    def _open_items(self, received: list[tuple[int, bytes]]) -> list[object]:
        """Open each item; the outcome is the item, or the exception it raised (in order)."""
        s = self.s

        def open_all(chunk: list[tuple[int, bytes]]) -> list[object]:
            out: list[object] = []
            for cursor, ct in chunk:
                try:
                    out.append(items_mod.open_item(ct, cursor, s.log, s.keys.generations))
                except (HramadaError, items_mod.NotYet, items_mod.Stale, items_mod.Predates) as exc:
                    out.append(exc)
            return out
        if len(received) < 64:
            return open_all(received)
        half = len(received) // 2
        second = _POOL.submit(open_all, received[half:])
        return open_all(received[:half]) + second.result()

    async def post_item(self, kind: str, body: dict) -> tuple[bytes, bool]:
        """Queue an item, then send what is queued: one round trip, without syncing first
        (a rotation this device has not seen yet shows as a retired capability: then
        sync, which seals the item again under the new key, and send). Returns the
        item's id and whether it is still queued (the relay could not be reached).

        A device holding items whose head is beyond its log (``pending_items``) may be
        shown a log without a rotation — a revocation or a removal — that those items
        follow: sealing under the key it holds could hand the item to whoever that
        rotation shut out. It syncs first, and refuses while the items still wait."""
        s = self.s
        if s.record.get("pending_items"):
            await self.sync()
            s.require_active()
            if s.record.get("pending_items"):
                raise PolicyError(
                    f"nothing was posted: {len(s.record['pending_items'])} items in {s.name!r} refer to log "
                    f"entries after entry {s.log.head[0]} that the relay does not show this device; it may be "
                    "hiding a key change (a revocation or a removal), and a post under the old key could "
                    "reach whoever it shut out. Sync again later, or tell the group")
        with self.journal.change(s) as ch:  # the number, the chain and the queued item commit together
            seq, prev = ch.record.get("next_item", 1), ch.record.get("last_link", items_mod.ZERO_LINK)
            link, ct = items_mod.seal_item_linked(group=s.group_id, kind=kind, body=body, author=s.identity.signing,
                                                  seq=seq, head=s.log.head, time=now_ms(),
                                                  generation=s.generation, nonce=random(24), prev=prev)
            item_id = link[:items_mod.ITEM_ID_BYTES]
            ch.queue({"t": "item", "kind": kind, "body": body, "seq": seq, "prev": prev, "id": item_id,
                      "ct": ct, "gen": s.generation.number})
            ch.record["next_item"], ch.record["last_link"] = seq + 1, link
        try:
            try:
                await self._flush_outbox()
            except RetiredCapability:
                await self.sync()
                s.require_active()
                await self._flush_outbox()
        except RelayUnreachable:
            return item_id, True
        return item_id, False  # a flush that returns has sent every job it read, this item among them

    # -- the outgoing queue -------------------------------------------------------

    async def _flush_outbox(self) -> None:
        """Send the committed queue, oldest first; each message leaves the queue once the
        relay has it. A message that cannot be sent stops the flush (order is kept)."""
        s = self.s
        for oid, job in self.journal.jobs(s):
            if job["t"] == "item":
                if job["gen"] != s.generation.number:  # never sent under this key: seal again, same number
                    job["id"], job["ct"] = items_mod.seal_item(
                        group=s.group_id, kind=job["kind"], body=job["body"], author=s.identity.signing,
                        seq=job["seq"], head=s.log.head, time=now_ms(), generation=s.generation,
                        nonce=random(24), prev=job["prev"])
                await self.relay.append_items(s.record["mailbox"], s.cap, [job["ct"]])
            elif job["t"] == "welcome":
                await joining.send_welcome(self, job["request"])
            elif job["t"] == "recover-welcome":
                await recovery.send_welcome(self, job)
            self.journal.sent(s, oid)
