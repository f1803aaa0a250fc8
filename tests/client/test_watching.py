"""How `sync --watch` backs off a group whose relay may be withholding something."""

from __future__ import annotations

from hramada.client.http1 import MAX_LONG_POLLS
from hramada.client.watching import FIRST_DELAY, MAX_DELAY, Backoff, share

HEADS = {"log": 12, "items": 2001, "drops": 0}
SUSPICION = "log entries after entry 12, which 1000 items refer to"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_fruitless_sync_with_a_suspicion_waits_from_the_claimed_heads_and_backs_off():
    clock = Clock()
    b = Backoff(clock)
    assert b.floor(1) is None and b.timeout(1, 25) == 25 and b.due(1, changed=True)
    assert b.synced(1, news=0, suspicion=SUSPICION, heads=HEADS)  # reported: it is new
    assert b.floor(1) == HEADS
    assert b.timeout(1, 25) == FIRST_DELAY
    assert not b.due(1, changed=False)  # the relay's heads did not move: no sync
    clock.now += FIRST_DELAY
    assert b.due(1, changed=False)  # but it is tried again after the delay
    assert not b.synced(1, news=0, suspicion=SUSPICION, heads=HEADS)  # the same suspicion: not again
    assert b.timeout(1, 25) == 2 * FIRST_DELAY
    for _ in range(20):
        clock.now += MAX_DELAY
        b.synced(1, news=0, suspicion=SUSPICION, heads=HEADS)
    assert b.timeout(1, 10**6) == MAX_DELAY


def test_news_or_a_new_suspicion_is_reported_and_news_ends_the_back_off():
    b = Backoff(Clock())
    b.synced(1, news=0, suspicion=SUSPICION, heads=HEADS)
    assert b.synced(1, news=0, suspicion="item 2 of member Ales", heads=HEADS)
    assert b.due(1, changed=True)  # a change beyond the claimed heads wakes it at once
    assert b.synced(1, news=3, suspicion=SUSPICION, heads=HEADS)
    assert b.floor(1) is None and b.timeout(1, 25) == 25
    b.synced(2, news=0, suspicion=SUSPICION, heads=HEADS)
    assert b.synced(2, news=0, suspicion=None, heads=HEADS) and b.floor(2) is None


def test_with_more_groups_than_long_polls_on_a_relay_their_waits_share_the_timeout():
    assert share(25, 1) == share(25, MAX_LONG_POLLS) == 25
    assert share(25, MAX_LONG_POLLS + 1) == 12  # two turns
    assert share(25, 100) * -(-100 // MAX_LONG_POLLS) <= 25
    assert share(1, 1000) == 1  # never below a second
