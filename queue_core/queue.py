"""The :class:`Queue`: push, pop, consume, retry and inspect jobs of a topic."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Iterator
from typing import Any

from .backends import (
    Backend,
    JobRecord,
    Outcome,
    WorkerRecord,
    check_backend_name,
    open_backend,
)
from .backends.base import ErrorGroup, as_plain_counts, invalid_cursor
from .errors import JobNotFoundError
from .job import Job, JobPage, utc_datetime
from .limits import (
    MAX_DELAY_SECONDS,
    MAX_ERROR_CHARACTERS,
    MAX_LEASE_SECONDS,
    MAX_RETRIES_LIMIT,
)
from .payload import encode_payload
from .retry import Backoff
from .settings import Settings
from .signature import error_signature
from .status import JobStatus, parse_purge_group, parse_status
from .topics import validate_topic

logger = logging.getLogger(__name__)

MIN_PRIORITY = 0
MAX_PRIORITY = 9
MAX_PAGE_SIZE = 1000
# Expired leases are looked for at most this often by each queue instance.
RECOVERY_INTERVAL_SECONDS = 1.0


class Queue:
    """A job queue for one topic on the backend chosen by the environment.

    :param topic: the topic that ``push``, ``pop`` and the inspection calls use
        unless given another topic.
    :param max_retries: attempts a job gets before it becomes a dead letter; 0
        and 1 both mean a single attempt.
    :param retry_backoff: turns on automatic retry: a failed job with attempts
        left returns to pending after this backoff instead of staying failed.
    :param settings: settings to use instead of reading the environment.
    :param backend: an open backend to share between queues, for example one
        per process in a web app; ``settings`` must then match it.

    The backend comes from ``TINA4_QUEUE_BACKEND`` and is opened on first use.
    """

    def __init__(
        self,
        topic: str = "default",
        max_retries: int = 3,
        *,
        retry_backoff: Backoff | None = None,
        settings: Settings | None = None,
        backend: Backend | None = None,
    ) -> None:
        if (
            not isinstance(max_retries, int)
            or isinstance(max_retries, bool)
            or not 0 <= max_retries <= MAX_RETRIES_LIMIT
        ):
            raise ValueError(
                f"max_retries must be an integer from 0 to {MAX_RETRIES_LIMIT}, "
                f"not {max_retries!r}"
            )
        self.settings = Settings.from_env() if settings is None else settings
        if backend is None:
            check_backend_name(self.settings.backend)
        self.topic = validate_topic(topic)
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self._backend = backend
        self._next_recovery = 0.0

    def __repr__(self) -> str:
        return (
            f"<Queue topic={self.topic!r} backend={self.settings.backend!r} "
            f"max_retries={self.max_retries}>"
        )

    def __enter__(self) -> Queue:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def backend(self) -> Backend:
        """The storage backend, opened on first use."""
        if self._backend is None:
            self._backend = open_backend(self.settings)
        return self._backend

    def close(self) -> None:
        """Close the backend's connections; the queue reopens them when used."""
        if self._backend is not None:
            self._backend.close()

    # Topics --------------------------------------------------------------------

    def full_topic(self, topic: str | None = None) -> str:
        """Return *topic* (default: this queue's) as the backend stores it, prefixed."""
        if topic is None or topic == self.topic:
            name = self.topic
        else:
            name = validate_topic(topic)
        prefix = self.settings.prefix
        return f"{prefix}.{name}" if prefix else name

    def _short_topic(self, full: str) -> str:
        prefix = self.settings.prefix
        return full[len(prefix) + 1 :] if prefix else full

    def topics(self) -> list[str]:
        """Return every topic that has held a job, within ``TINA4_QUEUE_PREFIX``."""
        prefix = self.settings.prefix
        names = self.backend.topics()
        if prefix:
            names = [name for name in names if name.startswith(prefix + ".")]
        return [self._short_topic(name) for name in names]

    # Producing -----------------------------------------------------------------

    def push(
        self, payload: dict[str, Any], *, delay: float = 0, priority: int = 0
    ) -> str:
        """Add a job to this queue's topic and return its id.

        :param payload: a JSON object; see :mod:`queue_core.payload` for what
            it may hold.
        :param delay: seconds before the job may be claimed.
        :param priority: 0 to 9; higher priorities are claimed first.
        :raises PayloadError: if the payload cannot be stored; nothing is.
        """
        return self.produce(self.topic, payload, delay=delay, priority=priority)

    def produce(
        self,
        topic: str,
        payload: dict[str, Any],
        *,
        delay: float = 0,
        priority: int = 0,
    ) -> str:
        """Add a job to *topic* and return its id; see :meth:`push`."""
        full_topic = self.full_topic(topic)
        text = encode_payload(payload, max_bytes=self.settings.max_payload_bytes)
        _check_delay(delay)
        _check_priority(priority)

        now = time.time()
        record = JobRecord(
            id=self.backend.new_job_id(now),
            topic=full_topic,
            payload=text,
            status=JobStatus.PENDING,
            priority=priority,
            attempts=0,
            max_retries=self.max_retries,
            error=None,
            created_at=now,
            updated_at=now,
            available_at=now + delay,
        )
        self.backend.enqueue(record)
        return record.id

    # Consuming -----------------------------------------------------------------

    def pop(self) -> Job | None:
        """Reserve the next available job of this topic, or return ``None``."""
        return self._claim(self.topic, None)

    def consume(
        self,
        topic: str | None = None,
        id: str | None = None,
        *,
        poll_interval: float = 1.0,
    ) -> Iterator[Job]:
        """Yield jobs of *topic* (default: this queue's) as they become available.

        Waits *poll_interval* seconds between polls when the topic is empty and
        runs until the caller stops iterating. With ``poll_interval=0`` it
        yields what is available now and returns. With *id* it yields only
        that job, once, and returns early when the job is not waiting (missing,
        completed, failed or dead).
        """
        if not math.isfinite(poll_interval) or poll_interval < 0:
            raise ValueError(
                f"poll_interval must be a number of seconds >= 0, not {poll_interval!r}"
            )
        name = self.topic if topic is None else validate_topic(topic)
        if id is not None:
            _check_job_id(id)

        while True:
            job = self._claim(name, id)
            if job is not None:
                yield job
                if id is not None:
                    return
                continue
            if id is not None and not self._may_become_available(name, id):
                return
            if poll_interval == 0:
                return
            time.sleep(poll_interval)

    def _may_become_available(self, topic: str, job_id: str) -> bool:
        record = self.backend.get(self.full_topic(topic), job_id)
        return record is not None and record.status in (
            JobStatus.PENDING,
            JobStatus.RESERVED,
        )

    def _claim(self, topic: str, job_id: str | None) -> Job | None:
        if time.time() >= self._next_recovery:
            self.recover_expired()
        # Read the clock after recovery, which may wait on a broker, so the
        # lease starts when the claim is made.
        now = time.time()
        record = self.backend.claim(
            self.full_topic(topic),
            now=now,
            lease_token=os.urandom(16).hex(),
            lease_expires_at=now + self.settings.visibility_timeout,
            max_retries=self.max_retries,
            job_id=job_id,
        )
        if record is None:
            return None
        return Job(record, topic, self)

    def recover_expired(self, *, now: float | None = None) -> int:
        """Return jobs whose worker's lease expired to pending, counting an attempt.

        Runs by itself during ``pop()`` and ``consume()``; call it to recover
        leases when no worker is polling. Returns how many jobs moved.
        """
        now = time.time() if now is None else now
        self._next_recovery = now + RECOVERY_INTERVAL_SECONDS
        error = (
            "lease expired: the worker did not complete or fail the job before "
            "its lease ran out"
        )
        moved = self.backend.recover_expired(
            now=now, error=error, signature=error_signature(error) or error
        )
        if moved:
            logger.warning("recovered %d jobs whose lease expired", moved)
        return moved

    # Settling, called by Job ----------------------------------------------------

    def settle_complete(self, job: Job) -> bool:
        """Mark a leased *job* completed; see :meth:`Job.complete`."""
        outcome = Outcome(JobStatus.COMPLETED, job.attempts, job.error, time.time())
        return self._settle(job, outcome)

    def settle_failure(self, job: Job, reason: object) -> bool:
        """Mark a leased *job* failed, dead or due again; see :meth:`Job.fail`."""
        attempts = job.attempts + 1
        error = _error_text(reason)
        signature = error_signature(error)
        now = time.time()
        if attempts >= self.max_retries:
            outcome = Outcome(JobStatus.DEAD, attempts, error, now, signature)
        elif self.retry_backoff is not None:
            due = now + self.retry_backoff.delay(attempts)
            outcome = Outcome(JobStatus.PENDING, attempts, error, due, signature)
        else:
            outcome = Outcome(JobStatus.FAILED, attempts, error, now, signature)
        return self._settle(job, outcome)

    def settle_release(self, job: Job) -> bool:
        """Return a leased *job* to pending with no attempt counted."""
        outcome = Outcome(JobStatus.PENDING, job.attempts, job.error, time.time())
        return self._settle(job, outcome)

    def extend(self, job: Job, seconds: float | None) -> bool:
        """Extend the lease of *job*; see :meth:`Job.extend_lease`."""
        seconds = self.settings.visibility_timeout if seconds is None else seconds
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not 0 < seconds <= MAX_LEASE_SECONDS
        ):
            raise ValueError(
                "lease extension must be a number of seconds above 0 and at most "
                f"{MAX_LEASE_SECONDS} (7 days), not {seconds!r}"
            )
        token = job.lease_token
        if token is None:
            return False
        expires_at = time.time() + seconds
        if not self.backend.extend_lease(job.id, token, expires_at):
            logger.warning("job %s lost its lease before it could be extended", job.id)
            return False
        job.lease_expires_at = utc_datetime(expires_at)
        return True

    def _settle(self, job: Job, outcome: Outcome) -> bool:
        token = job.lease_token
        if token is None:
            logger.warning(
                "job %s holds no lease (it was settled or its lease was lost); "
                "%s ignored",
                job.id,
                outcome.status.value,
            )
            return False
        now = time.time()
        if not self.backend.settle(job.id, token, outcome, now=now):
            logger.warning(
                "job %s lost its lease (visibility timeout %g s) before it was "
                "marked %s; another worker may run it",
                job.id,
                self.settings.visibility_timeout,
                outcome.status.value,
            )
            job._settled(job.status, job.attempts, job.error, now)
            return False
        job._settled(outcome.status, outcome.attempts, outcome.error, now)
        return True

    # Retry and purge -------------------------------------------------------------

    def retry(self, job_id: str, *, payload: dict[str, Any] | None = None) -> bool:
        """Move one failed or dead job of this topic back to pending.

        The job keeps its id and attempt count, so a dead letter retried and
        failing again is dead again. With *payload*, the job runs with that
        payload from now on; it replaces the stored one in the same change.
        Returns ``False``, changing nothing, if the job is in another status.

        :raises JobNotFoundError: if this topic has no job *job_id*.
        :raises PayloadError: if *payload* cannot be stored; nothing changes.
        """
        _check_job_id(job_id)
        text = None
        if payload is not None:
            text = encode_payload(payload, max_bytes=self.settings.max_payload_bytes)
        return self.backend.requeue(
            self.full_topic(None), job_id, now=time.time(), payload=text
        )

    def send_to(
        self, job_id: str, topic: str, *, payload: dict[str, Any] | None = None
    ) -> str:
        """Send a failed or dead job of this topic to *topic* as a new job.

        The new job is pending, with no attempts, the old job's priority and
        payload (or *payload* in its place), and ``retry_of`` set to *job_id*.
        *topic* may be this queue's own topic. Once the new job is stored the
        old one is deleted, so a crash in between leaves both, never neither.
        Returns the new job's id.

        :raises JobNotFoundError: if this topic has no job *job_id*.
        :raises ValueError: if the job is not failed or dead.
        :raises PayloadError: if *payload* cannot be stored; nothing changes.
        """
        _check_job_id(job_id)
        source_topic = self.full_topic(None)
        source = self.backend.get(source_topic, job_id)
        if source is None:
            raise JobNotFoundError(f"no job {job_id!r} on topic {self.topic!r}")
        if source.status not in (JobStatus.FAILED, JobStatus.DEAD):
            raise ValueError(
                f"job {job_id!r} is {source.status.value}; only failed and dead "
                "jobs can be sent to a topic"
            )
        text = source.payload
        if payload is not None:
            text = encode_payload(payload, max_bytes=self.settings.max_payload_bytes)

        now = time.time()
        record = JobRecord(
            id=self.backend.new_job_id(now),
            topic=self.full_topic(topic),
            payload=text,
            status=JobStatus.PENDING,
            priority=source.priority,
            attempts=0,
            max_retries=self.max_retries,
            error=None,
            created_at=now,
            updated_at=now,
            available_at=now,
            retry_of=job_id,
        )
        self.backend.enqueue(record)
        # NOTE: two callers sending the same job at once both enqueue a copy;
        # only one delete succeeds, so the job then runs twice.
        if not self.backend.delete(source_topic, job_id):
            logger.warning(
                "job %s was sent to topic %r as job %s but could not be deleted: "
                "a worker reserved it or it was deleted meanwhile",
                job_id,
                topic,
                record.id,
            )
        return record.id

    def retry_failed(self) -> int:
        """Move failed jobs with attempts left back to pending; skip dead ones.

        Each job is judged by the ``max_retries`` of the queue that last
        claimed it, stored on the job, so a worker's limit applies whichever
        process calls this. Returns how many jobs moved.
        """
        return self.backend.requeue_failed(self.full_topic(None), now=time.time())

    def retry_all(
        self, status: str | JobStatus, *, signature: str | None = None
    ) -> int:
        """Move every job of *status* back to pending, dead letters included.

        The operator's bulk override: ``retry_all("dead")`` re-queues every
        dead letter, ``retry_all("failed")`` failed and dead jobs alike. With
        *signature* (from :meth:`error_groups`) only that error group moves.
        Returns how many jobs moved.

        :raises ValueError: unless *status* is ``"failed"`` or ``"dead"``.
        """
        statuses = parse_purge_group(status)
        if JobStatus.DEAD not in statuses:
            raise ValueError(f"cannot retry status {status!r}; use 'failed' or 'dead'")
        return self.backend.requeue_all(
            self.full_topic(None), statuses, now=time.time(), signature=signature
        )

    def purge(self, status: str | JobStatus, *, signature: str | None = None) -> int:
        """Delete this topic's jobs of *status* and return how many.

        ``"failed"`` removes failed and dead jobs, ``"dead"`` only dead ones;
        ``"completed"`` and ``"pending"`` remove those. With *signature* (from
        :meth:`error_groups`) only jobs of that error group go.

        :raises ValueError: for any other status; the message lists the valid ones.
        """
        statuses = parse_purge_group(status)
        return self.backend.purge(self.full_topic(None), statuses, signature=signature)

    def error_groups(self, status: str | JobStatus = "dead") -> list[ErrorGroup]:
        """Return this topic's failed or dead jobs grouped by error signature.

        ``"failed"`` covers failed and dead jobs, as in :meth:`purge`. Each
        group has the normalised error text, the number of jobs and when the
        earliest and latest of them failed (Unix seconds). Largest first.
        """
        statuses = parse_purge_group(status)
        return self.backend.error_groups(self.full_topic(None), statuses)

    def delete(self, job_id: str) -> bool:
        """Delete one job of this topic unless it is reserved by a worker.

        Returns whether a job was deleted.
        """
        _check_job_id(job_id)
        return self.backend.delete(self.full_topic(None), job_id)

    # Inspecting ------------------------------------------------------------------

    def size(self, status: str | JobStatus = "pending") -> int:
        """Return how many jobs of this topic are in *status*."""
        return self.backend.counts(self.full_topic(None))[parse_status(status)]

    def counts(self, topic: str | None = None) -> dict[str, int]:
        """Return the number of jobs in every status for *topic* (default: this one)."""
        return as_plain_counts(self.backend.counts(self.full_topic(topic)))

    def counts_by_topic(self) -> dict[str, dict[str, int]]:
        """Return :meth:`counts` for every topic in one call."""
        prefix = self.settings.prefix
        result: dict[str, dict[str, int]] = {}
        for full, counts in self.backend.counts_by_topic().items():
            if prefix and not full.startswith(prefix + "."):
                continue
            result[self._short_topic(full)] = as_plain_counts(counts)
        return result

    def dead_letters(self, limit: int | None = None) -> list[Job]:
        """Return this topic's dead letters, newest first, at most *limit*."""
        jobs: list[Job] = []
        cursor: str | None = None
        while limit is None or len(jobs) < limit:
            size = (
                MAX_PAGE_SIZE
                if limit is None
                else min(MAX_PAGE_SIZE, limit - len(jobs))
            )
            page = self.jobs(JobStatus.DEAD, limit=size, cursor=cursor)
            jobs.extend(page.jobs)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        return jobs

    def jobs(
        self,
        status: str | JobStatus,
        *,
        limit: int = 50,
        cursor: str | None = None,
        topic: str | None = None,
        signature: str | None = None,
    ) -> JobPage:
        """Return a page of jobs in *status*, newest first.

        Pass the page's ``next_cursor`` as *cursor* for the next one; jobs
        added meanwhile never shift a page. *signature* keeps one error group.
        """
        return self.search(
            None,
            status=status,
            limit=limit,
            cursor=cursor,
            topic=topic,
            signature=signature,
        )

    def search(
        self,
        text: str | None,
        *,
        status: str | JobStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
        topic: str | None = None,
        signature: str | None = None,
    ) -> JobPage:
        """Return a page of jobs whose payload or error contains *text*.

        Matching ignores ASCII case. *status* narrows the search to one
        status; without it every status is searched. *signature* keeps one
        error group. Results are newest first.
        """
        _check_limit(limit)
        if cursor is not None and not isinstance(cursor, str):
            raise invalid_cursor(cursor)
        statuses = list(JobStatus) if status is None else [parse_status(status)]
        name = self.topic if topic is None else validate_topic(topic)
        page = self.backend.page(
            self.full_topic(name),
            statuses,
            limit=limit,
            cursor=cursor,
            text=text or None,
            signature=signature,
        )
        return JobPage([Job(record, name) for record in page.records], page.next_cursor)

    def get(self, job_id: str, *, topic: str | None = None) -> Job | None:
        """Return the job *job_id* of this topic (or *topic*), or ``None``."""
        name = self.topic if topic is None else validate_topic(topic)
        _check_job_id(job_id)
        record = self.backend.get(self.full_topic(name), job_id)
        return None if record is None else Job(record, name)

    def require(self, job_id: str, *, topic: str | None = None) -> Job:
        """Return the job *job_id* like :meth:`get`, raising if it does not exist.

        :raises JobNotFoundError: if there is no such job on the topic.
        """
        job = self.get(job_id, topic=topic)
        if job is None:
            raise JobNotFoundError(
                f"no job {job_id!r} on topic {topic or self.topic!r}"
            )
        return job

    def oldest_pending_age(self, topic: str | None = None) -> float | None:
        """Return the age in seconds of the oldest pending job, or ``None``."""
        created_at = self.backend.oldest_pending_at(self.full_topic(topic))
        return None if created_at is None else max(time.time() - created_at, 0.0)

    def workers(self, *, seen_within: float = 30.0) -> list[WorkerRecord]:
        """Return the workers whose last heartbeat is within *seen_within* seconds.

        Only workers of this queue's ``TINA4_QUEUE_PREFIX`` are returned, with
        their topic names shown without it.
        """
        prefix = self.settings.prefix
        workers = self.backend.workers(seen_after=time.time() - seen_within)
        if not prefix:
            return workers
        return [
            dataclasses.replace(worker, topic=self._short_topic(worker.topic))
            for worker in workers
            if worker.topic.startswith(prefix + ".")
        ]


def _check_delay(delay: float) -> None:
    if (
        isinstance(delay, bool)
        or not isinstance(delay, (int, float))
        or not 0 <= delay <= MAX_DELAY_SECONDS
    ):
        raise ValueError(
            f"delay must be a number of seconds from 0 to {MAX_DELAY_SECONDS} "
            f"(10 years), not {delay!r}"
        )


def _check_priority(priority: int) -> None:
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not MIN_PRIORITY <= priority <= MAX_PRIORITY
    ):
        raise ValueError(
            f"priority must be an integer from {MIN_PRIORITY} to {MAX_PRIORITY} "
            f"(higher runs first), not {priority!r}"
        )


def _check_job_id(job_id: str) -> None:
    # A backend may put the id into a query, where a dict would be read as
    # an operator that matches other jobs.
    if not isinstance(job_id, str):
        raise TypeError(
            f"job id must be a string, not {type(job_id).__name__} {job_id!r}; "
            "pass the id that push() returned"
        )


def _check_limit(limit: int) -> None:
    if (
        isinstance(limit, bool)
        or not isinstance(limit, int)
        or not 1 <= limit <= MAX_PAGE_SIZE
    ):
        raise ValueError(
            f"limit must be an integer from 1 to {MAX_PAGE_SIZE}, not {limit!r}"
        )


def _error_text(reason: object) -> str:
    if isinstance(reason, BaseException):
        text = f"{type(reason).__name__}: {reason}"
    else:
        text = str(reason)
    # Lone surrogates cannot be stored as UTF-8; keep the rest of the message.
    text = text.encode("utf-8", "replace").decode("utf-8")
    if len(text) > MAX_ERROR_CHARACTERS:
        cut = len(text) - MAX_ERROR_CHARACTERS
        text = text[:MAX_ERROR_CHARACTERS] + f" [{cut} more characters cut]"
    return text
