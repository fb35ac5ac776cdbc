"""Several processes draining one queue, with a check for duplicates and losses.

The parent pushes the jobs through the contender's own API and keeps the ids
it got back. The worker processes start with the ``spawn`` method, so none
inherits an open SQLite connection. They wait on a barrier and then run
``pop_complete`` until the queue is empty or the time limit passes. Each
writes the ids it completed to a JSON file. The parent then compares the union
of those ids with the pushed ids and with the jobs still in the database.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from file_contenders import make_payload, open_contender

logger = logging.getLogger(__name__)

# How long the parent waits for every worker to import and open its queue.
START_TIMEOUT_SECONDS = 120.0
# How long the parent waits for a worker to exit after its time limit.
EXIT_GRACE_SECONDS = 30.0


@dataclass
class DrainResult:
    """Timing of one multi-process drain and its duplicate and loss counts."""

    jobs: int
    processes: int
    completed: int
    wall_seconds: float
    rate: float
    duplicates: int
    lost: int
    unknown: int
    left_in_queue: int
    finished: bool
    # One entry per worker that stopped on an exception from the queue.
    errors: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_drain(
    name: str, directory: Path, *, jobs: int, processes: int, time_limit: float
) -> DrainResult:
    """Push *jobs* jobs, drain them with *processes* processes and check the ids."""
    contender = open_contender(name, directory)
    payload = make_payload()
    pushed = [contender.push(payload) for _ in range(jobs)]
    contender.close()
    if len(set(pushed)) != jobs:
        raise RuntimeError(f"{name} returned {jobs - len(set(pushed))} repeated ids")

    results_directory = directory / "drain-results"
    results_directory.mkdir()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    workers = [
        context.Process(
            target=drain_worker,
            args=(name, directory, barrier, results_directory / f"{index}.json"),
            kwargs={"time_limit": time_limit},
            name=f"drain-{index}",
        )
        for index in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        barrier.wait(timeout=START_TIMEOUT_SECONDS)
        started = time.monotonic()
    except BaseException:
        barrier.abort()
        _stop(workers)
        raise
    for worker in workers:
        worker.join(timeout=time_limit + EXIT_GRACE_SECONDS)
    _stop(workers)
    for worker in workers:
        if worker.exitcode != 0:
            raise RuntimeError(
                f"{name} drain worker {worker.name} exited with code "
                f"{worker.exitcode}, see its traceback above"
            )

    reports = [
        json.loads(path.read_text()) for path in sorted(results_directory.iterdir())
    ]
    completed = [job_id for report in reports for job_id in report["ids"]]
    ended = max(report["ended"] for report in reports)
    wall = ended - started
    contender = open_contender(name, directory)
    remaining = contender.remaining_ids()
    contender.close()
    pushed_set = set(pushed)
    completed_set = set(completed)
    return DrainResult(
        jobs=jobs,
        processes=processes,
        completed=len(completed),
        wall_seconds=wall,
        rate=len(completed) / wall if wall > 0 else 0.0,
        duplicates=sum(count - 1 for count in Counter(completed).values()),
        lost=len(pushed_set - completed_set - remaining),
        unknown=len(completed_set - pushed_set),
        left_in_queue=len(remaining),
        finished=all(report["finished"] for report in reports),
        errors=[report["error"] for report in reports if report["error"]],
    )


def drain_worker(
    name: str,
    directory: Path,
    barrier: Any,
    result_path: Path,
    *,
    time_limit: float,
) -> None:
    """Complete jobs until the queue is empty or *time_limit* seconds pass.

    Writes the completed ids, the end time on the ``time.monotonic`` clock,
    which Linux shares between processes, whether the queue was found empty
    and the error that stopped the worker, if any, to *result_path*.
    """
    contender = open_contender(name, directory)
    ids: list[str] = []
    error: str | None = None
    barrier.wait(timeout=START_TIMEOUT_SECONDS)
    deadline = time.monotonic() + time_limit
    finished = False
    try:
        while time.monotonic() < deadline:
            job_id = contender.pop_complete()
            if job_id is None:
                finished = True
                break
            ids.append(job_id)
    except Exception as exc:
        # A failure of the queue under test is a result, not a crash of the
        # benchmark: the worker stops and reports it with what it completed.
        error = f"{type(exc).__name__}: {exc}"
    ended = time.monotonic()
    contender.close()
    report = {"ids": ids, "ended": ended, "finished": finished, "error": error}
    result_path.write_text(json.dumps(report))


def _stop(workers: list[Any]) -> None:
    # Only the workers this module started, each by its own handle.
    for worker in workers:
        if worker.is_alive():
            logger.error("stopping drain worker %s (pid %s)", worker.name, worker.pid)
            worker.terminate()
            worker.join(timeout=EXIT_GRACE_SECONDS)
