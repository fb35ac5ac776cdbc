"""Failed and dead jobs grouped by error signature, and bulk retry."""

from __future__ import annotations

import time

import pytest

from queue_core import JobStatus, Queue

from .conftest import QueueFactory
from .support import assert_counts_match_pages, collect_ids

TIMEOUT_SIGNATURE = "TimeoutError: no reply from <ip> after <n> s"
REFUSED_SIGNATURE = "ConnectionError: <email> refused"


def fail_with(queue: Queue, errors: list[str]) -> list[str]:
    """Push one job per error, then claim each and fail it with that error."""
    ids = [queue.push({"n": n}) for n in range(len(errors))]
    for job_id, error in zip(ids, errors, strict=True):
        job = next(queue.consume(id=job_id))
        assert job.fail(error)
    return ids


def test_similar_errors_group_together(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=1)
    started = time.time()
    timeouts = fail_with(
        queue,
        [
            "TimeoutError: no reply from 10.0.0.7:25 after 30 s",
            "TimeoutError: no reply from 10.0.0.8:25 after 45 s",
            "TimeoutError: no reply from 192.168.1.1 after 5 s",
        ],
    )
    refused = fail_with(queue, ["ConnectionError: bob@example.com refused"])

    groups = queue.error_groups("dead")

    assert [group.signature for group in groups] == [
        TIMEOUT_SIGNATURE,
        REFUSED_SIGNATURE,
    ]
    assert [group.count for group in groups] == [3, 1]
    timeout_group = groups[0]
    assert started - 1 <= timeout_group.first_seen <= timeout_group.last_seen
    assert timeout_group.last_seen <= time.time() + 1
    listed = collect_ids(queue, "dead")
    assert set(listed) == set(timeouts) | set(refused)


def test_group_pages_list_members(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=1)
    timeouts = fail_with(
        queue,
        [
            "TimeoutError: no reply from 10.0.0.7:25 after 30 s",
            "TimeoutError: no reply from 10.0.0.8:25 after 45 s",
        ],
    )
    fail_with(queue, ["ConnectionError: bob@example.com refused"])

    page = queue.jobs("dead", signature=TIMEOUT_SIGNATURE)

    assert [job.id for job in page] == list(reversed(timeouts))


def test_search_all_statuses_by_signature(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=1)
    timeouts = fail_with(queue, ["TimeoutError: no reply from 10.0.0.7 after 3 s"])
    fail_with(queue, ["ConnectionError: bob@example.com refused"])
    queue.push({"n": "pending"})

    page = queue.search(None, signature=TIMEOUT_SIGNATURE)

    assert [job.id for job in page] == timeouts


def test_failed_groups_include_dead(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=2)
    strict = queue_factory(max_retries=1)
    fail_with(queue, ["ConnectionError: bob@example.com refused"])
    fail_with(strict, ["ConnectionError: carol@example.com refused"])

    failed_groups = queue.error_groups("failed")
    dead_groups = queue.error_groups("dead")

    assert [(g.signature, g.count) for g in failed_groups] == [(REFUSED_SIGNATURE, 2)]
    assert [(g.signature, g.count) for g in dead_groups] == [(REFUSED_SIGNATURE, 1)]


def test_expired_lease_has_signature(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=1, visibility_timeout=1)
    queue.push({"n": 1})
    assert queue.pop() is not None
    time.sleep(1.2)
    assert queue.recover_expired() == 1

    groups = queue.error_groups("dead")

    assert len(groups) == 1
    assert groups[0].count == 1
    assert groups[0].signature.startswith("lease expired")


def test_retry_all_dead_moves_letters(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=2)
    strict = queue_factory(max_retries=1)
    failed = fail_with(queue, ["ValueError: bad row 1"])
    dead = fail_with(strict, ["ValueError: bad row 2", "ValueError: bad row 3"])

    assert queue.retry_all("dead") == 2

    assert set(collect_ids(queue, "pending")) == set(dead)
    assert collect_ids(queue, "failed") == failed
    for job_id in dead:
        job = queue.get(job_id)
        assert job is not None
        assert job.attempts == 1
    assert_counts_match_pages(queue)


def test_retry_all_failed_includes_dead(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=2)
    strict = queue_factory(max_retries=1)
    failed = fail_with(queue, ["ValueError: bad row 1"])
    dead = fail_with(strict, ["ValueError: bad row 2"])

    assert queue.retry_all(JobStatus.FAILED) == 2

    assert set(collect_ids(queue, "pending")) == set(failed) | set(dead)
    assert queue.error_groups("failed") == []
    assert_counts_match_pages(queue)


def test_retry_all_one_group(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=1)
    timeouts = fail_with(queue, ["TimeoutError: no reply from 10.0.0.7 after 3 s"])
    refused = fail_with(queue, ["ConnectionError: bob@example.com refused"])

    assert queue.retry_all("dead", signature=TIMEOUT_SIGNATURE) == 1

    assert collect_ids(queue, "pending") == timeouts
    assert collect_ids(queue, "dead") == refused


def test_purge_one_group(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=1)
    timeouts = fail_with(queue, ["TimeoutError: no reply from 10.0.0.7 after 3 s"])
    refused = fail_with(queue, ["ConnectionError: bob@example.com refused"])

    assert queue.purge("dead", signature=REFUSED_SIGNATURE) == 1

    assert collect_ids(queue, "dead") == timeouts
    assert queue.get(refused[0]) is None
    assert_counts_match_pages(queue)


@pytest.mark.parametrize("status", ["pending", "completed", "reserved", "bogus"])
def test_retry_all_rejects_status(queue_factory: QueueFactory, status: str) -> None:
    queue = queue_factory()
    queue.push({"n": 1})

    with pytest.raises(ValueError) as error:
        queue.retry_all(status)
    assert repr(status) in str(error.value)
    assert queue.size() == 1
