"""In-process wake-ups for long polls (``GET .../wait``).

Storage calls :meth:`Notifier.changed` on the event loop after every committed write
to a mailbox; each waiter on that mailbox re-reads its heads. Writes made by another
relay process sharing the database are not seen here, so waiters also re-read their
heads every ``wait_recheck_seconds`` on their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager


class Notifier:
    def __init__(self) -> None:
        self._waiters: dict[bytes, set[asyncio.Event]] = {}
        self.closed = False

    @property
    def waiting(self) -> int:
        """How many long polls are in progress."""
        return sum(len(events) for events in self._waiters.values())

    def changed(self, mailbox: bytes) -> None:
        for event in self._waiters.get(mailbox, ()):
            event.set()

    @contextmanager
    def watch(self, mailbox: bytes) -> Iterator[asyncio.Event]:
        """An event set whenever ``mailbox`` changes (or the relay shuts down)."""
        event = asyncio.Event()
        if self.closed:
            event.set()
        events = self._waiters.setdefault(mailbox, set())
        events.add(event)
        try:
            yield event
        finally:
            events.discard(event)
            if not events:
                self._waiters.pop(mailbox, None)

    def close(self) -> None:
        """Wake every waiter for good: the relay is shutting down."""
        self.closed = True
        for events in self._waiters.values():
            for event in events:
                event.set()
