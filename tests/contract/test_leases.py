"""Leases: a job whose worker dies or hangs comes back to the queue.

These tests use a one- or two-second visibility timeout, so each waits a
couple of seconds at most.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from queue_core import JobStatus

from .conftest import QueueFactory
from .support import assert_counts_match_pages, pop_within

LEASE_SECONDS = 1


def test_expired_lease_returns_job(queue_factory: QueueFactory) -> None:
    worker_a = queue_factory(visibility_timeout=LEASE_SECONDS)
    worker_b = queue_factory(visibility_timeout=LEASE_SECONDS)
    job_id = worker_a.push({"n": 1})
    held = worker_a.pop()
    assert held is not None
    assert worker_b.pop() is None
    assert_counts_match_pages(worker_b)

    again = pop_within(worker_b, seconds=LEASE_SECONDS + 4)

    assert again is not None
    assert again.id == job_id
    assert again.attempts == 1
    assert again.error is not None
    assert "lease expired" in again.error
    assert_counts_match_pages(worker_b)


def test_old_worker_cannot_settle(queue_factory: QueueFactory) -> None:
    worker_a = queue_factory(visibility_timeout=LEASE_SECONDS)
    worker_b = queue_factory(visibility_timeout=LEASE_SECONDS)
    first = worker_a.push({"n": 1})
    second = worker_a.push({"n": 2})
    stale_first = worker_a.pop()
    stale_second = worker_a.pop()
    assert stale_first is not None
    assert stale_second is not None
    fresh_first = pop_within(worker_b, seconds=LEASE_SECONDS + 4)
    fresh_second = worker_b.pop()
    assert fresh_first is not None
    assert fresh_first.id == first
    assert fresh_second is not None
    assert fresh_second.id == second

    assert stale_first.complete() is False
    assert stale_second.fail("late failure") is False

    for job_id in (first, second):
        stored = worker_b.get(job_id)
        assert stored is not None
        assert stored.status == JobStatus.RESERVED
        assert stored.attempts == 1
        assert stored.error is not None
        assert "lease expired" in stored.error
    assert fresh_first.complete() is True
    assert fresh_second.fail("real failure") is True
    completed = worker_b.get(first)
    assert completed is not None
    assert completed.status == JobStatus.COMPLETED
    failed = worker_b.get(second)
    assert failed is not None
    assert failed.status == JobStatus.FAILED
    assert failed.attempts == 2


def test_stale_job_extend_fails(queue_factory: QueueFactory) -> None:
    worker_a = queue_factory(visibility_timeout=LEASE_SECONDS)
    worker_b = queue_factory(visibility_timeout=LEASE_SECONDS)
    job_id = worker_a.push({"n": 1})
    stale = worker_a.pop()
    assert stale is not None
    fresh = pop_within(worker_b, seconds=LEASE_SECONDS + 4)
    assert fresh is not None

    assert stale.extend_lease(60) is False

    stored = worker_b.get(job_id)
    assert stored is not None
    assert stored.lease_expires_at == fresh.lease_expires_at
    assert fresh.complete() is True


def test_late_settle_before_recovery(queue_factory: QueueFactory) -> None:
    # Until another worker recovers the job, the worker whose lease ran out
    # may still settle it, because no other worker can hold it yet.
    worker = queue_factory(visibility_timeout=LEASE_SECONDS)
    job_id = worker.push({"n": 1})
    job = worker.pop()
    assert job is not None
    time.sleep(LEASE_SECONDS + 0.2)

    assert job.complete() is True

    stored = worker.get(job_id)
    assert stored is not None
    assert stored.status == JobStatus.COMPLETED
    assert stored.attempts == 0
    assert worker.recover_expired() == 0


def test_extend_lease_prevents_expiry(queue_factory: QueueFactory) -> None:
    worker_a = queue_factory(visibility_timeout=LEASE_SECONDS)
    worker_b = queue_factory(visibility_timeout=LEASE_SECONDS)
    job_id = worker_a.push({"n": 1})
    job = worker_a.pop()
    assert job is not None

    time.sleep(LEASE_SECONDS / 2)
    assert job.extend_lease(LEASE_SECONDS * 3) is True
    time.sleep(LEASE_SECONDS)

    # The first lease has run out by now, so only the extension keeps the job.
    assert worker_b.recover_expired() == 0
    assert worker_b.pop() is None
    stored = worker_b.get(job_id)
    assert stored is not None
    assert stored.status == JobStatus.RESERVED
    assert stored.attempts == 0
    assert job.complete() is True


def test_expired_lease_can_dead_letter(queue_factory: QueueFactory) -> None:
    worker = queue_factory(max_retries=1, visibility_timeout=LEASE_SECONDS)
    job_id = worker.push({"n": 1})
    assert worker.pop() is not None

    time.sleep(LEASE_SECONDS + 0.2)
    assert worker.recover_expired() == 1

    stored = worker.get(job_id)
    assert stored is not None
    assert stored.status == JobStatus.DEAD
    assert stored.attempts == 1
    assert [job.id for job in worker.dead_letters()] == [job_id]
    assert worker.pop() is None


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf")])
def test_bad_extension_rejected(queue_factory: QueueFactory, seconds: float) -> None:
    queue = queue_factory()
    queue.push({"n": 1})
    job = queue.pop()
    assert job is not None

    with pytest.raises(ValueError, match="lease extension"):
        job.extend_lease(seconds)
    assert job.complete() is True


# Worker A claims one job, prints its id and then hangs until it is killed.
HOLD_JOB = """
import sys, time
from queue_core import Queue

queue = Queue(sys.argv[1])
job = next(queue.consume(id=sys.argv[2], poll_interval=0))
print(job.id, flush=True)
time.sleep(120)
"""


@pytest.mark.timeout(60)
def test_killed_worker_loses_only_its_job(queue_factory: QueueFactory) -> None:
    # Two seconds leave room for worker B to claim its job before A's lease
    # could run out on a loaded machine.
    lease = 2
    worker_b = queue_factory("emails", visibility_timeout=lease)
    first = worker_b.push({"n": 1})
    second = worker_b.push({"n": 2})
    environ = {**os.environ, **queue_factory.env(visibility_timeout=lease)}
    worker_a = subprocess.Popen(
        [sys.executable, "-c", HOLD_JOB, "emails", first],
        env=environ,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker_a.stdout is not None
        assert worker_a.stdout.readline().strip() == first

        job = next(worker_b.consume(id=second, poll_interval=0))
        assert job.complete() is True
        held = worker_b.get(first)
        assert held is not None
        assert held.status == JobStatus.RESERVED
    finally:
        worker_a.send_signal(signal.SIGKILL)
        worker_a.wait(timeout=30)
        if worker_a.stdout is not None:
            worker_a.stdout.close()
    assert worker_a.returncode == -signal.SIGKILL

    returned = pop_within(worker_b, seconds=lease + 5)
    assert returned is not None
    assert returned.id == first
    assert returned.attempts == 1
    completed = worker_b.get(second)
    assert completed is not None
    assert completed.status == JobStatus.COMPLETED
    assert completed.attempts == 0
