"""Job rates from two snapshots of a topic's counts per status.

A queue stores how many jobs are in each status, not how many events
happened, so rates come from the change of three totals between two
snapshots:

- pushed: every job in any status,
- completed: jobs in ``completed``,
- failed: jobs in ``failed`` or ``dead``.

A purge or a delete makes a total go down, and a retry moves failed and dead
jobs back to pending, so a total is not a true counter. When a total went
down between two snapshots, its increment counts as 0 for that interval:
the counts cannot tell how many jobs were removed from how many were added in
the same interval. Such an interval under-counts by at most the jobs added
during it, and never over-counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .queue import Queue
from .status import JobStatus


@dataclass(frozen=True)
class TopicSnapshot:
    """One topic's counts per status and the age of its oldest pending job."""

    counts: dict[str, int]
    #: Seconds since the oldest pending job was created; ``None`` without one.
    oldest_pending_age: float | None = None


def take_snapshot(queue: Queue) -> dict[str, TopicSnapshot]:
    """Return a snapshot of every topic of *queue*'s backend and prefix.

    It makes one ``counts_by_topic`` call, and one oldest-pending query per
    topic that has pending jobs.
    """
    snapshot: dict[str, TopicSnapshot] = {}
    for name, counts in queue.counts_by_topic().items():
        age = None
        if counts.get(JobStatus.PENDING.value):
            age = queue.oldest_pending_age(name)
        snapshot[name] = TopicSnapshot(counts, age)
    return snapshot


@dataclass(frozen=True)
class Increments:
    """Jobs pushed, completed and failed between two snapshots."""

    pushed: int
    completed: int
    failed: int

    def per_minute(self, seconds: float) -> tuple[float, float, float]:
        """Return the increments as rates per minute over *seconds*.

        :raises ValueError: if *seconds* is not above 0.
        """
        if seconds <= 0:
            raise ValueError(f"an interval must be above 0 seconds, not {seconds!r}")
        scale = 60.0 / seconds
        return (self.pushed * scale, self.completed * scale, self.failed * scale)


def totals(counts: Mapping[str, int]) -> tuple[int, int, int]:
    """Return the pushed, completed and failed totals of one topic's *counts*."""
    pushed = sum(counts.values())
    completed = counts.get(JobStatus.COMPLETED.value, 0)
    failed = counts.get(JobStatus.FAILED.value, 0) + counts.get(JobStatus.DEAD.value, 0)
    return pushed, completed, failed


def increments(previous: Mapping[str, int], current: Mapping[str, int]) -> Increments:
    """Return what happened between the counts *previous* and *current*.

    A total that went down (a purge, a delete or a retry) gives 0, not a
    negative number; see the module documentation.
    """
    before = totals(previous)
    after = totals(current)
    pushed, completed, failed = (
        max(now - then, 0) for then, now in zip(before, after, strict=True)
    )
    return Increments(pushed, completed, failed)
