"""Writes whose reply is lost after the server applied them.

pymongo cannot show this fault on demand against a real server, so these
tests wrap one Collection method to apply the write and then raise
AutoReconnect, as a connection dropped before the reply would.
"""

from __future__ import annotations

import time

import pytest

from queue_core import Queue

from .conftest import MakeQueue
from .test_mongodb import lose_first_reply


def dead_job(queue: Queue) -> str:
    job_id = queue.push({"n": 1})
    job = queue.pop()
    assert job is not None
    assert job.fail("boom")
    return job_id


def test_lost_retry_reply_reports_retried(
    make_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = make_queue(max_retries=1)
    job_id = dead_job(queue)
    lose_first_reply(monkeypatch, "update_one")

    assert queue.retry(job_id) is True
    assert queue.counts()["pending"] == 1


def test_lost_delete_reply_reports_deleted(
    make_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = make_queue(max_retries=1)
    job_id = dead_job(queue)
    lose_first_reply(monkeypatch, "delete_one")

    assert queue.delete(job_id) is True
    assert queue.get(job_id) is None


def test_lost_purge_reply_reports_count(
    make_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = make_queue(max_retries=1)
    dead_job(queue)
    lose_first_reply(monkeypatch, "delete_many")

    assert queue.purge("dead") == 1
    assert queue.counts()["dead"] == 0


def test_lost_retry_all_reply_reports_count(
    make_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = make_queue(max_retries=1)
    dead_job(queue)
    lose_first_reply(monkeypatch, "update_many")

    assert queue.retry_all("dead") == 1
    assert queue.counts()["pending"] == 1


def test_lost_recovery_reply_reports_count(
    make_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = make_queue(visibility_timeout=1)
    queue.push({"n": 1})
    assert queue.pop() is not None
    lose_first_reply(monkeypatch, "update_many")

    assert queue.recover_expired(now=time.time() + 5) == 1
    assert queue.counts()["pending"] == 1
