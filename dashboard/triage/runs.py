"""Rate-limited bulk retry runs that survive restarts and stop on failures.

A run retries every job of one status (``failed`` covers dead too, as in
:meth:`queue_core.Queue.retry_all`) or one error group of a topic, one job
at a time, at most ``rate`` jobs a second. Its state lives in the triage
store, so a console that restarts picks unfinished runs up again.

Each job is written to ``run_jobs`` as ``claimed`` before its retry is sent
and marked ``retried`` or ``skipped`` after. A run resumed after a crash
finds a ``claimed`` job, and retries it only if it is still failed or dead
with the attempt count it had when it was claimed, so no job is retried
twice by one run. Only the process that holds a run's lease row steps it,
so several gunicorn workers never run one run twice.

A run watches the jobs it retried. Once ``min_sample`` of them are settled
(completed, or failed or dead again) and the fraction that failed again
passes ``threshold``, it stops by itself with the reason.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from queue_core import JobStatus, Queue
from queue_core.status import parse_purge_group

from .. import actions
from .audit import try_record_action
from .lineage import record_failure
from .store import MAX_ROW_ID, TriageStore

logger = logging.getLogger(__name__)

MAX_RATE = 1000.0
# The largest min_sample. Each settled job is one the run retried, so a run
# over fewer jobs than min_sample never stops by itself.
MAX_MIN_SAMPLE = 1_000_000
LEASE_SECONDS = 30.0
# Each step looks up the outcome of this many of the newest unsettled retried
# jobs, and of this many more taken in turn from all of them by job id. Jobs
# that a worker holds for a long time so cannot keep failures from being seen.
NEWEST_OUTCOME_CHECKS = 10
ROTATING_OUTCOME_CHECKS = 10
LISTING_PAGE = 100
ACTIVE_STATES = ("running", "paused")
COMMANDS = {
    "pause": (("running",), "paused"),
    "resume": (("paused",), "running"),
    "cancel": (("running", "paused"), "cancelled"),
}

QueueFor = Callable[[str], Queue]


@dataclass(frozen=True)
class Run:
    """A bulk retry run and its progress."""

    id: int
    topic: str
    status: str
    signature: str | None
    rate: float
    threshold: float
    min_sample: int
    state: str
    total: int
    created_at: float
    created_by: str
    updated_at: float
    stop_reason: str | None
    retried: int
    skipped: int
    settled: int
    failed_again: int

    @property
    def done(self) -> int:
        """Jobs the run has taken so far, retried or skipped."""
        return self.retried + self.skipped

    @property
    def active(self) -> bool:
        """Whether the run may still retry jobs (running or paused)."""
        return self.state in ACTIVE_STATES

    @property
    def failure_rate(self) -> float | None:
        """The fraction of settled retried jobs that failed again, if any settled."""
        return self.failed_again / self.settled if self.settled else None

    def describe(self) -> str:
        """Return the run's scope in words."""
        statuses = " and ".join(s.value for s in parse_purge_group(self.status))
        text = f"every {statuses} job of topic {self.topic!r}"
        if self.signature is not None:
            text += f" with error {self.signature!r}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Return the run as JSON-ready values."""
        return {
            "id": self.id,
            "topic": self.topic,
            "status": self.status,
            "signature": self.signature,
            "rate": self.rate,
            "threshold": self.threshold,
            "min_sample": self.min_sample,
            "state": self.state,
            "total": self.total,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "updated_at": self.updated_at,
            "stop_reason": self.stop_reason,
            "retried": self.retried,
            "skipped": self.skipped,
            "settled": self.settled,
            "failed_again": self.failed_again,
            "description": self.describe(),
        }


def start_run(
    store: TriageStore,
    queue: Queue,
    *,
    status: str,
    signature: str | None,
    rate: float,
    threshold: float,
    min_sample: int,
    actor: str,
) -> Run:
    """Create a running run over *queue*'s topic and return it.

    :raises ValueError: if a value is out of range; the message names it.
    """
    if status not in actions.RETRY_STATUSES:
        raise ValueError(f"cannot retry status {status!r}; use 'failed' or 'dead'")
    _check_number("rate", rate, 0, MAX_RATE, "jobs per second")
    _check_number("threshold", threshold, 0, 1, "a fraction such as 0.5")
    if isinstance(min_sample, bool) or not isinstance(min_sample, int):
        raise ValueError(f"min_sample must be a whole number, not {min_sample!r:.80}")
    if not 1 <= min_sample <= MAX_MIN_SAMPLE:
        raise ValueError(
            f"min_sample must be at least 1 and at most {MAX_MIN_SAMPLE} "
            f"(settled retried jobs), not {min_sample!r:.80}"
        )
    scope = actions.BulkScope(queue.topic, "retry", status, signature)
    total = actions.preview(queue, scope).count
    now = store.clock()
    cursor = store.execute(
        "INSERT INTO runs (topic, status, signature, rate, threshold, min_sample, "
        "state, total, created_at, created_by, updated_at, next_at) "
        "VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)",
        (
            queue.topic,
            status,
            signature,
            rate,
            threshold,
            min_sample,
            total,
            now,
            actor,
            now,
            now,
        ),
    )
    run_id = cursor.lastrowid
    assert run_id is not None
    run = get_run(store, run_id)
    _audit(store, run, "run-start", actor, total, {"rate": rate})
    return run


def get_run(store: TriageStore, run_id: int) -> Run:
    """Return run *run_id* with its progress.

    :raises LookupError: if there is no such run.
    """
    if not 0 < run_id <= MAX_ROW_ID:
        raise LookupError(f"no bulk retry run {run_id}")
    runs = _select_runs(store, "WHERE r.id = ?", (run_id,))
    if not runs:
        raise LookupError(f"no bulk retry run {run_id}")
    return runs[0]


def list_runs(store: TriageStore, *, limit: int = 50) -> list[Run]:
    """Return the newest runs first."""
    return _select_runs(store, "", (), limit=limit)


def control_run(store: TriageStore, run_id: int, command: str, actor: str) -> Run:
    """Pause, resume or cancel run *run_id* and return it.

    :raises ValueError: for another command, or one the run's state does not
        allow (such as resuming a finished run).
    :raises LookupError: if there is no such run.
    """
    if command not in COMMANDS:
        raise ValueError(f"invalid command {command!r}; use pause, resume or cancel")
    allowed, new_state = COMMANDS[command]
    run = get_run(store, run_id)
    marks = ", ".join("?" * len(allowed))
    cursor = store.execute(
        "UPDATE runs SET state = ?, updated_at = ? "
        f"WHERE id = ? AND state IN ({marks})",
        (new_state, store.clock(), run_id, *allowed),
    )
    if cursor.rowcount != 1:
        raise ValueError(f"cannot {command} run {run_id}: it is {run.state}")
    run = get_run(store, run_id)
    _audit(store, run, f"run-{command}", actor, run.done, None)
    return run


def active_run_ids(store: TriageStore) -> list[int]:
    """Return the ids of the running runs, oldest first."""
    rows = store.query("SELECT id FROM runs WHERE state = 'running' ORDER BY id")
    return [int(row[0]) for row in rows]  # type: ignore[call-overload]


def step(
    store: TriageStore, queue_for: QueueFor, run_id: int, owner: str
) -> float | None:
    """Advance run *run_id* by at most one job if *owner* holds or gets its lease.

    Returns the seconds until the run can take its next job, or ``None``
    when it is not running, another process holds it, or it just ended.
    """
    now = store.clock()
    if not _claim_lease(store, run_id, owner, now):
        return None
    run = get_run(store, run_id)
    if run.state != "running":
        return None
    queue = queue_for(run.topic)
    _update_outcomes(store, queue, run)
    run = get_run(store, run_id)
    if run.settled >= run.min_sample and (run.failure_rate or 0) > run.threshold:
        reason = (
            f"{run.failed_again} of {run.settled} settled retried jobs failed "
            f"again, over the threshold of {run.threshold:.0%}"
        )
        _end(store, run, "stopped", "run-auto-stop", reason)
        return None
    next_at = _next_at(store, run_id)
    if now < next_at:
        return next_at - now

    if not _resume_claimed(store, queue, run) and not _retry_next(store, queue, run):
        _end(store, run, "finished", "run-finish", None)
        return None
    interval = 1.0 / run.rate
    store.execute(
        "UPDATE runs SET next_at = ?, updated_at = ? WHERE id = ?",
        (max(next_at, now) + interval, now, run_id),
    )
    return interval


def _claim_lease(store: TriageStore, run_id: int, owner: str, now: float) -> bool:
    cursor = store.execute(
        "INSERT INTO run_leases (run_id, owner, expires_at) VALUES (?, ?, ?) "
        "ON CONFLICT (run_id) DO UPDATE SET owner = excluded.owner, "
        "expires_at = excluded.expires_at "
        "WHERE run_leases.owner = excluded.owner OR run_leases.expires_at < ?",
        (run_id, owner, now + LEASE_SECONDS, now),
    )
    return cursor.rowcount == 1


def _next_at(store: TriageStore, run_id: int) -> float:
    rows = store.query("SELECT next_at FROM runs WHERE id = ?", (run_id,))
    return float(rows[0][0])  # type: ignore[arg-type]


def _resume_claimed(store: TriageStore, queue: Queue, run: Run) -> bool:
    """Settle one job claimed before a crash; return whether there was one."""
    rows = store.query(
        "SELECT job_id, attempts FROM run_jobs WHERE run_id = ? AND state = 'claimed' "
        "LIMIT 1",
        (run.id,),
    )
    if not rows:
        return False
    job_id, attempts = str(rows[0][0]), rows[0][1]
    job = queue.get(job_id)
    statuses = parse_purge_group(run.status)
    if job is None:
        state = "skipped"
    elif job.status in statuses and job.attempts == attempts:
        # The retry was never sent: the job is as it was when claimed.
        state = "retried" if queue.retry(job_id) else "skipped"
    else:
        # The retry was sent before the process stopped.
        state = "retried"
    _mark(store, run.id, job_id, state)
    return True


def _retry_next(store: TriageStore, queue: Queue, run: Run) -> bool:
    """Retry the next job of the run's scope; return whether there was one."""
    job = _next_job(store, queue, run)
    if job is None:
        return False
    record_failure(store, job)
    store.execute(
        "INSERT INTO run_jobs (run_id, job_id, attempts, state, at) "
        "VALUES (?, ?, ?, 'claimed', ?)",
        (run.id, job.id, job.attempts, store.clock()),
    )
    moved = queue.retry(job.id)
    _mark(store, run.id, job.id, "retried" if moved else "skipped")
    return True


def _next_job(store: TriageStore, queue: Queue, run: Run) -> Any:
    for status in parse_purge_group(run.status):
        cursor: str | None = None
        while True:
            page = queue.jobs(
                status, limit=LISTING_PAGE, cursor=cursor, signature=run.signature
            )
            ids = [job.id for job in page.jobs]
            taken = _taken(store, run.id, ids)
            for job in page.jobs:
                if job.id not in taken:
                    return job
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    return None


def _taken(store: TriageStore, run_id: int, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    marks = ", ".join("?" * len(ids))
    rows = store.query(
        f"SELECT job_id FROM run_jobs WHERE run_id = ? AND job_id IN ({marks})",
        (run_id, *ids),
    )
    return {str(row[0]) for row in rows}


def _update_outcomes(store: TriageStore, queue: Queue, run: Run) -> None:
    checks = _newest_unsettled(store, run.id)
    checks.update(_next_unsettled(store, run.id))
    for job_id, attempts in checks.items():
        job = queue.get(job_id)
        outcome: str | None
        if job is None:
            outcome = "gone"
        elif job.status is JobStatus.COMPLETED:
            outcome = "completed"
        elif job.status in (JobStatus.FAILED, JobStatus.DEAD) and job.attempts > (
            attempts
        ):
            outcome = job.status.value
        else:
            outcome = None
        if outcome is not None:
            store.execute(
                "UPDATE run_jobs SET outcome = ? WHERE run_id = ? AND job_id = ?",
                (outcome, run.id, job_id),
            )


# The retried jobs whose outcome is not known yet.
_UNSETTLED = "run_id = ? AND state = 'retried' AND outcome IS NULL"


def _newest_unsettled(store: TriageStore, run_id: int) -> dict[str, int]:
    """Return the attempt counts of the newest unsettled jobs, by job id."""
    rows = store.query(
        f"SELECT job_id, attempts FROM run_jobs WHERE {_UNSETTLED} "
        "ORDER BY at DESC LIMIT ?",
        (run_id, NEWEST_OUTCOME_CHECKS),
    )
    return {str(job_id): int(attempts) for job_id, attempts in rows}  # type: ignore[call-overload]


def _next_unsettled(store: TriageStore, run_id: int) -> dict[str, int]:
    """Return the unsettled jobs after the run's outcome cursor, and move it on.

    The cursor is a job id. Past the last unsettled job it starts over.
    """
    rows = store.query("SELECT outcome_cursor FROM runs WHERE id = ?", (run_id,))
    cursor = str(rows[0][0] or "")
    page = store.query(
        f"SELECT job_id, attempts FROM run_jobs WHERE {_UNSETTLED} AND job_id > ? "
        "ORDER BY job_id LIMIT ?",
        (run_id, cursor, ROTATING_OUTCOME_CHECKS),
    )
    full = len(page) == ROTATING_OUTCOME_CHECKS
    next_cursor = str(page[-1][0]) if full else ""
    store.execute(
        "UPDATE runs SET outcome_cursor = ? WHERE id = ?", (next_cursor, run_id)
    )
    return {str(job_id): int(attempts) for job_id, attempts in page}  # type: ignore[call-overload]


def _mark(store: TriageStore, run_id: int, job_id: str, state: str) -> None:
    store.execute(
        "UPDATE run_jobs SET state = ? WHERE run_id = ? AND job_id = ?",
        (state, run_id, job_id),
    )


def _end(
    store: TriageStore, run: Run, state: str, action: str, reason: str | None
) -> None:
    store.execute(
        "UPDATE runs SET state = ?, stop_reason = ?, updated_at = ? "
        "WHERE id = ? AND state = 'running'",
        (state, reason, store.clock(), run.id),
    )
    ended = get_run(store, run.id)
    if reason is not None:
        logger.warning("bulk retry run %d stopped: %s", run.id, reason)
    else:
        logger.info("bulk retry run %d finished: %d jobs retried", run.id, run.retried)
    _audit(store, ended, action, "console", ended.retried, {"reason": reason})


def _audit(
    store: TriageStore,
    run: Run,
    action: str,
    actor: str,
    count: int,
    detail: dict[str, Any] | None,
) -> None:
    try_record_action(
        store,
        actor=actor,
        action=action,
        topic=run.topic,
        scope=f"run {run.id}: {run.describe()}",
        count=count,
        detail={"run": run.id, **(detail or {})},
    )


def _select_runs(
    store: TriageStore, where: str, arguments: tuple[object, ...], *, limit: int = 1
) -> list[Run]:
    rows = store.query(
        "SELECT r.id, r.topic, r.status, r.signature, r.rate, r.threshold, "
        "r.min_sample, r.state, r.total, r.created_at, r.created_by, r.updated_at, "
        "r.stop_reason, "
        "(SELECT COUNT(*) FROM run_jobs j "
        "WHERE j.run_id = r.id AND j.state = 'retried'), "
        "(SELECT COUNT(*) FROM run_jobs j "
        "WHERE j.run_id = r.id AND j.state = 'skipped'), "
        "(SELECT COUNT(*) FROM run_jobs j WHERE j.run_id = r.id "
        "AND j.outcome IN ('completed', 'failed', 'dead')), "
        "(SELECT COUNT(*) FROM run_jobs j WHERE j.run_id = r.id "
        "AND j.outcome IN ('failed', 'dead')) "
        f"FROM runs r {where} ORDER BY r.id DESC LIMIT ?",
        (*arguments, limit),
    )
    return [Run(*row) for row in rows]  # type: ignore[arg-type]


def _check_number(name: str, value: float, low: float, high: float, unit: str) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not low < value <= high
    ):
        raise ValueError(
            f"{name} must be above {low:g} and at most {high:g} ({unit}), not {value!r}"
        )
