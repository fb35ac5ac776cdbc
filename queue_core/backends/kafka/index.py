"""The job index: every job's state, folded from the state topic in order.

Each process that opens the Kafka backend reads its prefix's state topic from
the start into one :class:`JobIndex` and keeps following it. Every job message
carries the job's whole record, so the latest message of a key is enough to
rebuild the job after compaction. A message with a condition (``"if"``)
applies only when the job still has the version it names. Every process folds
the same log into the same state, so a conditional message works like a
compare-and-set: of two writers racing from one version, the first in the log
wins everywhere.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Iterable
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

RECORD_FIELDS = tuple(field.name for field in fields(JobRecord))
WORKER_KEY_PREFIX = "worker:"


def record_to_json(record: JobRecord) -> dict[str, Any]:
    """Return *record* as a JSON-ready dict."""
    data = {name: getattr(record, name) for name in RECORD_FIELDS}
    data["status"] = record.status.value
    return data


def record_from_json(data: dict[str, Any]) -> JobRecord:
    """Return the :class:`JobRecord` stored as *data*."""
    values: dict[str, Any] = {name: data.get(name) for name in RECORD_FIELDS}
    values["status"] = JobStatus(data["status"])
    return JobRecord(**values)


def copy_record(record: JobRecord) -> JobRecord:
    """Return a shallow copy, so callers never see the index change under them."""
    return JobRecord(**{name: getattr(record, name) for name in RECORD_FIELDS})


@dataclass(slots=True)
class Entry:
    """One job in the index.

    ``version`` counts the changes applied to the job since it was created;
    a conditional message names the version it expects and carries the next.
    """

    record: JobRecord
    version: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A copy of one job's record with the version a change must name."""

    record: JobRecord
    version: int


class JobIndex:
    """Job and worker state of one prefix, shared by the threads of a process."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.jobs: dict[str, Entry] = {}
        self.by_topic: dict[str, dict[str, Entry]] = {}
        # Pending jobs per topic, so a claim does not scan settled ones.
        self.pending: dict[str, dict[str, Entry]] = {}
        self.workers: dict[str, WorkerRecord] = {}
        # Ids of jobs deleted since this process started reading.
        self.deleted: set[str] = set()
        self.next_offset = 0
        # Message ids someone waits for, mapped to whether the message applied.
        self.outcomes: dict[str, bool | None] = {}

    # Applying messages -----------------------------------------------------------

    def apply(self, key: str, value: dict[str, Any] | None, offset: int) -> None:
        """Apply the message with *key* and *value* read at *offset*.

        A ``None`` value is a tombstone: the job or worker is gone.
        """
        with self.lock:
            applied = self._apply(key, value)
            self.next_offset = offset + 1
            message_id = value.get("event") if value is not None else None
            if message_id in self.outcomes:
                self.outcomes[message_id] = applied
            self.lock.notify_all()

    def advance(self, offset: int) -> None:
        """Record that every message before *offset* has been read."""
        with self.lock:
            if offset > self.next_offset:
                self.next_offset = offset
                self.lock.notify_all()

    def _apply(self, key: str, value: dict[str, Any] | None) -> bool:
        if key.startswith(WORKER_KEY_PREFIX):
            worker_id = key[len(WORKER_KEY_PREFIX) :]
            if value is None:
                self.workers.pop(worker_id, None)
            else:
                self.workers[worker_id] = WorkerRecord(**value["worker"])
            return True
        if value is None or key in self.deleted:
            # A deleted job stays deleted: a message that lost the race
            # against its deletion must not bring it back.
            self._remove(key)
            return value is None
        entry = self.jobs.get(key)
        if value.get("op") == "delete":
            if not _matches(entry, value.get("if", {})):
                return False
            self._remove(key)
            self.deleted.add(key)
            return True
        record = record_from_json(value["record"])
        version = int(value.get("version", 0))
        if entry is None or "if" not in value:
            # A job is created without a condition. After compaction a job's
            # first message may also be a later, conditional one, which then
            # stands for the whole history before it.
            self._remove(key)
            entry = Entry(record, version)
            self.jobs[key] = entry
            self.by_topic.setdefault(record.topic, {})[key] = entry
            self._track_pending(entry)
            return True
        if not _matches(entry, value["if"]):
            return False
        entry.record = record
        entry.version = version
        self._track_pending(entry)
        return True

    def _track_pending(self, entry: Entry) -> None:
        record = entry.record
        pending = self.pending.setdefault(record.topic, {})
        if record.status is JobStatus.PENDING:
            pending[record.id] = entry
        else:
            pending.pop(record.id, None)

    def _remove(self, job_id: str) -> None:
        entry = self.jobs.pop(job_id, None)
        if entry is not None:
            self.by_topic.get(entry.record.topic, {}).pop(job_id, None)
            self.pending.get(entry.record.topic, {}).pop(job_id, None)

    # Waiting for messages -----------------------------------------------------------

    def expect(self, message_id: str) -> None:
        """Register interest in whether the message *message_id* applies."""
        with self.lock:
            self.outcomes[message_id] = None

    def wait_past(self, offset: int, timeout: float) -> bool:
        """Wait until the message at *offset* is applied; ``False`` on timeout."""
        with self.lock:
            return self.lock.wait_for(lambda: self.next_offset > offset, timeout)

    def wait_until(self, offset: int, timeout: float) -> bool:
        """Wait until every message before *offset* is applied."""
        with self.lock:
            return self.lock.wait_for(lambda: self.next_offset >= offset, timeout)

    def take_outcome(self, message_id: str) -> bool:
        """Return whether *message_id* applied, then forget it."""
        with self.lock:
            return bool(self.outcomes.pop(message_id, None))

    def forget(self, message_id: str) -> None:
        """Stop tracking *message_id*; its caller gave up waiting."""
        with self.lock:
            self.outcomes.pop(message_id, None)

    # Reading -------------------------------------------------------------------------

    def snapshot(self, job_id: str) -> Snapshot | None:
        """Return a copy of the job's record and its version, if known."""
        with self.lock:
            entry = self.jobs.get(job_id)
            if entry is None:
                return None
            return Snapshot(copy_record(entry.record), entry.version)

    def select(
        self,
        topic: str,
        statuses: Iterable[JobStatus],
        *,
        signature: str | None = None,
    ) -> list[Snapshot]:
        """Return snapshots of *topic*'s jobs in *statuses*, oldest first."""
        wanted = set(statuses)
        with self.lock:
            entries = [
                entry
                for entry in self.by_topic.get(topic, {}).values()
                if entry.record.status in wanted
                and (signature is None or entry.record.signature == signature)
            ]
            entries.sort(key=_age_key)
            return [Snapshot(copy_record(e.record), e.version) for e in entries]

    def next_available(
        self, topic: str, now: float, skip: set[str], count: int
    ) -> list[Snapshot]:
        """Return up to *count* claimable jobs of *topic* in claim order.

        Claim order is the highest priority first, then the oldest. Jobs in
        *skip* (claims in flight in this process) are left out.
        """
        with self.lock:
            entries = [
                entry
                for job_id, entry in self.pending.get(topic, {}).items()
                if entry.record.available_at <= now and job_id not in skip
            ]
            chosen = heapq.nsmallest(count, entries, key=_claim_key)
            return [Snapshot(copy_record(e.record), e.version) for e in chosen]

    def counts(self, topic: str) -> dict[JobStatus, int]:
        counts = zero_counts()
        with self.lock:
            for entry in self.by_topic.get(topic, {}).values():
                counts[entry.record.status] += 1
        return counts

    def topics(self) -> list[str]:
        with self.lock:
            return sorted(topic for topic, jobs in self.by_topic.items() if jobs)

    def expired(self, now: float) -> list[Snapshot]:
        """Return reserved jobs whose lease expired before *now*."""
        with self.lock:
            return [
                Snapshot(copy_record(entry.record), entry.version)
                for entry in self.jobs.values()
                if entry.record.status is JobStatus.RESERVED
                and (entry.record.lease_expires_at or 0.0) < now
            ]

    def error_groups(
        self, topic: str, statuses: Iterable[JobStatus]
    ) -> list[ErrorGroup]:
        return group_errors(row.record for row in self.select(topic, statuses))

    def live_workers(self, seen_after: float) -> list[WorkerRecord]:
        with self.lock:
            workers = [w for w in self.workers.values() if w.last_seen > seen_after]
        workers.sort(key=lambda worker: (worker.topic, worker.started_at))
        return workers


def _claim_key(entry: Entry) -> tuple[int, float, str]:
    return (-entry.record.priority, entry.record.created_at, entry.record.id)


def _age_key(entry: Entry) -> tuple[float, str]:
    # Job ids break ties, so every process sorts jobs the same way and a page
    # cursor made by one process is valid in another.
    return (entry.record.created_at, entry.record.id)


def _matches(entry: Entry | None, condition: dict[str, Any]) -> bool:
    if entry is None:
        return False
    if "version" in condition and entry.version != condition["version"]:
        return False
    return "status" not in condition or (
        entry.record.status.value in condition["status"]
    )
