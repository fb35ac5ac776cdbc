"""Failing, retrying, dead letters and purging."""

from __future__ import annotations

import time

import pytest

from queue_core import Backoff, JobNotFoundError, JobStatus, Queue

from .conftest import QueueFactory
from .support import (
    assert_counts_match_pages,
    collect_ids,
    one_job_in_each_status,
    pop_within,
)

BAD_ADDRESS = "bad@example.com"


def run_email_pass(queue: Queue, attempts: dict[str, int]) -> None:
    """Consume what is waiting: fail the bad address, complete the others."""
    for job in queue.consume(poll_interval=0):
        attempts[job.id] = attempts.get(job.id, 0) + 1
        if job.data["to"] == BAD_ADDRESS:
            assert job.fail(f"mailbox {BAD_ADDRESS} does not exist")
        else:
            assert job.complete()


def test_email_worker_dead_letters_bad(queue_factory: QueueFactory) -> None:
    queue = queue_factory("emails", max_retries=3)
    bad = queue.push({"to": BAD_ADDRESS, "subject": "Welcome"})
    good = [queue.push({"to": f"user{n}@example.com"}) for n in range(3)]
    attempts: dict[str, int] = {}

    for _ in range(6):
        run_email_pass(queue, attempts)
        assert_counts_match_pages(queue)
        queue.retry_failed()
        assert_counts_match_pages(queue)

    assert attempts[bad] == 3
    assert [attempts[job_id] for job_id in good] == [1, 1, 1]
    assert queue.size("completed") == 3

    dead = queue.dead_letters()
    assert [job.id for job in dead] == [bad]
    letter = dead[0]
    assert letter.status == JobStatus.DEAD
    assert letter.attempts == 3
    assert letter.payload == {"to": BAD_ADDRESS, "subject": "Welcome"}
    assert letter.data == letter.payload
    assert letter.error == f"mailbox {BAD_ADDRESS} does not exist"

    assert queue.retry(bad) is True
    retried = queue.get(bad)
    assert retried is not None
    assert retried.status == JobStatus.PENDING
    assert retried.attempts == 3
    assert queue.dead_letters() == []
    assert_counts_match_pages(queue)


def test_retried_dead_letter_dies_again(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=2)
    job_id = queue.push({"to": BAD_ADDRESS})
    for _ in range(2):
        job = queue.pop()
        assert job is not None
        assert job.fail("bounced")
        queue.retry_failed()
    assert queue.size("dead") == 1

    assert queue.retry(job_id)
    job = queue.pop()
    assert job is not None
    assert job.attempts == 2
    assert job.fail("bounced again")

    stored = queue.get(job_id)
    assert stored is not None
    assert stored.status == JobStatus.DEAD
    assert stored.attempts == 3
    assert stored.error == "bounced again"


@pytest.mark.parametrize(
    ("max_retries", "expected_attempts"),
    [(0, 1), (1, 1), (3, 3)],
    ids=["max_retries=0", "max_retries=1", "max_retries=3"],
)
def test_attempts_before_dead_letter(
    queue_factory: QueueFactory, max_retries: int, expected_attempts: int
) -> None:
    queue = queue_factory(max_retries=max_retries)
    job_id = queue.push({"to": BAD_ADDRESS})
    attempts: dict[str, int] = {}

    for _ in range(expected_attempts + 3):
        run_email_pass(queue, attempts)
        queue.retry_failed()

    assert attempts[job_id] == expected_attempts
    stored = queue.get(job_id)
    assert stored is not None
    assert stored.status == JobStatus.DEAD
    assert stored.attempts == expected_attempts
    assert [job.id for job in queue.dead_letters()] == [job_id]


def test_fail_once_leaves_no_trace(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=3)
    job_id = queue.push({"to": "flaky@example.com"})
    assert_counts_match_pages(queue)

    job = queue.pop()
    assert job is not None
    assert_counts_match_pages(queue)
    assert job.fail("temporary DNS failure")
    assert queue.size("failed") == 1
    assert_counts_match_pages(queue)

    assert queue.retry_failed() == 1
    assert queue.size("failed") == 0
    assert_counts_match_pages(queue)

    job = queue.pop()
    assert job is not None
    assert job.id == job_id
    assert job.attempts == 1
    assert job.complete()
    assert_counts_match_pages(queue)

    counts = queue.counts()
    assert counts["completed"] == 1
    assert counts["failed"] == 0
    assert counts["dead"] == 0
    assert collect_ids(queue, "failed") == []
    assert queue.dead_letters() == []
    stored = queue.get(job_id)
    assert stored is not None
    assert stored.status == JobStatus.COMPLETED
    assert stored.attempts == 1


def test_counts_match_pages_throughout(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=2)
    strict = queue_factory(max_retries=1)
    ids = [queue.push({"n": n}) for n in range(12)]
    assert_counts_match_pages(queue)

    held = [queue.pop() for _ in range(8)]
    assert all(job is not None for job in held)
    assert_counts_match_pages(queue)

    for job in held[:3]:
        assert job is not None
        assert job.complete()
        assert_counts_match_pages(queue)
    for job in held[3:6]:
        assert job is not None
        assert job.fail("broken")
        assert_counts_match_pages(queue)
    for job in held[6:]:
        assert job is not None
        assert job.release()
        assert_counts_match_pages(queue)

    dead_job = strict.pop()
    assert dead_job is not None
    assert dead_job.fail("fatal")
    assert_counts_match_pages(queue)

    assert queue.retry_failed() == 3
    assert_counts_match_pages(queue)
    assert queue.retry(dead_job.id)
    assert_counts_match_pages(queue)
    queue.push({"n": "later"}, delay=60)
    assert_counts_match_pages(queue)
    assert queue.purge("completed") == 3
    assert_counts_match_pages(queue)

    counts = queue.counts()
    assert sum(counts.values()) == len(ids) - 3 + 1


def test_retry_failed_moves_not_copies(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=3)
    ids = {queue.push({"n": n}) for n in range(5)}

    def fail_all() -> None:
        while (job := queue.pop()) is not None:
            assert job.fail("still broken")

    fail_all()
    assert set(collect_ids(queue, "failed")) == ids

    assert queue.retry_failed() == 5
    assert collect_ids(queue, "failed") == []
    assert queue.size() == 5
    fail_all()
    failed = collect_ids(queue, "failed")
    assert len(failed) == 5
    assert set(failed) == ids

    assert queue.retry_failed() == 5
    fail_all()
    failed = collect_ids(queue, "failed")
    dead = collect_ids(queue, "dead")
    assert failed == []
    assert len(dead) == 5
    assert set(dead) == ids
    assert sum(queue.counts().values()) == 5
    assert queue.retry_failed() == 0


def test_retry_checks_status(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    job_id = queue.push({"n": 1})

    assert queue.retry(job_id) is False
    stored = queue.get(job_id)
    assert stored is not None
    assert stored.status == JobStatus.PENDING

    with pytest.raises(JobNotFoundError):
        queue.retry("0" * 32)


# Automatic retry --------------------------------------------------------------

TINY_BACKOFF = Backoff(base=0.01, factor=1.0, maximum=0.01, jitter=0.0)


def test_failed_job_waits_without_backoff(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=3)
    job_id = queue.push({"n": 1})
    job = queue.pop()
    assert job is not None
    assert job.fail("broken")

    time.sleep(0.05)
    assert queue.pop() is None
    stored = queue.get(job_id)
    assert stored is not None
    assert stored.status == JobStatus.FAILED


def test_auto_retry_until_dead(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=3, retry_backoff=TINY_BACKOFF)
    job_id = queue.push({"to": BAD_ADDRESS})
    attempts = 0

    while attempts < 10:
        job = pop_within(queue, seconds=5)
        if job is None:
            break
        attempts += 1
        assert job.fail("bounced")
        stored = queue.get(job_id)
        assert stored is not None
        if stored.status == JobStatus.DEAD:
            break
        # With automatic retry a job with attempts left goes back to pending
        # and never waits in failed for an operator.
        assert stored.status == JobStatus.PENDING
        assert queue.size("failed") == 0

    assert attempts == 3
    stored = queue.get(job_id)
    assert stored is not None
    assert stored.status == JobStatus.DEAD
    assert stored.attempts == 3
    assert [job.id for job in queue.dead_letters()] == [job_id]


def test_auto_retry_then_success(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=3, retry_backoff=TINY_BACKOFF)
    job_id = queue.push({"to": "flaky@example.com"})

    job = queue.pop()
    assert job is not None
    assert job.fail("temporary DNS failure")
    job = pop_within(queue, seconds=5)
    assert job is not None
    assert job.id == job_id
    assert job.attempts == 1
    assert job.complete()

    stored = queue.get(job_id)
    assert stored is not None
    assert stored.status == JobStatus.COMPLETED
    assert queue.size("failed") == 0
    assert queue.size("dead") == 0
    assert_counts_match_pages(queue)


# Purge ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "removed"),
    [
        ("pending", {"pending"}),
        ("completed", {"completed"}),
        ("failed", {"failed", "dead"}),
        ("dead", {"dead"}),
    ],
)
def test_purge_removes_group(
    queue_factory: QueueFactory, group: str, removed: set[str]
) -> None:
    queue = queue_factory(max_retries=3)
    ids = one_job_in_each_status(queue)

    assert queue.purge(group) == len(removed)

    for status, job_id in ids.items():
        stored = queue.get(job_id)
        if status in removed:
            assert stored is None, f"purge({group!r}) kept the {status} job"
        else:
            assert stored is not None, f"purge({group!r}) removed the {status} job"
            assert stored.status == status
    assert_counts_match_pages(queue)


def test_purge_accepts_status_enum(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=3)
    ids = one_job_in_each_status(queue)

    assert queue.purge(JobStatus.DEAD) == 1
    assert queue.get(ids["dead"]) is None
    assert queue.get(ids["failed"]) is not None


@pytest.mark.parametrize("status", ["reserved", "bogus", "Failed", ""])
def test_purge_unknown_status_lists_valid(
    queue_factory: QueueFactory, status: str
) -> None:
    queue = queue_factory(max_retries=3)
    one_job_in_each_status(queue)
    before = queue.counts()

    with pytest.raises(ValueError) as error:
        queue.purge(status)

    message = str(error.value)
    assert repr(status) in message
    for name in ("pending", "completed", "failed", "dead"):
        assert name in message
    assert queue.counts() == before


def test_size_unknown_status_lists_valid(queue_factory: QueueFactory) -> None:
    queue = queue_factory()

    with pytest.raises(ValueError) as error:
        queue.size("bogus")

    message = str(error.value)
    assert "'bogus'" in message
    for status in JobStatus:
        assert status.value in message


def test_jobs_unknown_status_rejected(queue_factory: QueueFactory) -> None:
    queue = queue_factory()

    with pytest.raises(ValueError, match="'bogus'"):
        queue.jobs("bogus")
