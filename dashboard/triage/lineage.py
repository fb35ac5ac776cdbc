"""Retry lineage: the failed attempts of a job and the jobs it was sent on as.

The backends keep only a job's last error. Before the console (or a triage
command) retries, edits or sends a failed or dead job, it records that
failure here, keyed by job id and attempt number, so the job page can list
every failure an operator acted on. When a job is sent to a topic, the new
job's link to the old one is recorded too, because the old job is deleted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from queue_core import Job, JobStatus

from .store import TriageStore

# Links are followed back at most this many times, so a cycle written by hand
# into the store cannot loop forever.
MAX_ANCESTORS = 50


@dataclass(frozen=True)
class Attempt:
    """One failed attempt of a job, as it was before an operator acted on it."""

    job_id: str
    attempt: int
    topic: str
    status: str
    error: str | None
    failed_at: float


@dataclass(frozen=True)
class Link:
    """A job created by sending the failed or dead job *source_id* to a topic."""

    job_id: str
    topic: str
    source_id: str
    source_topic: str
    at: float
    actor: str


@dataclass(frozen=True)
class Lineage:
    """The history of one job as the triage store records it."""

    job_id: str
    #: Failed attempts of the job and of every job it was sent from, oldest first.
    attempts: list[Attempt]
    #: The jobs this one was sent from, the nearest first.
    sent_from: list[Link]
    #: The job this one was sent on as, when it was sent to a topic.
    sent_as: Link | None

    @property
    def known(self) -> bool:
        """Whether the store has any record of the job."""
        return bool(self.attempts or self.sent_from or self.sent_as)

    def is_on_topic(self, topic: str) -> bool:
        """Return whether the store records this job, not an ancestor, on *topic*."""
        if self.sent_from and self.sent_from[0].topic == topic:
            return True
        if self.sent_as is not None and self.sent_as.source_topic == topic:
            return True
        return any(
            attempt.job_id == self.job_id and attempt.topic == topic
            for attempt in self.attempts
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the lineage as JSON-ready values."""
        return {
            "job_id": self.job_id,
            "attempts": [asdict(attempt) for attempt in self.attempts],
            "sent_from": [asdict(link) for link in self.sent_from],
            "sent_as": None if self.sent_as is None else asdict(self.sent_as),
        }


def record_failure(store: TriageStore, job: Job) -> bool:
    """Record the current failure of a failed or dead *job*.

    Recording the same attempt twice keeps the first record. Returns whether
    a new attempt was recorded; jobs in other statuses record nothing.
    """
    if job.status not in (JobStatus.FAILED, JobStatus.DEAD) or job.attempts < 1:
        return False
    cursor = store.execute(
        "INSERT OR IGNORE INTO attempts "
        "(job_id, attempt, topic, status, error, failed_at, recorded_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            job.id,
            job.attempts,
            job.topic,
            job.status.value,
            job.error,
            job.updated_at.timestamp(),
            store.clock(),
        ),
    )
    return cursor.rowcount == 1


def record_link(
    store: TriageStore,
    *,
    job_id: str,
    topic: str,
    source_id: str,
    source_topic: str,
    actor: str,
) -> None:
    """Record that job *job_id* on *topic* was sent from *source_id*."""
    store.execute(
        "INSERT OR REPLACE INTO links "
        "(job_id, topic, source_id, source_topic, at, actor) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (job_id, topic, source_id, source_topic, store.clock(), actor),
    )


def job_lineage(store: TriageStore, job_id: str) -> Lineage:
    """Return the recorded attempts and links of *job_id* and its ancestors."""
    sent_from: list[Link] = []
    current = job_id
    seen = {job_id}
    for _ in range(MAX_ANCESTORS):
        link = _link_where(store, "job_id", current)
        if link is None or link.source_id in seen:
            break
        sent_from.append(link)
        seen.add(link.source_id)
        current = link.source_id

    chain = [link.source_id for link in reversed(sent_from)] + [job_id]
    attempts: list[Attempt] = []
    for member in chain:
        rows = store.query(
            "SELECT job_id, attempt, topic, status, error, failed_at FROM attempts "
            "WHERE job_id = ? ORDER BY attempt",
            (member,),
        )
        attempts.extend(Attempt(*row) for row in rows)  # type: ignore[arg-type]
    return Lineage(job_id, attempts, sent_from, _link_where(store, "source_id", job_id))


def _link_where(store: TriageStore, column: str, value: str) -> Link | None:
    # *column* is one of two fixed names, never text from a request.
    assert column in ("job_id", "source_id")
    rows = store.query(
        "SELECT job_id, topic, source_id, source_topic, at, actor FROM links "
        f"WHERE {column} = ? ORDER BY at DESC LIMIT 1",
        (value,),
    )
    return None if not rows else Link(*rows[0])  # type: ignore[arg-type]
