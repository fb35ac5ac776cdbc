"""Bulk retry runs: rate, resume without double retries, auto-stop, leases."""

from __future__ import annotations

import sqlite3

import pytest
from console_helpers import push_dead

from dashboard.triage.audit import audit_page
from dashboard.triage.runs import control_run, get_run, start_run, step
from dashboard.triage.store import TriageStore
from queue_core import Job


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path, clock):  # type: ignore[no-untyped-def]
    opened = TriageStore(tmp_path / "triage.sqlite3", clock=clock)
    yield opened
    opened.close()


def start(store, queue, **overrides):  # type: ignore[no-untyped-def]
    values = {
        "status": "dead",
        "signature": None,
        "rate": 2.0,
        "threshold": 0.5,
        "min_sample": 2,
        "actor": "ops",
    }
    values.update(overrides)
    return start_run(store, queue, **values)


def leave_claimed(store, run_id: int, job_id: str, now: float) -> None:
    """Write the row a process writes before it sends a job's retry."""
    store.execute(
        "INSERT INTO run_jobs (run_id, job_id, attempts, state, at) "
        "VALUES (?, ?, 1, 'claimed', ?)",
        (run_id, job_id, now),
    )


def test_run_retries_at_rate(store, clock, make_queue):
    queue = make_queue("emails")
    push_dead(queue, 3)
    run = start(store, queue)

    assert step(store, lambda topic: queue, run.id, "a") == 0.5
    assert step(store, lambda topic: queue, run.id, "a") == pytest.approx(0.5)
    assert get_run(store, run.id).retried == 1
    clock.now += 0.5
    step(store, lambda topic: queue, run.id, "a")
    clock.now += 0.5
    step(store, lambda topic: queue, run.id, "a")
    clock.now += 0.5

    assert step(store, lambda topic: queue, run.id, "a") is None
    finished = get_run(store, run.id)
    assert finished.state == "finished"
    assert finished.retried == 3
    assert finished.total == 3
    assert queue.counts()["pending"] == 3
    actions = [entry.action for entry in audit_page(store).entries]
    assert actions == ["run-finish", "run-start"]


def test_run_resumes_claimed_job_once(store, clock, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    run = start(store, queue)
    # A process claimed the job and stopped before it sent the retry.
    leave_claimed(store, run.id, job_id, clock.now)

    step(store, lambda topic: queue, run.id, "b")

    assert queue.get(job_id).status.value == "pending"
    assert get_run(store, run.id).retried == 1


def test_run_skips_claimed_job_already_retried(store, clock, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    run = start(store, queue)
    leave_claimed(store, run.id, job_id, clock.now)
    # The retry was sent, and the job failed again before the restart.
    assert queue.retry(job_id)
    job = next(queue.consume(id=job_id, poll_interval=0))
    assert job.fail("again")

    step(store, lambda topic: queue, run.id, "b")
    clock.now += 1
    step(store, lambda topic: queue, run.id, "b")

    stored = queue.get(job_id)
    assert stored.status.value == "dead"
    assert stored.attempts == 2
    assert get_run(store, run.id).state == "finished"


def test_job_failing_again_not_retried_twice(store, clock, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    run = start(store, queue)

    step(store, lambda topic: queue, run.id, "a")
    job = next(queue.consume(id=job_id, poll_interval=0))
    assert job.fail("again")
    clock.now += 1
    step(store, lambda topic: queue, run.id, "a")

    assert queue.get(job_id).status.value == "dead"
    assert get_run(store, run.id).state == "finished"


def test_run_stops_when_failure_rate_passes(store, clock, make_queue):
    queue = make_queue("emails")
    ids = push_dead(queue, 5)
    run = start(store, queue, threshold=0.5, min_sample=2)

    for _ in range(2):
        step(store, lambda topic: queue, run.id, "a")
        clock.now += 1
    for job in queue.consume(poll_interval=0):
        assert job.fail("still broken")

    assert step(store, lambda topic: queue, run.id, "a") is None
    stopped = get_run(store, run.id)
    assert stopped.state == "stopped"
    assert stopped.settled == 2
    assert stopped.failed_again == 2
    assert stopped.stop_reason == (
        "2 of 2 settled retried jobs failed again, over the threshold of 50%"
    )
    assert queue.counts()["dead"] == 5
    assert len(ids) == 5
    assert audit_page(store).entries[0].action == "run-auto-stop"


def test_auto_stop_sees_failures_behind_unsettled_jobs(store, clock, make_queue):
    queue = make_queue("emails")
    push_dead(queue, 30)
    run = start(store, queue, rate=1000.0, threshold=0.5, min_sample=5)
    for _ in range(20):
        step(store, lambda topic: queue, run.id, "a")
        clock.now += 1
    # A worker reserves the first 20 retried jobs and is still running them.
    reserved_jobs = [queue.pop() for _ in range(20)]
    assert all(job is not None for job in reserved_jobs)
    for _ in range(10):
        step(store, lambda topic: queue, run.id, "a")
        clock.now += 1
    # The next 10 retried jobs all fail again.
    failed = 0
    for job in queue.consume(poll_interval=0):
        assert job.fail("still broken")
        failed += 1
    assert failed == 10

    for _ in range(3):
        step(store, lambda topic: queue, run.id, "a")
        clock.now += 1

    current = get_run(store, run.id)
    assert current.settled == 10
    assert current.failed_again == 10
    assert current.state == "stopped"


def test_auto_stop_sees_failures_between_held_jobs(store, clock, make_queue):
    queue = make_queue("emails")
    push_dead(queue, 70)
    run = start(store, queue, rate=1000.0, threshold=0.5, min_sample=5)

    def retry_and_reserve(count: int) -> list[Job]:
        for _ in range(count):
            step(store, lambda topic: queue, run.id, "a")
            clock.now += 1
        reserved = [queue.pop() for _ in range(count)]
        assert all(job is not None for job in reserved)
        return reserved  # type: ignore[return-value]

    # A worker has reserved the oldest 25 and the newest 15 retried jobs, and the 10
    # retried between them fail again.
    retry_and_reserve(25)
    middle = retry_and_reserve(10)
    retry_and_reserve(15)
    for job in middle:
        assert job.fail("still broken")
    for _ in range(8):
        step(store, lambda topic: queue, run.id, "a")
        clock.now += 1

    current = get_run(store, run.id)
    assert current.state == "stopped"
    assert current.settled >= 5
    assert current.failed_again == current.settled
    assert current.retried < 70


def test_store_made_before_outcome_cursor_opens(tmp_path, clock, make_queue):
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE runs (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, "
        "status TEXT NOT NULL, signature TEXT, rate REAL NOT NULL, "
        "threshold REAL NOT NULL, min_sample INTEGER NOT NULL, state TEXT NOT NULL, "
        "total INTEGER NOT NULL, created_at REAL NOT NULL, created_by TEXT NOT NULL, "
        "updated_at REAL NOT NULL, next_at REAL NOT NULL, stop_reason TEXT)"
    )
    old.close()
    queue = make_queue("emails")
    push_dead(queue, 2)

    opened = TriageStore(path, clock=clock)
    run = start(opened, queue)
    step(opened, lambda topic: queue, run.id, "a")
    again = TriageStore(path, clock=clock)

    assert get_run(opened, run.id).retried == 1
    assert get_run(again, run.id).retried == 1
    opened.close()
    again.close()


def test_run_below_min_sample_keeps_going(store, clock, make_queue):
    queue = make_queue("emails")
    push_dead(queue, 3)
    run = start(store, queue, threshold=0.1, min_sample=3)

    step(store, lambda topic: queue, run.id, "a")
    for job in queue.consume(poll_interval=0):
        assert job.fail("still broken")
    clock.now += 1
    step(store, lambda topic: queue, run.id, "a")

    current = get_run(store, run.id)
    assert current.state == "running"
    assert current.failed_again == 1
    assert current.retried == 2


def test_completed_jobs_count_as_settled(store, clock, make_queue):
    queue = make_queue("emails")
    push_dead(queue, 3)
    run = start(store, queue, threshold=0.5, min_sample=2)

    for _ in range(2):
        step(store, lambda topic: queue, run.id, "a")
        clock.now += 1
    for job in queue.consume(poll_interval=0):
        assert job.complete()
    step(store, lambda topic: queue, run.id, "a")

    current = get_run(store, run.id)
    assert current.settled == 2
    assert current.failed_again == 0
    assert current.state == "running"


def test_lease_keeps_second_owner_out(store, clock, make_queue):
    queue = make_queue("emails")
    push_dead(queue, 2)
    run = start(store, queue)

    assert step(store, lambda topic: queue, run.id, "a") is not None
    assert step(store, lambda topic: queue, run.id, "b") is None
    assert get_run(store, run.id).retried == 1
    clock.now += 31
    assert step(store, lambda topic: queue, run.id, "b") is not None
    assert get_run(store, run.id).retried == 2


def test_pause_resume_cancel(store, clock, make_queue):
    queue = make_queue("emails")
    push_dead(queue, 3)
    run = start(store, queue)

    control_run(store, run.id, "pause", "ops")
    assert step(store, lambda topic: queue, run.id, "a") is None
    assert queue.counts()["dead"] == 3
    control_run(store, run.id, "resume", "ops")
    step(store, lambda topic: queue, run.id, "a")
    control_run(store, run.id, "cancel", "ops")

    assert get_run(store, run.id).state == "cancelled"
    assert queue.counts()["dead"] == 2
    with pytest.raises(ValueError, match="cannot resume run 1: it is cancelled"):
        control_run(store, run.id, "resume", "ops")
    actions = [entry.action for entry in audit_page(store).entries]
    assert actions == ["run-cancel", "run-resume", "run-pause", "run-start"]


def test_run_of_error_group_only(store, clock, make_queue):
    queue = make_queue("emails")
    push_dead(queue, 2, "TimeoutError: after 30 s")
    [other] = push_dead(queue, 1, "KeyError: 'to'")
    signature = next(
        group.signature
        for group in queue.error_groups("dead")
        if group.signature.startswith("TimeoutError")
    )
    run = start(store, queue, signature=signature)

    for _ in range(3):
        step(store, lambda topic: queue, run.id, "a")
        clock.now += 1

    assert get_run(store, run.id).state == "finished"
    assert queue.counts()["pending"] == 2
    assert queue.get(other).status.value == "dead"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"status": "pending"}, "cannot retry status 'pending'"),
        ({"rate": 0}, "rate must be above 0"),
        ({"rate": 5000}, "at most 1000"),
        ({"threshold": 1.5}, "threshold must be above 0 and at most 1"),
        ({"min_sample": 0}, "min_sample must be at least 1"),
        ({"min_sample": 2.5}, "min_sample must be a whole number"),
        ({"min_sample": 10**23}, "min_sample must be at least 1 and at most 1000000"),
    ],
)
def test_start_rejects_invalid_settings(store, make_queue, overrides, message):
    with pytest.raises(ValueError, match=message):
        start(store, make_queue("emails"), **overrides)
