"""Rates from two snapshots of counts, including purges and retries between them."""

from __future__ import annotations

import pytest

from queue_core.rates import Increments, increments, totals


def counts(
    pending: int = 0,
    reserved: int = 0,
    completed: int = 0,
    failed: int = 0,
    dead: int = 0,
) -> dict[str, int]:
    return {
        "pending": pending,
        "reserved": reserved,
        "completed": completed,
        "failed": failed,
        "dead": dead,
    }


def test_totals_count_dead_as_failed():
    assert totals(counts(pending=2, reserved=1, completed=5, failed=3, dead=4)) == (
        15,
        5,
        7,
    )


def test_increments_between_snapshots():
    before = counts(pending=10, completed=20, failed=1)
    after = counts(pending=12, reserved=1, completed=25, failed=1, dead=2)

    found = increments(before, after)

    assert found == Increments(pushed=10, completed=5, failed=2)


def test_purge_counts_zero_not_negative():
    # 50 completed jobs purged while 3 were pushed and 3 completed: the totals
    # went down, so the interval under-counts instead of going negative.
    before = counts(pending=5, completed=50)
    after = counts(pending=5, completed=3)

    found = increments(before, after)

    assert found.pushed == 0
    assert found.completed == 0
    assert found.failed == 0


def test_retry_keeps_pushed_and_completed():
    # A retry moves 4 dead jobs to pending: the total of every status stays,
    # failed goes down, and 2 completions still count.
    before = counts(pending=1, completed=10, dead=4)
    after = counts(pending=3, completed=12)

    found = increments(before, after)

    assert found.pushed == 0
    assert found.completed == 2
    assert found.failed == 0


def test_new_topic_counts_from_zero():
    assert increments({}, counts(pending=7, completed=2)) == Increments(9, 2, 0)


def test_per_minute_scales_by_interval():
    assert Increments(5, 10, 1).per_minute(10) == (30.0, 60.0, 6.0)


def test_per_minute_rejects_empty_interval():
    with pytest.raises(ValueError, match="above 0 seconds"):
        Increments(1, 1, 1).per_minute(0)
