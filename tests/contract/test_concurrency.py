"""Many threads and processes share one store, and each job runs exactly once."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest

from queue_core import Queue

from .conftest import QueueFactory
from .support import drain_in_process

JOB_COUNT = 1000
# The MongoDB tests run on SecantusDB, which sorts every pending job in Python
# on each claim (about 4 claims a second from 4 processes at 1,000 jobs), so
# they share out fewer jobs.
JOB_COUNTS = {"mongodb": 200}


def job_count(queue_factory: QueueFactory) -> int:
    return JOB_COUNTS.get(queue_factory.backend, JOB_COUNT)


def assert_each_job_once(queue: Queue, pushed: set[str], processed: list[str]) -> None:
    assert len(processed) == len(pushed)
    assert len(set(processed)) == len(pushed)
    assert set(processed) == pushed
    counts = queue.counts()
    assert counts["completed"] == len(pushed)
    assert counts["pending"] == 0
    assert counts["reserved"] == 0


@pytest.mark.timeout(120)
def test_threads_share_one_queue(queue_factory: QueueFactory) -> None:
    queue = queue_factory("bulk")
    pushed = {queue.push({"n": n}) for n in range(job_count(queue_factory))}
    thread_count = 8
    barrier = threading.Barrier(thread_count)
    results: list[list[str]] = [[] for _ in range(thread_count)]
    problems: list[str] = []

    def work(done: list[str]) -> None:
        try:
            barrier.wait(timeout=30)
            while (job := queue.pop()) is not None:
                if job.complete():
                    done.append(job.id)
                else:
                    problems.append(f"lease lost on {job.id}")
        except Exception as exc:  # reported by the assert below
            problems.append(repr(exc))

    threads = [threading.Thread(target=work, args=(done,)) for done in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)

    assert not any(thread.is_alive() for thread in threads)
    assert problems == []
    assert sum(1 for done in results if done) > 1, "one thread did all the work"
    processed = [job_id for done in results for job_id in done]
    assert_each_job_once(queue, pushed, processed)


@pytest.mark.timeout(120)
def test_processes_share_one_store(queue_factory: QueueFactory, tmp_path: Path) -> None:
    queue = queue_factory("bulk")
    pushed = {queue.push({"n": n}) for n in range(job_count(queue_factory))}
    process_count = 4
    # spawn starts each process from scratch, so nothing of this process's
    # queue or connections leaks into the workers.
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(process_count)
    outputs = [tmp_path / f"worker-{n}.txt" for n in range(process_count)]
    processes = [
        context.Process(
            target=drain_in_process,
            args=(queue_factory.settings(), "bulk", barrier, output),
        )
        for output in outputs
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=90)

    assert [process.exitcode for process in processes] == [0] * process_count
    per_process = [
        output.read_text(encoding="utf-8").splitlines() for output in outputs
    ]
    assert sum(1 for done in per_process if done) > 1, "one process did all the work"
    lines = [line for done in per_process for line in done]
    assert [line for line in lines if line.startswith("lost:")] == []
    assert_each_job_once(queue, pushed, lines)


@pytest.mark.timeout(120)
def test_forked_children_reuse_queue(queue_factory: QueueFactory) -> None:
    # A pre-forking server opens the queue in the parent and forks workers
    # that go on using the same Queue object.
    queue = queue_factory("forked")
    pushed = {queue.push({"n": n}) for n in range(200)}
    assert queue.size() == 200
    context = multiprocessing.get_context("fork")
    results = context.Queue()

    def drain() -> None:
        done = []
        while (job := queue.pop()) is not None:
            done.append(job.id if job.complete() else f"lost:{job.id}")
        results.put(done)

    processes = [context.Process(target=drain) for _ in range(2)]
    for process in processes:
        process.start()
    processed = [job_id for _ in processes for job_id in results.get(timeout=90)]
    for process in processes:
        process.join(timeout=30)

    assert [process.exitcode for process in processes] == [0, 0]
    assert len(processed) == 200
    assert set(processed) == pushed
    assert queue.counts()["completed"] == 200
    # The parent's own connection still works after the children exit.
    assert queue.push({"n": "after"}) in {job.id for job in queue.jobs("pending")}
