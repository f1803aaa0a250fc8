"""The groups of an open profile, loaded once and kept: the part of
:class:`hramada.client.api.Hramada` that finds, caches and syncs group sessions.

A group's session (its record, folded log and keys) is verified once when it is first
needed and kept while nothing else changes the store: ``PRAGMA data_version`` tells
when another process committed, and then every loaded session is dropped and loaded
again. Within one change, the journal reloads a session another process moved on
under the write lock (:mod:`hramada.client.journal`). So a command that posts does
not re-verify the whole log first.

What syncing a group found is kept per group for the views: ``offline`` (the relay
could not be reached, or refused), the number of new entries and items, and which
groups were synced (for :meth:`LoadedGroups.suspicions`, which the CLI turns into
exit status 4).
"""

from __future__ import annotations

from typing import Any

from hramada.client.session import GroupSession
from hramada.client.store import Store
from hramada.client.sync import Engine, Progress
from hramada.client.transport import Relay
from hramada.client.watching import Backoff
from hramada.errors import NotFoundError, RelayError


class LoadedGroups:
    store: Store
    _transport: Any
    _relays: dict[str, Relay]

    def _init_loaded(self) -> None:
        self._sessions_by_ref: dict[int, GroupSession] = {}
        self._records: dict[int, dict] | None = None
        self._seen: tuple[int, int] | None = None
        self._offline: dict[int, str] = {}
        self._news: dict[int, int] = {}
        self._backoff = Backoff()  # groups that sync --watch does not wake at every turn
        self._synced_refs: set[int] = set()

    def _relay(self, url: str) -> Relay:
        if url not in self._relays:
            self._relays[url] = Relay(url, self._transport)
        return self._relays[url]

    def _engine(self, session: GroupSession, progress: Progress | None = None) -> Engine:
        return Engine(self.store, session, self._relay(session.record["relay"]), progress)

    # -- finding groups -----------------------------------------------------------

    def _fresh(self) -> None:
        """Forget loaded groups if another process (or a group added or deleted here)
        changed the store since they were loaded."""
        seen = (self.store.data_version(), self.store.directory_changes)
        if seen != self._seen:
            self._sessions_by_ref.clear()
            self._records = None
            self._seen = seen

    def _session(self, ref: int) -> GroupSession:
        """A group's session, verified once and kept while nothing else changes the store
        (the journal reloads it under the write lock if another process did)."""
        self._fresh()
        s = self._sessions_by_ref.get(ref)
        if s is None or s.stale:
            s = self._sessions_by_ref[ref] = GroupSession.load(self.store, ref)
        return s

    def _refs(self) -> dict[int, dict]:
        self._fresh()
        if self._records is None:
            self._records = dict(self.store.groups())
        return {ref: (self._sessions_by_ref[ref].record if ref in self._sessions_by_ref else rec)
                for ref, rec in self._records.items()}

    def _sessions(self) -> list[GroupSession]:
        return [self._session(ref) for ref in self._refs()]

    def _find(self, group: str) -> GroupSession:
        text = group.strip()
        matches = []
        for ref, rec in self._refs().items():
            if rec["group"].hex() == text.lower() or rec["name"].casefold() == text.casefold():
                matches.append(ref)
        if not matches:
            raise NotFoundError(f"no group {group!r} in this profile (see `hramada group list`)")
        if len(matches) > 1:
            raise NotFoundError(f"several groups are called {group!r}; name one by its id")
        return self._session(matches[0])

    async def _sync(self, s: GroupSession, progress: Progress | None = None) -> None:
        """Sync one group; a relay out of reach (or refusing) is noted in ``offline``
        and raised."""
        engine = self._engine(s, progress)
        try:
            await engine.sync()
        except RelayError as exc:
            self._offline[s.ref] = str(exc)
            raise
        finally:
            self._news[s.ref] = engine.news
        self._offline.pop(s.ref, None)
        self._synced_refs.add(s.ref)

    async def _synced(self, group: str, progress: Progress | None = None) -> GroupSession:
        """The group, synced; the engine keeps the session it syncs up to date."""
        session = self._find(group)
        await self._sync(session, progress)
        session.require_active()
        return session

    def suspicions(self) -> list[tuple[str, str]]:
        """(group name, what the relay may be withholding) for every group this object
        synced that has a suspicion; the CLI exits 4 on any."""
        out = []
        for ref in sorted(self._synced_refs):
            s = self._sessions_by_ref.get(ref)
            if s is not None and s.record.get("suspicion"):
                out.append((s.name, s.record["suspicion"]))
        return out
