"""The job index: every job's state, folded from the events stream in order.

Each process that opens the RabbitMQ backend replays the events stream into one
:class:`JobIndex` and keeps following it. Events are applied in stream order,
and an event with a condition (``"if"``) applies only when the job still
matches it, so every process folds the same log into the same state. That is
what makes a conditional event work like a compare-and-set: the first of two
racing writers in the stream wins, everywhere.

A new process starts from the newest snapshot of the index (see
``snapshots.py``) and replays only the events after it. Every job the index
knows stays in the memory of each process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from typing import Any

from ...status import JobStatus
from ..base import (
    ErrorGroup,
    JobRecord,
    WorkerRecord,
    group_errors,
    zero_counts,
)

logger = logging.getLogger(__name__)

RECORD_FIELDS = tuple(field.name for field in fields(JobRecord))
WORKER_FIELDS = tuple(field.name for field in fields(WorkerRecord))


def record_to_json(record: JobRecord) -> dict[str, Any]:
    """Return *record* as a JSON-ready dict."""
    data = {name: getattr(record, name) for name in RECORD_FIELDS}
    data["status"] = record.status.value
    return data


def record_from_json(data: dict[str, Any]) -> JobRecord:
    """Return the :class:`JobRecord` stored as *data*."""
    values: dict[str, Any] = {name: data.get(name) for name in RECORD_FIELDS}
    values["status"] = JobStatus(data["status"])
    for name in ("id", "topic", "payload"):
        if not isinstance(values[name], str):
            raise ValueError(f"job record field {name!r} is not a string")
    return JobRecord(**values)


def worker_to_json(worker: WorkerRecord) -> dict[str, Any]:
    """Return *worker* as a JSON-ready dict."""
    return {name: getattr(worker, name) for name in WORKER_FIELDS}


@dataclass(slots=True)
class Entry:
    """One job in the index.

    ``seq`` is the stream offset of the job's first event, so it orders jobs
    by push time across every process. ``delivery`` names the one copy on the
    pending queue that may still be claimed; ``None`` while no copy is valid
    (the job is delayed, reserved or settled).
    """

    record: JobRecord
    seq: int
    delivery: str | None


class JobIndex:
    """Job and worker state of every topic, shared by the threads of a process."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.jobs: dict[str, Entry] = {}
        self.by_topic: dict[str, dict[str, Entry]] = {}
        self.workers: dict[str, WorkerRecord] = {}
        # Pending jobs with no claimable copy queued (delayed ones), per topic,
        # so a claim finds due ones without scanning every job.
        self.parked_ids: dict[str, set[str]] = {}
        self.next_offset = 0
        # Event ids someone waits for, mapped to whether the event applied.
        self.outcomes: dict[str, bool | None] = {}
        #: The stream offset the newest snapshot covers (events before it),
        #: and when that snapshot was taken, as Unix time.
        self.snapshot_offset = 0
        self.snapshot_at = 0.0
        #: Events applied by this process, snapshot loads not counted.
        self.replayed = 0

    # Applying events -------------------------------------------------------------

    def apply(self, event: dict[str, Any], offset: int) -> None:
        """Apply one event read at stream *offset*."""
        with self.lock:
            try:
                applied = self._apply(event, offset)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                # Any publisher on the exchange reaches the stream; one bad
                # event must not stop every process that reads it.
                logger.error(
                    "events stream offset %d has a malformed event (%s: %s); skipped",
                    offset,
                    type(exc).__name__,
                    exc,
                )
                applied = False
            self.next_offset = offset + 1
            self.replayed += 1
            event_id = event.get("event")
            if event_id in self.outcomes:
                self.outcomes[event_id] = applied
                self.lock.notify_all()

    def _apply(self, event: dict[str, Any], offset: int) -> bool:
        op = event.get("op")
        if op == "job":
            return self._apply_job(event, offset)
        if op == "delete":
            condition = event.get("if", {})
            deleted = [
                job_id
                for job_id in event["ids"]
                if self._matches(self.jobs.get(job_id), condition)
            ]
            for job_id in deleted:
                entry = self.jobs.pop(job_id)
                self.by_topic[entry.record.topic].pop(job_id, None)
                self.parked_ids.get(entry.record.topic, set()).discard(job_id)
            return bool(deleted)
        if op == "worker":
            worker = WorkerRecord(**event["worker"])
            self.workers[worker.id] = worker
        elif op == "worker_gone":
            self.workers.pop(event["id"], None)
        elif op == "drop_topics":
            for topic in event["topics"]:
                for job_id in self.by_topic.pop(topic, {}):
                    del self.jobs[job_id]
                self.parked_ids.pop(topic, None)
        elif op == "snapshot" and event["offset"] >= self.snapshot_offset:
            self.snapshot_offset = event["offset"]
            self.snapshot_at = event["at"]
        return True

    # Snapshots -----------------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """Return the whole index as JSON-ready data, for a snapshot."""
        with self.lock:
            return {
                "next_offset": self.next_offset,
                "jobs": [
                    [record_to_json(entry.record), entry.seq, entry.delivery]
                    for entry in self.jobs.values()
                ],
                "workers": [worker_to_json(worker) for worker in self.workers.values()],
            }

    def load(self, data: dict[str, Any], *, taken_at: float) -> None:
        """Replace the index with a snapshot made by :meth:`dump`."""
        with self.lock:
            self.jobs = {}
            self.by_topic = {}
            self.parked_ids = {}
            for record_data, seq, delivery in data["jobs"]:
                record = record_from_json(record_data)
                entry = Entry(record, seq, delivery)
                self.jobs[record.id] = entry
                self.by_topic.setdefault(record.topic, {})[record.id] = entry
                if record.status is JobStatus.PENDING and delivery is None:
                    self.parked_ids.setdefault(record.topic, set()).add(record.id)
            self.workers = {
                worker["id"]: WorkerRecord(**worker) for worker in data["workers"]
            }
            self.next_offset = data["next_offset"]
            self.snapshot_offset = data["next_offset"]
            self.snapshot_at = taken_at

    def _apply_job(self, event: dict[str, Any], offset: int) -> bool:
        job_id = event["id"]
        entry = self.jobs.get(job_id)
        condition = event.get("if")
        if condition is not None and not self._matches(entry, condition):
            return False
        if entry is None:
            data = event.get("record")
            if data is None:
                return False
            record = record_from_json(data)
            entry = Entry(record, offset, None)
            self.jobs[job_id] = entry
            self.by_topic.setdefault(record.topic, {})[job_id] = entry
        else:
            changes = dict(event.get("set") or {})
            unknown = set(changes) - set(RECORD_FIELDS)
            if unknown:
                raise KeyError(f"unknown job fields {sorted(unknown)}")
            if "status" in changes:
                changes["status"] = JobStatus(changes["status"])
            for name, value in changes.items():
                setattr(entry.record, name, value)
        entry.delivery = event.get("delivery")
        parked = self.parked_ids.setdefault(entry.record.topic, set())
        if entry.record.status is JobStatus.PENDING and entry.delivery is None:
            parked.add(job_id)
        else:
            parked.discard(job_id)
        return True

    @staticmethod
    def _matches(entry: Entry | None, condition: dict[str, Any]) -> bool:
        if entry is None:
            return False
        record = entry.record
        if "status" in condition and record.status.value not in condition["status"]:
            return False
        if "token" in condition and record.lease_token != condition["token"]:
            return False
        if "delivery" in condition and entry.delivery != condition["delivery"]:
            return False
        return not (
            "signature" in condition and record.signature != condition["signature"]
        )

    # Waiting for events ------------------------------------------------------------

    def expect(self, event_id: str) -> None:
        """Register interest in whether the event *event_id* applies."""
        with self.lock:
            self.outcomes[event_id] = None

    def outcome(self, event_id: str) -> bool | None:
        """Return whether *event_id* changed state, or ``None`` if not read yet.

        A known outcome is returned once and then forgotten.
        """
        with self.lock:
            result = self.outcomes.get(event_id)
            if result is not None:
                del self.outcomes[event_id]
            return result

    def forget(self, event_id: str) -> None:
        """Stop tracking *event_id*; its caller gave up waiting."""
        with self.lock:
            self.outcomes.pop(event_id, None)

    # Reading -------------------------------------------------------------------------

    def snapshot(self, job_id: str) -> tuple[JobRecord, str | None] | None:
        """Return a copy of the job's record and its valid delivery, if known."""
        with self.lock:
            entry = self.jobs.get(job_id)
            if entry is None:
                return None
            return copy_record(entry.record), entry.delivery

    def select(
        self,
        topic: str,
        statuses: Iterable[JobStatus],
        *,
        signature: str | None = None,
    ) -> list[tuple[int, JobRecord]]:
        """Return ``(seq, record copy)`` of *topic*'s jobs in *statuses*.

        Oldest first, by the stream offset of each job's first event.
        """
        wanted = set(statuses)
        with self.lock:
            rows = [
                (entry.seq, copy_record(entry.record))
                for entry in self.by_topic.get(topic, {}).values()
                if entry.record.status in wanted
                and (signature is None or entry.record.signature == signature)
            ]
        rows.sort(key=lambda row: row[0])
        return rows

    def parked(self, topic: str, now: float) -> list[JobRecord]:
        """Return pending jobs of *topic* that are due but have no queued copy."""
        with self.lock:
            entries = [self.jobs[job_id] for job_id in self.parked_ids.get(topic, ())]
            return [
                copy_record(entry.record)
                for entry in entries
                if entry.record.available_at <= now
            ]

    def counts(self, topic: str) -> dict[JobStatus, int]:
        counts = zero_counts()
        with self.lock:
            for entry in self.by_topic.get(topic, {}).values():
                counts[entry.record.status] += 1
        return counts

    def topics(self) -> list[str]:
        with self.lock:
            return sorted(self.by_topic)

    def expired(self, now: float) -> list[JobRecord]:
        """Return reserved jobs whose lease expired before *now*."""
        with self.lock:
            return [
                copy_record(entry.record)
                for entry in self.jobs.values()
                if entry.record.status is JobStatus.RESERVED
                and (entry.record.lease_expires_at or 0.0) < now
            ]

    def error_groups(
        self, topic: str, statuses: Iterable[JobStatus]
    ) -> list[ErrorGroup]:
        return group_errors(record for _, record in self.select(topic, statuses))

    def live_workers(self, seen_after: float) -> list[WorkerRecord]:
        with self.lock:
            workers = [w for w in self.workers.values() if w.last_seen > seen_after]
        workers.sort(key=lambda worker: (worker.topic, worker.started_at))
        return workers

    def __iter__(self) -> Iterator[str]:
        with self.lock:
            return iter(list(self.jobs))


def copy_record(record: JobRecord) -> JobRecord:
    """Return a shallow copy, so callers never see the index change under them."""
    return JobRecord(**{name: getattr(record, name) for name in RECORD_FIELDS})
