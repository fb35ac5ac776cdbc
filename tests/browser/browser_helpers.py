"""Helpers shared by the browser tests."""

from __future__ import annotations

from queue_core import Queue


def push_dead(
    queue: Queue, count: int, error: str = "TimeoutError: after 30 s"
) -> list[str]:
    """Push *count* jobs and fail each once; the queue's max_retries=1 kills them."""
    ids = [queue.push({"n": n, "email": f"user{n}@example.com"}) for n in range(count)]
    for job_id in ids:
        job = next(queue.consume(id=job_id, poll_interval=0))
        assert job.fail(error)
    return ids
