"""The relay's log stays bounded whatever arrives: each distinct message a few times
per period, then one line saying how many were left out."""

from __future__ import annotations

import logging

from hramada.relay.logs import AcceptErrors, BoundedLogFilter


def record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("hramada.relay", logging.INFO, __file__, 1, msg, args, None)


def test_each_message_is_written_a_few_times_per_period_then_counted():
    now = [0.0]
    bound = BoundedLogFilter(burst=3, period=60, clock=lambda: now[0])
    passed = [bound.filter(record("client went away during %s", i)) for i in range(1000)]
    assert passed.count(True) == 3 and passed[:3] == [True] * 3
    assert bound.filter(record("another message"))  # other messages have their own bound
    now[0] = 61
    later = record("client went away during %s", "x")
    assert bound.filter(later)
    assert "997 more like this left out of the log" in later.getMessage()


def test_accept_errors_are_logged_once_per_period_with_a_count(caplog):
    now = [100.0]
    errors = AcceptErrors(period=10, clock=lambda: now[0])
    with caplog.at_level(logging.ERROR, logger="hramada.relay"):
        for _ in range(2048):
            errors.record(OSError(24, "Too many open files"))
        now[0] += 10
        errors.record(OSError(24, "Too many open files"))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "cannot accept connections" in lines[0]
    assert "2048 refused since the last report" in lines[1]
    assert errors.total == 2049 and errors.kinds == {"OSError": 2049}
