"""Purge counts when another client changes the same jobs mid-purge.

A purge marks its jobs and then deletes them. A real server allows another
client's write between those two commands but cannot be made to run one
there on demand, so these tests wrap a pymongo Collection method to run the
other client's write just before the purge's delete.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pymongo.collection import Collection

from queue_core import Queue

from .conftest import MakeQueue


def dead_jobs(queue: Queue, count: int) -> list[str]:
    """Push *count* jobs and fail each once, dead with ``max_retries=1``."""
    ids = []
    for n in range(count):
        ids.append(queue.push({"n": n}))
        job = queue.pop()
        assert job is not None
        assert job.fail("boom")
    return ids


def run_before_first(
    monkeypatch: pytest.MonkeyPatch, method: str, write: Callable[[], object]
) -> list[object]:
    """Make the first call of a Collection *method* run *write* before it.

    Returns a list that receives the result of *write*.
    """
    original = getattr(Collection, method)
    results: list[object] = []

    def interleaved(self: Collection[Any], *args: Any, **kwargs: Any) -> Any:
        # *write* may call the same method, which must then run unchanged.
        if not results:
            results.append(None)
            results[0] = write()
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Collection, method, interleaved)
    return results


def test_purge_skips_jobs_retried_meanwhile(
    make_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = make_queue(max_retries=1)
    other = make_queue(max_retries=1)
    dead_jobs(queue, 3)
    retried = run_before_first(
        monkeypatch, "delete_many", lambda: other.retry_all("dead")
    )

    purged = queue.purge("dead")

    assert retried == [3]
    assert purged == 0
    assert queue.counts()["pending"] == 3
    assert queue.counts()["dead"] == 0


def test_concurrent_purges_count_once(
    make_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = make_queue(max_retries=1)
    other = make_queue(max_retries=1)
    dead_jobs(queue, 3)
    inner = run_before_first(monkeypatch, "delete_many", lambda: other.purge("dead"))

    outer = queue.purge("dead")

    assert inner == [3]
    assert outer == 0
    assert queue.counts()["dead"] == 0
