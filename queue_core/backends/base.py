"""The storage contract every backend implements.

Backends move records; the rules of the lifecycle live above them in
:class:`queue_core.Queue`. A backend never decides whether a failed job is dead
or how long a retry waits: the queue computes the new state and the backend
applies it atomically, guarded by the job's lease token so that a worker whose
lease expired cannot change a job another worker now holds.

Topics reaching a backend already carry ``TINA4_QUEUE_PREFIX``. Times are Unix
seconds as floats. Payloads are JSON text, checked before they arrive.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..status import JobStatus


# Not frozen: a frozen dataclass's __init__ costs several microseconds more,
# which matters on the push path.
@dataclass(slots=True)
class JobRecord:
    """One job as a backend stores it."""

    id: str
    topic: str
    payload: str
    status: JobStatus
    priority: int
    attempts: int
    max_retries: int
    error: str | None
    created_at: float
    updated_at: float
    available_at: float
    lease_token: str | None = None
    lease_expires_at: float | None = None
    retry_of: str | None = None
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class RecordPage:
    """A page of records, newest first, with the cursor of the next page."""

    records: list[JobRecord]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    """The last heartbeat of one worker process."""

    id: str
    topic: str
    hostname: str
    pid: int
    started_at: float
    last_seen: float
    current_job: str | None
    processed: int
    failed: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """The state a reserved job moves to when its worker settles it."""

    status: JobStatus
    attempts: int
    error: str | None
    available_at: float
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    """Jobs of one status group that share an error signature."""

    signature: str
    count: int
    first_seen: float
    last_seen: float


class Backend(abc.ABC):
    """Base class of the storage backends."""

    #: The ``TINA4_QUEUE_BACKEND`` name of the backend.
    name: str = ""

    def new_job_id(self, now: float) -> str:
        """Return an id for a job created at Unix time *now*.

        The default is 32 hex digits: the creation time in milliseconds, then
        80 random bits, so ids are unique without coordination and sort by
        creation time. Backends may use their own form; ids are opaque.
        """
        return f"{int(now * 1000):012x}{os.urandom(10).hex()}"

    @abc.abstractmethod
    def enqueue(self, record: JobRecord) -> None:
        """Store a new pending job; on return it survives a process crash.

        A backend may replace ``record.id`` when it collides with a stored
        job; the caller reads the id from the record after this returns.
        """

    @abc.abstractmethod
    def claim(
        self,
        topic: str,
        *,
        now: float,
        lease_token: str,
        lease_expires_at: float,
        max_retries: int,
        job_id: str | None = None,
    ) -> JobRecord | None:
        """Reserve the next available job of *topic*, or the job *job_id*.

        The next job is the pending one with the highest priority whose
        ``available_at`` has passed, oldest first among equals. Exactly one
        caller gets each job. The job's ``max_retries`` is set to the
        claiming queue's. Returns ``None`` when nothing is available.
        """

    @abc.abstractmethod
    def settle(
        self, job_id: str, lease_token: str, outcome: Outcome, *, now: float
    ) -> bool:
        """Apply *outcome* to a reserved job if *lease_token* still holds it.

        Returns ``False``, changing nothing, when the lease was lost.
        """

    @abc.abstractmethod
    def extend_lease(self, job_id: str, lease_token: str, expires_at: float) -> bool:
        """Move the lease expiry of a reserved job; ``False`` if the lease was lost."""

    @abc.abstractmethod
    def recover_expired(self, *, now: float, error: str, signature: str) -> int:
        """Return every reserved job whose lease expired before *now*.

        Each counts one attempt: it goes back to pending, or to dead when its
        attempts reach its ``max_retries``. Returns how many jobs moved.
        """

    @abc.abstractmethod
    def requeue(
        self, topic: str, job_id: str, *, now: float, payload: str | None = None
    ) -> bool:
        """Move one failed or dead job back to pending.

        With *payload* (JSON text, checked already), the job's payload is
        replaced in the same change. Returns ``False``, changing nothing,
        when the job exists in another status.

        :raises JobNotFoundError: if *topic* has no job *job_id*.
        """

    @abc.abstractmethod
    def requeue_failed(self, topic: str, *, now: float) -> int:
        """Move failed jobs with attempts left to pending; return how many.

        A job has attempts left while its attempts are below its own
        ``max_retries``, the limit stored when it was claimed.
        """

    @abc.abstractmethod
    def requeue_all(
        self,
        topic: str,
        statuses: Iterable[JobStatus],
        *,
        now: float,
        signature: str | None = None,
    ) -> int:
        """Move every failed or dead job of *topic* in *statuses* to pending.

        With *signature*, only jobs whose error has that signature move.
        Returns how many jobs moved.
        """

    @abc.abstractmethod
    def purge(
        self, topic: str, statuses: Iterable[JobStatus], *, signature: str | None = None
    ) -> int:
        """Delete every job of *topic* in *statuses*; return how many.

        With *signature*, only jobs whose error has that signature go.
        """

    @abc.abstractmethod
    def delete(self, topic: str, job_id: str) -> bool:
        """Delete one job unless it is reserved; return whether it was deleted."""

    @abc.abstractmethod
    def counts(self, topic: str) -> dict[JobStatus, int]:
        """Return the number of jobs of *topic* in every status."""

    @abc.abstractmethod
    def counts_by_topic(self) -> dict[str, dict[JobStatus, int]]:
        """Return :meth:`counts` for every known topic in one call."""

    @abc.abstractmethod
    def topics(self) -> list[str]:
        """Return every topic that has ever held a job, sorted."""

    @abc.abstractmethod
    def get(self, topic: str | None, job_id: str) -> JobRecord | None:
        """Return the job *job_id*, on *topic* when it is given."""

    @abc.abstractmethod
    def page(
        self,
        topic: str,
        statuses: Iterable[JobStatus],
        *,
        limit: int,
        cursor: str | None,
        text: str | None = None,
        signature: str | None = None,
    ) -> RecordPage:
        """Return jobs of *topic* in *statuses*, newest first.

        *cursor* comes from a previous page's ``next_cursor``; pages stay
        stable while jobs are added. *text*, when given, keeps only jobs whose
        payload or error contains it, ignoring ASCII case. *signature* keeps
        only jobs whose error has that signature.
        """

    @abc.abstractmethod
    def error_groups(
        self, topic: str, statuses: Iterable[JobStatus]
    ) -> list[ErrorGroup]:
        """Return the error signatures of *topic*'s jobs in *statuses*.

        Largest group first, each with its count and when its jobs last
        changed, earliest and latest.
        """

    @abc.abstractmethod
    def oldest_pending_at(self, topic: str) -> float | None:
        """Return when the oldest pending job of *topic* was created."""

    @abc.abstractmethod
    def record_heartbeat(self, worker: WorkerRecord) -> None:
        """Store the latest heartbeat of a worker."""

    @abc.abstractmethod
    def remove_worker(self, worker_id: str) -> None:
        """Forget a worker that stopped cleanly."""

    @abc.abstractmethod
    def workers(self, *, seen_after: float) -> list[WorkerRecord]:
        """Return the workers whose last heartbeat is after *seen_after*."""

    def close(self) -> None:  # noqa: B027 - most backends have nothing to close
        """Release connections; the backend reopens them when used again."""


def zero_counts() -> dict[JobStatus, int]:
    """Return a counts mapping with every status at zero."""
    return dict.fromkeys(JobStatus, 0)


def merge_counts(
    rows: Iterable[tuple[str, str, int]],
) -> dict[str, dict[JobStatus, int]]:
    """Fold ``(topic, status, count)`` rows into per-topic count mappings."""
    result: dict[str, dict[JobStatus, int]] = {}
    for topic, status, count in rows:
        result.setdefault(topic, zero_counts())[JobStatus(status)] += count
    return result


def as_plain_counts(counts: Mapping[JobStatus, int]) -> dict[str, int]:
    """Return *counts* keyed by status name."""
    return {status.value: counts.get(status, 0) for status in JobStatus}


# Helpers for backends that search, group and page jobs in memory --------------

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def fold_ascii(text: str) -> str:
    """Return *text* with ASCII letters lower-cased, as SQLite's LIKE compares."""
    return text.translate(_ASCII_LOWER)


def record_contains(record: JobRecord, needle: str) -> bool:
    """Return whether *record*'s payload or error contains *needle*.

    *needle* is folded by :func:`fold_ascii` already.
    """
    if needle in fold_ascii(record.payload):
        return True
    return record.error is not None and needle in fold_ascii(record.error)


def group_errors(records: Iterable[JobRecord]) -> list[ErrorGroup]:
    """Return *records* grouped by error signature, largest group first."""
    groups: dict[str, list[float]] = {}
    for record in records:
        if record.signature is not None:
            groups.setdefault(record.signature, []).append(record.updated_at)
    result = [
        ErrorGroup(signature, len(times), min(times), max(times))
        for signature, times in groups.items()
    ]
    result.sort(key=lambda group: (-group.count, group.signature))
    return result


def invalid_cursor(cursor: object) -> ValueError:
    """Return the error for a page cursor that no page returned."""
    return ValueError(
        f"invalid page cursor {cursor!r}; pass the next_cursor of a previous page"
    )
