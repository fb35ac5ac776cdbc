"""Job statuses and the status groups that purge and retry act on."""

from __future__ import annotations

import enum


class JobStatus(enum.StrEnum):
    """The stage of a job in its lifecycle.

    ``pending`` jobs wait for a worker (delayed jobs are pending with a later
    ``available_at``), ``reserved`` jobs are leased to one worker, and
    ``completed``, ``failed`` and ``dead`` are outcomes. A failed job whose
    attempts reached the queue's ``max_retries`` is ``dead``: a dead letter.
    """

    PENDING = "pending"
    RESERVED = "reserved"
    COMPLETED = "completed"
    FAILED = "failed"
    DEAD = "dead"

    def __str__(self) -> str:
        return self.value


STATUS_NAMES = tuple(status.value for status in JobStatus)

# The statuses that ``purge(name)`` removes. "failed" takes dead letters too,
# because a dead letter is a failed job that ran out of attempts.
PURGE_GROUPS: dict[str, tuple[JobStatus, ...]] = {
    "pending": (JobStatus.PENDING,),
    "completed": (JobStatus.COMPLETED,),
    "failed": (JobStatus.FAILED, JobStatus.DEAD),
    "dead": (JobStatus.DEAD,),
}


def parse_status(value: str | JobStatus) -> JobStatus:
    """Return the :class:`JobStatus` named by *value*.

    :raises ValueError: if *value* names no status; the message lists the
        valid names.
    """
    if isinstance(value, JobStatus):
        return value
    try:
        return JobStatus(value)
    except ValueError:
        valid = ", ".join(STATUS_NAMES)
        raise ValueError(f"unknown job status {value!r}; use one of: {valid}") from None


def parse_purge_group(value: str | JobStatus) -> tuple[JobStatus, ...]:
    """Return the statuses that ``purge(value)`` removes.

    :raises ValueError: if *value* is not a purgeable status; the message lists
        the valid names.
    """
    name = value.value if isinstance(value, JobStatus) else value
    try:
        return PURGE_GROUPS[name]
    except (KeyError, TypeError):
        valid = ", ".join(PURGE_GROUPS)
        raise ValueError(
            f"cannot purge status {value!r}; use one of: {valid} "
            "(reserved jobs belong to running workers and are never purged)"
        ) from None
