"""How ``sync --watch`` waits on a group whose relay may be withholding something.

A relay that withholds log entries while items wait on them (or claims a head it does
not serve) keeps the long poll's heads ahead of this device's cursors: every wait
returns at once, and a watcher that synced at every wake would spin, asking the relay
again and again for what it will not give. So, after a sync that brought nothing new
and left a suspicion, the group is *quiet*:

* its next waits start from the heads the relay claimed (``floor``), so only a change
  beyond them — real news — wakes it;
* it is synced again anyway after a delay (5 s, doubling up to 5 minutes), in case the
  relay starts serving what it held back without a head moving;
* its suspicion is reported once per change of its text, not at every wake.

Any sync that brings news, or ends the suspicion, ends the quiet.

The client runs at most ``MAX_LONG_POLLS`` long polls at once on one relay
(``http1.py``: the rest of its connections stay free for posts and syncs); the others
wait their turn. A watch ends when every group's wait has, so with more groups than
that on one relay each wait is shortened (:func:`share`): all of them take their turn
within about the watch's timeout, and news is seen within about that long, as with few.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from hramada.client.http1 import MAX_LONG_POLLS

FIRST_DELAY = 5.0   # seconds before a quiet group is synced again without news
MAX_DELAY = 300.0
HEADS = ("log", "items", "drops")


@dataclass
class _Quiet:
    heads: dict[str, int]
    delay: float
    retry_at: float
    said: str | None


def share(timeout: int, groups: int) -> int:
    """How long each of ``groups`` waits on one relay may last for all of them to have
    run within about ``timeout`` seconds, ``MAX_LONG_POLLS`` at a time (at least 1 s)."""
    turns = -(-groups // MAX_LONG_POLLS)
    return max(1, timeout // max(1, turns))


class Backoff:
    """Per group (by local ref), whether it is quiet and until when."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._quiet: dict[int, _Quiet] = {}
        self._clock = clock

    def floor(self, ref: int) -> dict[str, int] | None:
        """The heads a quiet group's wait starts from (``None``: not quiet)."""
        q = self._quiet.get(ref)
        return None if q is None else q.heads

    def timeout(self, ref: int, timeout: int) -> int:
        """How long to wait on the group: no longer than until its retry is due."""
        q = self._quiet.get(ref)
        if q is None:
            return timeout
        return max(1, min(timeout, int(q.retry_at - self._clock() + 0.999)))

    def due(self, ref: int, changed: bool) -> bool:
        """Whether to sync the group after a wait that answered ``changed``."""
        q = self._quiet.get(ref)
        return changed or (q is not None and self._clock() >= q.retry_at)

    def synced(self, ref: int, news: int, suspicion: str | None, heads: dict[str, int]) -> bool:
        """Note a sync's outcome; ``heads`` are what the relay claimed in the wait before
        it. Returns whether it is worth reporting (anything but the same suspicion again)."""
        q = self._quiet.get(ref)
        if news or not suspicion:
            self._quiet.pop(ref, None)
            return True
        delay = FIRST_DELAY if q is None else min(q.delay * 2, MAX_DELAY)
        floor = {k: max(heads.get(k, 0), q.heads.get(k, 0) if q else 0) for k in HEADS}
        self._quiet[ref] = _Quiet(floor, delay, self._clock() + delay, suspicion)
        return q is None or q.said != suspicion
