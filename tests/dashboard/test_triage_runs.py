"""Bulk retry runs: rate, resume without double retries, auto-stop, leases."""

from __future__ import annotations

import pytest
from console_helpers import push_dead

from dashboard.triage.audit import audit_page
from dashboard.triage.runs import control_run, get_run, start_run, step
from dashboard.triage.store import TriageStore


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
