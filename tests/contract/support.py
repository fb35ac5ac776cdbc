"""Helpers for the contract tests, which use only the public Queue and Job API."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from queue_core import Job, JobStatus, Queue, Settings


def collect_ids(queue: Queue, status: str, *, page_size: int = 7) -> list[str]:
    """Return the ids of every job in *status*, read page by page."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page = queue.jobs(status, limit=page_size, cursor=cursor)
        ids.extend(job.id for job in page)
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def assert_counts_match_pages(queue: Queue) -> None:
    """Check that ``counts()`` agrees with the pages of every status."""
    counts = queue.counts()
    assert set(counts) == {status.value for status in JobStatus}
    for status in JobStatus:
        ids = collect_ids(queue, status.value)
        assert len(ids) == len(set(ids)), f"{status} pages repeat a job"
        assert counts[status.value] == len(ids), f"{status}: counts() != pages"
        assert queue.size(status) == len(ids), f"{status}: size() != pages"


def pop_within(queue: Queue, seconds: float) -> Job | None:
    """Poll ``pop()`` until it returns a job or *seconds* pass."""
    deadline = time.monotonic() + seconds
    while True:
        job = queue.pop()
        if job is not None or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def one_job_in_each_status(queue: Queue) -> dict[str, str]:
    """Push one job per status onto *queue*'s topic and return their ids.

    *queue* must allow more than one attempt, so that its failed job is not
    dead. The dead letter comes from a second queue with ``max_retries=1``.
    """
    strict = Queue(queue.topic, max_retries=1, settings=queue.settings)
    ids: dict[str, str] = {}

    ids["reserved"] = queue.push({"status": "reserved"})
    _pop_expecting(queue, ids["reserved"])

    ids["completed"] = queue.push({"status": "completed"})
    assert _pop_expecting(queue, ids["completed"]).complete()

    ids["failed"] = queue.push({"status": "failed"})
    assert _pop_expecting(queue, ids["failed"]).fail("failed on purpose")

    ids["dead"] = queue.push({"status": "dead"})
    assert _pop_expecting(strict, ids["dead"]).fail("dead on purpose")
    strict.close()

    ids["pending"] = queue.push({"status": "pending"})
    for status, job_id in ids.items():
        job = queue.get(job_id)
        assert job is not None
        assert job.status == status
    return ids


def _pop_expecting(queue: Queue, job_id: str) -> Job:
    job = queue.pop()
    assert job is not None
    assert job.id == job_id
    return job


def drain_in_process(
    settings: Settings, topic: str, barrier: threading.Barrier, output: Path
) -> None:
    """Pop and complete jobs until the topic is empty, writing the ids to *output*.

    The target of the multi-process test: each process builds its own queue.
    A job whose ``complete()`` returns False is written with a ``lost:``
    prefix so the test can report it.
    """
    queue = Queue(topic, settings=settings)
    barrier.wait(timeout=60)
    lines: list[str] = []
    while (job := queue.pop()) is not None:
        lines.append(job.id if job.complete() else f"lost:{job.id}")
    queue.close()
    output.write_text("\n".join(lines), encoding="utf-8")
