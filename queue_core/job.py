"""The job a worker receives from ``pop()`` or ``consume()``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .backends.base import JobRecord
from .payload import decode_payload
from .status import JobStatus

if TYPE_CHECKING:
    from .queue import Queue


def utc_datetime(timestamp: float) -> datetime:
    """Return Unix time *timestamp* as a timezone-aware UTC datetime.

    A time past what ``datetime`` holds, which only a store written without
    queue_core's limits can contain, reads as the latest datetime instead of
    making the whole job unreadable.
    """
    try:
        return datetime.fromtimestamp(timestamp, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return datetime.max.replace(tzinfo=UTC)


class Job:
    """One unit of work and its state.

    A job from ``pop()`` or ``consume()`` is leased to the caller until the
    visibility timeout passes: settle it with :meth:`complete`, :meth:`fail`
    or :meth:`reject`, or hand it back with :meth:`release`. Each of these
    returns ``False`` and changes nothing when the lease was lost, because the
    job went back to the queue and another worker may hold it now.

    Jobs from listing calls (``dead_letters()``, ``jobs()``, ``get()``) are
    snapshots and hold no lease.
    """

    __slots__ = (
        "_lease_token",
        "_queue",
        "attempts",
        "available_at",
        "created_at",
        "error",
        "id",
        "lease_expires_at",
        "payload",
        "priority",
        "retry_of",
        "status",
        "topic",
        "updated_at",
    )

    def __init__(
        self, record: JobRecord, topic: str, queue: Queue | None = None
    ) -> None:
        self.id: str = record.id
        self.topic: str = topic
        self.payload: dict[str, Any] = decode_payload(record.payload)
        self.status: JobStatus = record.status
        self.priority: int = record.priority
        self.attempts: int = record.attempts
        self.error: str | None = record.error
        self.created_at: datetime = utc_datetime(record.created_at)
        self.updated_at: datetime = utc_datetime(record.updated_at)
        self.available_at: datetime = utc_datetime(record.available_at)
        self.lease_expires_at: datetime | None = (
            None
            if record.lease_expires_at is None
            else utc_datetime(record.lease_expires_at)
        )
        self.retry_of: str | None = record.retry_of
        self._queue = queue
        self._lease_token = record.lease_token if queue is not None else None

    @property
    def data(self) -> dict[str, Any]:
        """The payload; the same dict as :attr:`payload`."""
        return self.payload

    def __repr__(self) -> str:
        return (
            f"<Job {self.id} topic={self.topic!r} status={self.status.value} "
            f"attempts={self.attempts}>"
        )

    def complete(self) -> bool:
        """Mark the job completed; ``False`` if the lease was lost."""
        return self._leased_queue("complete").settle_complete(self)

    def fail(self, reason: object = "") -> bool:
        """Mark the job failed with *reason*, counting one attempt.

        The job becomes ``dead`` when its attempts reach the queue's
        ``max_retries``; with automatic retry on, a job with attempts left goes
        back to pending after the backoff delay. *reason* may be a string or
        an exception. Returns ``False`` if the lease was lost.
        """
        return self._leased_queue("fail").settle_failure(self, reason)

    def reject(self, reason: object = "") -> bool:
        """Same as :meth:`fail`."""
        return self.fail(reason)

    def release(self) -> bool:
        """Put the job back to pending without counting an attempt.

        For a worker that stops before it starts the work. Returns ``False``
        if the lease was lost.
        """
        return self._leased_queue("release").settle_release(self)

    def extend_lease(self, seconds: float | None = None) -> bool:
        """Keep the job reserved for *seconds* more from now.

        Defaults to the queue's visibility timeout. Call it from a long job
        before the lease runs out. Returns ``False`` if the lease was lost.
        """
        return self._leased_queue("extend_lease").extend(self, seconds)

    def to_dict(self) -> dict[str, Any]:
        """Return the job's fields as JSON-ready values, times in ISO 8601."""
        return {
            "id": self.id,
            "topic": self.topic,
            "status": self.status.value,
            "priority": self.priority,
            "attempts": self.attempts,
            "error": self.error,
            "payload": self.payload,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "available_at": self.available_at.isoformat(),
            "lease_expires_at": (
                None
                if self.lease_expires_at is None
                else self.lease_expires_at.isoformat()
            ),
            "retry_of": self.retry_of,
        }

    def _leased_queue(self, action: str) -> Queue:
        # A job that was settled or lost its lease still has its queue, which
        # logs the repeated call and returns False.
        if self._queue is None:
            raise RuntimeError(
                f"cannot {action} job {self.id}: it was read from a listing and holds "
                "no lease; use a job from pop() or consume()"
            )
        return self._queue

    # Used by Queue after a settle call succeeds or the lease is lost.
    def _settled(
        self, status: JobStatus, attempts: int, error: str | None, at: float
    ) -> None:
        self.status = status
        self.attempts = attempts
        self.error = error
        self.updated_at = utc_datetime(at)
        self.lease_expires_at = None
        self._lease_token = None

    @property
    def lease_token(self) -> str | None:
        """The token of this worker's lease, or ``None`` once settled."""
        return self._lease_token


@dataclass(frozen=True)
class JobPage:
    """A page of jobs, newest first.

    Pass :attr:`next_cursor` as ``cursor`` to get the next page; it is
    ``None`` on the last page.
    """

    jobs: list[Job]
    next_cursor: str | None

    def __iter__(self) -> Iterator[Job]:
        return iter(self.jobs)

    def __len__(self) -> int:
        return len(self.jobs)
