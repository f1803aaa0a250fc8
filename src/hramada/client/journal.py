"""The journal: a group's state and its outgoing messages change in one transaction,
and messages are sent only from the committed queue, after the commit.

Every change to a group's stored state goes through :meth:`Journal.change`::

    with journal.change(session) as ch:
        ch.entry(seq, prev, ciphertext)        # verify, fold, store one log entry (+ reactions)
        ch.items(rows)                         # store a page of verified items
        jid = ch.queue({"t": "item", ...})     # queue an outgoing message
        ch.done(jid)                           # drop a message that has been sent
        ch.record["items"] = cursor            # any record field; saved at the end
        ch.suspect("entry 12, which items refer to")

On leaving the block the record is saved and everything commits together; on an
exception nothing is stored and the session is marked stale (reloaded before its next
change). Before the block runs, a session that another process changed meanwhile is
reloaded under the write lock, so two processes never overwrite each other.

**Reactions** make follow-up messages part of the entry that causes them: whenever an
entry is stored — appended by this device, or pulled after a crash that lost the
local commit — the reactions registered for its kind run in the same transaction
(:func:`reaction`). An ``admit`` this identity authored queues the newcomer's welcome;
a ``leave`` it authored marks the group left. No command queues these itself, so no
command can commit one without the other.

**Sending** happens only through :meth:`Journal.jobs` (the committed queue) and a
relay wrapped by :meth:`Journal.guard`, which refuses to send while a transaction is
open. A command cannot express "send, then record".

:func:`fault` is a named crash point (``HRAMADA_TEST_FAULT=<name>`` exits the process
there); only tests set it, to show that a crash at the worst moment loses nothing.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from hramada.client.session import GroupSession
from hramada.client.store import Store
from hramada.core import crypto
from hramada.core.entries import Entry
from hramada.errors import ForkError

Reaction = Callable[["Change", Entry], None]
_REACTIONS: dict[str, list[Reaction]] = {}


def reaction(kind: str) -> Callable[[Reaction], Reaction]:
    """Register ``fn(change, entry)`` to run whenever an entry of ``kind`` is stored."""
    def register(fn: Reaction) -> Reaction:
        _REACTIONS.setdefault(kind, []).append(fn)
        return fn
    return register


def fault(point: str) -> None:
    """A crash point for tests: exit at once if ``HRAMADA_TEST_FAULT`` names it."""
    if os.environ.get("HRAMADA_TEST_FAULT") == point:
        os._exit(75)


class Change:
    """One open transaction on one group (see the module docstring)."""

    def __init__(self, store: Store, session: GroupSession) -> None:
        self.store, self.session = store, session

    @property
    def record(self) -> dict:
        return self.session.record

    def entry(self, seq: int, prev: bytes, ciphertext: bytes, relay_hash: bytes | None = None
              ) -> Entry | None:
        """Verify and fold one log entry, store it, run its reactions. An entry this
        session already holds (another process stored it first) is only compared."""
        s = self.session
        if seq <= s.log.head[0]:
            if relay_hash is not None and not crypto.equal(s.log.hash_at(seq), relay_hash):
                raise ForkError(f"the relay's entry {seq} differs from the one this device verified")
            return None
        entry = s.log.apply(seq, prev, ciphertext, s.keys)
        if relay_hash is not None and not crypto.equal(s.log.head[1], relay_hash):
            raise ForkError(f"the relay misreports the hash of entry {seq}")
        pin_seq, pin_hash = s.record["pin"]
        if seq == pin_seq and not crypto.equal(s.log.head[1], pin_hash):
            raise ForkError(f"the relay's entry {seq} differs from the one this device pinned")
        self.store.add_log(s.ref, seq, prev, ciphertext)
        if entry is None:  # void: a member's entry that changes nothing (log.md §4)
            return None
        for react in _REACTIONS.get(entry.kind, ()):
            react(self, entry)
        return entry

    def items(self, rows: list[tuple[int, dict]]) -> None:
        self.store.add_items(self.session.ref, rows)

    def queue(self, job: dict) -> int:
        return self.store.add_outbox(self.session.ref, job)

    def done(self, jid: int) -> None:
        self.store.done_outbox(self.session.ref, jid)

    def suspect(self, text: str) -> None:
        self.session.suspect(text)


class Journal:
    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def change(self, s: GroupSession) -> Iterator[Change]:
        nested = self.store.in_transaction
        with self.store.transaction():
            if not nested:
                self._catch_up(s)
            try:
                yield Change(self.store, s)
                s.save(self.store)
            except BaseException:
                s.stale = True
                raise

    def reload(self, s: GroupSession) -> None:
        """Bring a session that a failed change left stale back to the store's state."""
        with self.store.transaction():
            self._catch_up(s)

    def _catch_up(self, s: GroupSession) -> None:
        """Under the write lock: reload a session that is behind the store. (If no other
        connection has committed since this session was last checked, it cannot be.)"""
        seen = self.store.data_version()
        if not s.stale and s.checked == seen:
            return
        stored = self.store.group(s.ref)
        if s.stale or stored.get("v", 0) != s.record.get("v", 0):
            fresh = GroupSession.load(self.store, s.ref, stored)
            fresh.keys.pages.update(s.keys.pages)  # fetched pages are not stored: keep them
            s.record, s.log, s.keys, s.stale = fresh.record, fresh.log, fresh.keys, False
        s.checked = seen

    def sent(self, s: GroupSession, jid: int) -> None:
        """A queued message reached the relay: drop it from the queue (the group's state
        does not change, so only the queue is written)."""
        self.store.done_outbox(s.ref, jid)

    def jobs(self, s: GroupSession) -> list[tuple[int, dict]]:
        """The committed outgoing queue of a group, oldest first."""
        if self.store.in_transaction:
            raise RuntimeError("the outgoing queue is read only after its transaction commits")
        return self.store.outbox(s.ref)

    def guard(self, relay: Any) -> Any:
        return _Guarded(relay, self.store)


class _Guarded:
    """A relay that refuses to be called while a local transaction is open."""

    def __init__(self, relay: Any, store: Store) -> None:
        self._relay, self._store = relay, store

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._relay, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kw: Any) -> Any:
            if self._store.in_transaction:
                raise RuntimeError(f"relay.{name} called inside a local transaction: "
                                   "record first, send after the commit")
            return attr(*args, **kw)
        return call


# -- reactions: follow-up messages that belong to an entry ------------------------

@reaction("admit")
def _welcome_whom_i_admitted(ch: Change, entry: Entry) -> None:
    s = ch.session
    if entry.device != s.identity.device_id:  # the admitting device sends the welcome
        return
    request = entry.body.get("request") if isinstance(entry.body, dict) else None
    req = s.log.requests.get(request) if isinstance(request, bytes) else None
    if req is not None and req.status == "admitted":
        member = s.log.members.get(req.key.id)
        if member is not None and member.since == entry.seq:
            ch.queue({"t": "welcome", "request": req.id})


@reaction("leave")
def _i_left(ch: Change, entry: Entry) -> None:
    s = ch.session
    if entry.author == s.identity.public.id and s.identity.public.id not in s.log.members:
        s.record["status"] = "left"
