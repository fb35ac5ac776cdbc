"""Operator triage operations on every backend: edited retries, sending a job."""

from __future__ import annotations

import pytest

from queue_core import JobNotFoundError, JobStatus, PayloadError

from .conftest import QueueFactory


def dead_letter(queue, payload):  # type: ignore[no-untyped-def]
    job_id = queue.push(payload, priority=4)
    job = next(queue.consume(id=job_id, poll_interval=0))
    assert job.fail("ValueError: bad address")
    return job_id


def test_send_to_other_topic(queue_factory: QueueFactory) -> None:
    queue = queue_factory("emails", max_retries=1)
    old_id = dead_letter(queue, {"to": "bad@example.com"})

    new_id = queue.send_to(old_id, "emails-manual")

    assert new_id != old_id
    assert queue.get(old_id) is None
    assert queue.counts()["dead"] == 0
    sent = queue.get(new_id, topic="emails-manual")
    assert sent is not None
    assert sent.status == JobStatus.PENDING
    assert sent.retry_of == old_id
    assert sent.attempts == 0
    assert sent.priority == 4
    assert sent.error is None
    assert sent.payload == {"to": "bad@example.com"}
    assert queue.counts("emails-manual")["pending"] == 1
    claimed = next(queue.consume("emails-manual", id=new_id, poll_interval=0))
    assert claimed.payload == {"to": "bad@example.com"}


def test_send_to_same_topic_with_payload(queue_factory: QueueFactory) -> None:
    queue = queue_factory("emails", max_retries=1)
    old_id = dead_letter(queue, {"to": "bad@example.com"})

    new_id = queue.send_to(old_id, "emails", payload={"to": "good@example.com"})

    sent = queue.get(new_id)
    assert sent is not None
    assert sent.retry_of == old_id
    assert sent.payload == {"to": "good@example.com"}
    assert [job.id for job in queue.jobs("pending")] == [new_id]
    assert queue.get(old_id) is None


def test_send_pending_job_rejected(queue_factory: QueueFactory) -> None:
    queue = queue_factory("emails")
    job_id = queue.push({"n": 1})

    with pytest.raises(ValueError, match="is pending; only failed and dead"):
        queue.send_to(job_id, "other")

    assert queue.counts()["pending"] == 1
    assert "other" not in queue.topics()


def test_send_invalid_payload_changes_nothing(queue_factory: QueueFactory) -> None:
    queue = queue_factory("emails", max_retries=1)
    old_id = dead_letter(queue, {"n": 1})

    with pytest.raises(PayloadError):
        queue.send_to(old_id, "other", payload={"n": float("nan")})

    stored = queue.get(old_id)
    assert stored is not None
    assert stored.status == JobStatus.DEAD


def test_send_missing_job(queue_factory: QueueFactory) -> None:
    queue = queue_factory("emails")
    queue.push({"n": 1})

    with pytest.raises(JobNotFoundError):
        queue.send_to("0" * 16, "other")


def test_retry_with_payload_replaces_it(queue_factory: QueueFactory) -> None:
    queue = queue_factory("emails", max_retries=2)
    job_id = dead_letter(queue, {"to": "bad@example.com"})

    assert queue.retry(job_id, payload={"to": "good@example.com", "n": [1, 2]})

    stored = queue.get(job_id)
    assert stored is not None
    assert stored.status == JobStatus.PENDING
    assert stored.attempts == 1
    assert stored.payload == {"to": "good@example.com", "n": [1, 2]}
    claimed = next(queue.consume(id=job_id, poll_interval=0))
    assert claimed.payload == {"to": "good@example.com", "n": [1, 2]}
    assert claimed.fail("still failing")
    failed = queue.get(job_id)
    assert failed is not None
    assert failed.status == JobStatus.DEAD
    assert failed.payload == {"to": "good@example.com", "n": [1, 2]}


def test_retry_without_payload_keeps_it(queue_factory: QueueFactory) -> None:
    queue = queue_factory("emails", max_retries=1)
    job_id = dead_letter(queue, {"to": "a@example.com"})

    assert queue.retry(job_id)

    stored = queue.get(job_id)
    assert stored is not None
    assert stored.payload == {"to": "a@example.com"}


def test_retry_payload_of_pending_job(queue_factory: QueueFactory) -> None:
    queue = queue_factory("emails")
    job_id = queue.push({"n": 1})

    assert queue.retry(job_id, payload={"n": 2}) is False

    stored = queue.get(job_id)
    assert stored is not None
    assert stored.payload == {"n": 1}


def test_retry_invalid_payload_changes_nothing(queue_factory: QueueFactory) -> None:
    queue = queue_factory("emails", max_retries=1)
    job_id = dead_letter(queue, {"n": 1})

    with pytest.raises(PayloadError):
        queue.retry(job_id, payload={"n": 2**64})

    stored = queue.get(job_id)
    assert stored is not None
    assert stored.status == JobStatus.DEAD
    assert stored.payload == {"n": 1}
