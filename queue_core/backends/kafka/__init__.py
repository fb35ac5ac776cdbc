"""The Kafka backend (``TINA4_QUEUE_BACKEND=kafka``), on confluent-kafka.

Supports every queue operation. ``TINA4_QUEUE_URL`` is the bootstrap list,
``host:port[,host:port]``, or ``kafka://[user:password@]host:port?options``
where ``partitions=N`` sets the partitions of each job topic and any other
option goes to librdkafka. The password is never logged.

Storage, per ``TINA4_QUEUE_PREFIX`` and per topic:

- ``queuedeck-<prefix>-state``: a compacted topic keyed by job id. Every
  message carries a job's whole record, so the topic contains the state of
  every live job. Each process reads it into a :class:`JobIndex` and follows it, and
  that index answers claims, counts, pages, lookups and error groups.
- ``queuedeck-<topic>-pending``: every pushed job, in push order, for tools
  that read the topic. The consumer group ``queuedeck-<topic>-workers``
  commits, per partition, the offset after the longest run of settled jobs.
- ``queuedeck-<topic>-failed`` and ``queuedeck-<topic>-dead``: a copy of each
  job that failed or died.

See ``docs/backends/kafka.md`` for the design.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from confluent_kafka import KafkaException

from ...errors import BackendUnavailableError, JobNotFoundError
from ...settings import Settings
from ...status import JobStatus
from ..base import (
    Backend,
    ErrorGroup,
    JobRecord,
    Outcome,
    RecordPage,
    WorkerRecord,
    fold_ascii,
    invalid_cursor,
    record_contains,
)
from .connection import (
    KafkaAddress,
    Link,
    job_topic,
    parse_url,
    redact,
    state_topic,
)
from .index import (
    WORKER_KEY_PREFIX,
    JobIndex,
    Snapshot,
    copy_record,
    record_to_json,
)
from .offsets import SettledOffsets

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30.0
CLAIM_WARNING_INTERVAL = 30.0
# A claim that loses a race picks at random among this many next jobs, so
# processes racing for the head of a topic spread out instead of colliding.
CLAIM_SPREAD = 8
# A writer whose message lost a race rewrites the job's state, so the newest
# message of the key is a valid one. It tries at most this many times.
RESTATE_ATTEMPTS = 5


@dataclass(slots=True)
class Lease:
    """A job this process holds, with the version its next change names."""

    token: str
    version: int
    record: JobRecord


class KafkaBackend(Backend):
    """Jobs on Kafka topics, their state in a compacted topic."""

    name = "kafka"

    def __init__(
        self, url: str, *, prefix: str = "", timeout: float = TIMEOUT_SECONDS
    ) -> None:
        self.url = url
        self.address: KafkaAddress = parse_url(url)
        self.prefix = prefix
        self.timeout = timeout
        self._lock = threading.Lock()
        self._link_: Link | None = None
        self._offsets: SettledOffsets | None = None
        self._pid = os.getpid()
        self._leases: dict[str, Lease] = {}
        self._claiming: set[str] = set()
        self._next_claim_warning = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaBackend:
        """Return a backend for ``settings.url`` and ``settings.prefix``."""
        assert settings.url is not None
        return cls(settings.url, prefix=settings.prefix)

    def __repr__(self) -> str:
        return f"<KafkaBackend {redact(self.url)!r} prefix={self.prefix!r}>"

    # Connection ------------------------------------------------------------------

    def _link(self) -> Link:
        with self._lock:
            if self._pid != os.getpid():
                # The parent's clients stay referenced by the fork hook in
                # connection.py, so dropping them here frees nothing.
                self._pid = os.getpid()
                self._link_ = None
                self._offsets = None
                self._leases = {}
                self._claiming = set()
            if self._link_ is None:
                self._link_ = Link(
                    self.address, self.prefix, JobIndex(), timeout=self.timeout
                )
                logger.info(
                    "connected to Kafka at %s (state topic %r)",
                    self.address.bootstrap,
                    self._link_.state,
                )
                self._offsets = SettledOffsets(
                    self.address, self._link_.sync, timeout=self.timeout
                )
            return self._link_

    def close(self) -> None:
        with self._lock:
            link, self._link_ = self._link_, None
            offsets, self._offsets = self._offsets, None
            self._leases = {}
        if self._pid != os.getpid():
            return
        if offsets is not None:
            offsets.close()
        if link is not None:
            link.close()

    def _sync(self) -> JobIndex:
        return self._link().sync()

    # Writing ---------------------------------------------------------------------

    def _write(self, messages: list[tuple[str, dict[str, Any]]]) -> list[bool]:
        """Store job messages keyed by job id; return whether each applied.

        Each message waits until the follower has read it back, so its
        outcome is known. A message that lost a race is followed by a
        rewrite of the job's current state (see :meth:`_restate`).
        """
        if not messages:
            return []
        link = self._link()
        for _, value in messages:
            value["event"] = uuid.uuid4().hex
            link.index.expect(value["event"])
        encoded = [(link.state, job_id, _dump(value)) for job_id, value in messages]
        try:
            offsets = link.send(encoded)
            link.wait_applied(max(offsets))
        finally:
            outcomes = [link.index.take_outcome(v["event"]) for _, v in messages]
        for (job_id, value), applied in zip(messages, outcomes, strict=True):
            if not applied and "if" in value:
                self._restate(job_id)
        return outcomes

    def _restate(self, job_id: str) -> None:
        """Rewrite the current state of *job_id* after a message lost a race.

        Compaction keeps only the newest message of a key, so that message
        must carry the job's real state, not the loser's. The rewrite names
        the current version and changes nothing in a process that read the
        whole log.
        """
        link = self._link()
        for _ in range(RESTATE_ATTEMPTS):
            snapshot = link.index.snapshot(job_id)
            if snapshot is None:
                link.send([(link.state, job_id, None)])
                return
            value = _change(snapshot.record, snapshot.version, bump=False)
            value["event"] = uuid.uuid4().hex
            link.index.expect(value["event"])
            offset = link.send([(link.state, job_id, _dump(value))])[0]
            link.wait_applied(offset)
            if link.index.take_outcome(value["event"]):
                return
        # NOTE: after this many lost races in a row the newest message may be
        # a stale one until the next change of the job rewrites it.
        logger.warning("job %s: state rewrite kept losing races; gave up", job_id)

    def _change_one(self, record: JobRecord, version: int) -> bool:
        return self._write([(record.id, _change(record, version))])[0]

    def enqueue(self, record: JobRecord) -> None:
        link = self._link()
        topic = record.topic
        pending = job_topic(topic, "pending")
        link.create_topics(
            [pending, job_topic(topic, "failed"), job_topic(topic, "dead")],
            partitions=self.address.partitions,
        )
        value = {"version": 0, "record": record_to_json(record)}
        # The state message makes the job durable, so only it is waited for.
        # The copy goes out first and is usually stored by then; close()
        # waits for any copy still in flight.
        link.send_later(pending, record.id, _dump(_copy(record)))
        link.send([(link.state, record.id, _dump(value))])

    # Claiming --------------------------------------------------------------------

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
        # A broker outage makes a claim find nothing instead of raising, so a
        # consume() loop keeps waiting while librdkafka reconnects.
        try:
            if job_id is not None:
                snapshot = self._sync().snapshot(job_id)
                if snapshot is None or not _claimable(snapshot.record, topic, now):
                    return None
                return self._reserve(
                    snapshot, now, lease_token, lease_expires_at, max_retries
                )
            # A job the index already lists is claimed after reading only this
            # process's own writes, not the state topic to its end: the claim's
            # version check rejects it if the job changed meanwhile. Only an
            # empty result pays for the full read, so a job pushed anywhere
            # before this call is still found.
            link = self._link()
            record = self._claim_next(
                link.own_writes(),
                topic,
                now,
                lease_token,
                lease_expires_at,
                max_retries,
            )
            if record is not None:
                return record
            return self._claim_next(
                link.sync(), topic, now, lease_token, lease_expires_at, max_retries
            )
        except BackendUnavailableError as exc:
            if time.monotonic() >= self._next_claim_warning:
                self._next_claim_warning = time.monotonic() + CLAIM_WARNING_INTERVAL
                logger.warning("claim on topic %r found no broker: %s", topic, exc)
            return None

    def _claim_next(
        self,
        index: JobIndex,
        topic: str,
        now: float,
        lease_token: str,
        lease_expires_at: float,
        max_retries: int,
    ) -> JobRecord | None:
        lost = False
        while True:
            with self._lock:
                candidates = index.next_available(
                    topic, now, self._claiming, CLAIM_SPREAD
                )
                if not candidates:
                    return None
                chosen = random.choice(candidates) if lost else candidates[0]
                self._claiming.add(chosen.record.id)
            try:
                record = self._reserve(
                    chosen, now, lease_token, lease_expires_at, max_retries
                )
            finally:
                with self._lock:
                    self._claiming.discard(chosen.record.id)
            if record is not None:
                return record
            lost = True

    def _reserve(
        self,
        snapshot: Snapshot,
        now: float,
        lease_token: str,
        lease_expires_at: float,
        max_retries: int,
    ) -> JobRecord | None:
        record = replace(
            snapshot.record,
            status=JobStatus.RESERVED,
            lease_token=lease_token,
            lease_expires_at=lease_expires_at,
            max_retries=max_retries,
            updated_at=now,
        )
        if not self._change_one(record, snapshot.version):
            return None
        self._leases[record.id] = Lease(lease_token, snapshot.version + 1, record)
        return copy_record(record)

    # Settling --------------------------------------------------------------------

    def _held(self, job_id: str, token: str) -> Lease | None:
        """Return the lease *token* has on *job_id*, from this process's view.

        A lease this process took is used without a read: if another process
        has changed the job since, the version it names no longer matches and
        the change is rejected.
        """
        lease = self._leases.get(job_id)
        if lease is not None and lease.token == token:
            return lease
        snapshot = self._sync().snapshot(job_id)
        if snapshot is None:
            return None
        record = snapshot.record
        if record.status is not JobStatus.RESERVED or record.lease_token != token:
            return None
        return Lease(token, snapshot.version, record)

    def settle(
        self, job_id: str, lease_token: str, outcome: Outcome, *, now: float
    ) -> bool:
        lease = self._held(job_id, lease_token)
        if lease is None:
            return False
        record = replace(
            lease.record,
            status=outcome.status,
            attempts=outcome.attempts,
            error=outcome.error,
            signature=outcome.signature,
            available_at=outcome.available_at,
            updated_at=now,
            lease_token=None,
            lease_expires_at=None,
        )
        applied = self._change_one(record, lease.version)
        self._leases.pop(job_id, None)
        if applied:
            self._after_settle(record)
        return applied

    def _after_settle(self, record: JobRecord) -> None:
        """Copy a failed or dead job to its topic and commit settled offsets."""
        link = self._link()
        if record.status in (JobStatus.FAILED, JobStatus.DEAD):
            kind = record.status.value
            link.send(
                [(job_topic(record.topic, kind), record.id, _dump(_copy(record)))]
            )
        if record.status is not JobStatus.PENDING and self._offsets is not None:
            self._offsets.settled(record.topic)

    def extend_lease(self, job_id: str, lease_token: str, expires_at: float) -> bool:
        lease = self._held(job_id, lease_token)
        if lease is None:
            return False
        record = replace(lease.record, lease_expires_at=expires_at)
        if not self._change_one(record, lease.version):
            self._leases.pop(job_id, None)
            return False
        self._leases[job_id] = Lease(lease_token, lease.version + 1, record)
        return True

    def recover_expired(self, *, now: float, error: str, signature: str) -> int:
        try:
            index = self._sync()
        except BackendUnavailableError as exc:
            logger.warning("lease recovery skipped: %s", exc)
            return 0
        changes: list[tuple[str, dict[str, Any]]] = []
        records: list[JobRecord] = []
        for snapshot in index.expired(now):
            record = snapshot.record
            attempts = record.attempts + 1
            dead = attempts >= record.max_retries
            changed = replace(
                record,
                status=JobStatus.DEAD if dead else JobStatus.PENDING,
                attempts=attempts,
                error=error,
                signature=signature,
                updated_at=now,
                available_at=now,
                lease_token=None,
                lease_expires_at=None,
            )
            changes.append((record.id, _change(changed, snapshot.version)))
            records.append(changed)
        outcomes = self._write(changes)
        for record, applied in zip(records, outcomes, strict=True):
            if applied and record.status is JobStatus.DEAD:
                self._after_settle(record)
        return sum(outcomes)

    # Operator changes ------------------------------------------------------------

    def requeue(self, topic: str, job_id: str, *, now: float) -> bool:
        snapshot = self._sync().snapshot(job_id)
        if snapshot is None or snapshot.record.topic != topic:
            raise JobNotFoundError(f"no job {job_id!r} on topic {topic!r}")
        if snapshot.record.status not in (JobStatus.FAILED, JobStatus.DEAD):
            return False
        return self._move_to_pending([snapshot], now) == 1

    def requeue_failed(self, topic: str, *, now: float) -> int:
        rows = self._sync().select(topic, [JobStatus.FAILED])
        movable = [s for s in rows if s.record.attempts < s.record.max_retries]
        return self._move_to_pending(movable, now)

    def requeue_all(
        self,
        topic: str,
        statuses: Iterable[JobStatus],
        *,
        now: float,
        signature: str | None = None,
    ) -> int:
        movable = [s for s in statuses if s in (JobStatus.FAILED, JobStatus.DEAD)]
        if not movable:
            return 0
        rows = self._sync().select(topic, movable, signature=signature)
        return self._move_to_pending(rows, now)

    def _move_to_pending(self, snapshots: list[Snapshot], now: float) -> int:
        changes = []
        for snapshot in snapshots:
            record = replace(
                snapshot.record,
                status=JobStatus.PENDING,
                available_at=now,
                updated_at=now,
            )
            changes.append((record.id, _change(record, snapshot.version)))
        return sum(self._write(changes))

    def purge(
        self, topic: str, statuses: Iterable[JobStatus], *, signature: str | None = None
    ) -> int:
        wanted = [s for s in statuses if s is not JobStatus.RESERVED]
        rows = self._sync().select(topic, wanted, signature=signature)
        return self._delete(rows)

    def delete(self, topic: str, job_id: str) -> bool:
        snapshot = self._sync().snapshot(job_id)
        if snapshot is None or snapshot.record.topic != topic:
            return False
        if snapshot.record.status is JobStatus.RESERVED:
            return False
        return self._delete([snapshot]) == 1

    def _delete(self, snapshots: list[Snapshot]) -> int:
        """Delete jobs still at their snapshot's version, then write tombstones.

        The conditional delete decides; the tombstone that follows lets
        compaction drop the job's messages. No change can follow a delete,
        so the tombstone needs no condition.
        """
        messages = [
            (
                s.record.id,
                {"op": "delete", "if": {"version": s.version}},
            )
            for s in snapshots
        ]
        outcomes = self._write(messages)
        link = self._link()
        deleted = [s.record.id for s, ok in zip(snapshots, outcomes, strict=True) if ok]
        if deleted:
            link.send([(link.state, job_id, None) for job_id in deleted])
            if self._offsets is not None:
                for topic in {s.record.topic for s in snapshots}:
                    self._offsets.settled(topic)
        return len(deleted)

    # Reading ---------------------------------------------------------------------

    def counts(self, topic: str) -> dict[JobStatus, int]:
        return self._sync().counts(topic)

    def counts_by_topic(self) -> dict[str, dict[JobStatus, int]]:
        index = self._sync()
        return {topic: index.counts(topic) for topic in index.topics()}

    def topics(self) -> list[str]:
        return self._sync().topics()

    def get(self, topic: str | None, job_id: str) -> JobRecord | None:
        snapshot = self._sync().snapshot(job_id)
        if snapshot is None:
            return None
        if topic is not None and snapshot.record.topic != topic:
            return None
        return snapshot.record

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
        before = None if cursor is None else _parse_cursor(cursor)
        needle = None if not text else fold_ascii(text)
        rows = self._sync().select(topic, statuses, signature=signature)
        matched: list[JobRecord] = []
        for snapshot in reversed(rows):
            record = snapshot.record
            if before is not None and (record.created_at, record.id) >= before:
                continue
            if needle is not None and not record_contains(record, needle):
                continue
            matched.append(record)
            if len(matched) > limit:
                break
        next_cursor = None
        if len(matched) > limit:
            last = matched[limit - 1]
            next_cursor = f"{last.created_at!r}/{last.id}"
        return RecordPage(matched[:limit], next_cursor)

    def error_groups(
        self, topic: str, statuses: Iterable[JobStatus]
    ) -> list[ErrorGroup]:
        return self._sync().error_groups(topic, statuses)

    def oldest_pending_at(self, topic: str) -> float | None:
        rows = self._sync().select(topic, [JobStatus.PENDING])
        return rows[0].record.created_at if rows else None

    # Workers ---------------------------------------------------------------------

    def record_heartbeat(self, worker: WorkerRecord) -> None:
        link = self._link()
        value = {"worker": _worker_json(worker)}
        link.send([(link.state, WORKER_KEY_PREFIX + worker.id, _dump(value))])

    def remove_worker(self, worker_id: str) -> None:
        link = self._link()
        link.send([(link.state, WORKER_KEY_PREFIX + worker_id, None)])

    def workers(self, *, seen_after: float) -> list[WorkerRecord]:
        return self._sync().live_workers(seen_after)

    # Tests and tools -------------------------------------------------------------

    def delete_topics(self) -> int:
        """Delete every Kafka topic of this backend's prefix; return how many.

        Used by tests and tools. Only the prefix's state topic and the job
        topics of its queue topics go.
        """
        self.close()
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(self.address.client_config())
        state = state_topic(self.prefix)
        start = job_topic(f"{self.prefix}." if self.prefix else "", "")[:-1]
        listed = admin.list_topics(timeout=self.timeout).topics
        names = [
            name
            for name in listed
            if name == state or (self.prefix and name.startswith(start))
        ]
        if not names:
            return 0
        futures = admin.delete_topics(names, request_timeout=self.timeout)
        deleted = 0
        for name, future in futures.items():
            try:
                future.result(timeout=self.timeout)
                deleted += 1
            except (KafkaException, TimeoutError) as exc:
                logger.warning("deleting topic %r failed: %s", name, exc)
        return deleted


def _change(record: JobRecord, version: int, *, bump: bool = True) -> dict[str, Any]:
    """Return a job message that applies only while the job is at *version*."""
    return {
        "if": {"version": version},
        "version": version + 1 if bump else version,
        "record": record_to_json(record),
    }


def _copy(record: JobRecord) -> dict[str, Any]:
    """Return the message put on a job topic: the job as it was at that moment."""
    return record_to_json(record)


def _dump(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _claimable(record: JobRecord, topic: str, now: float) -> bool:
    return (
        record.topic == topic
        and record.status is JobStatus.PENDING
        and record.available_at <= now
    )


def _worker_json(worker: WorkerRecord) -> dict[str, Any]:
    return {
        "id": worker.id,
        "topic": worker.topic,
        "hostname": worker.hostname,
        "pid": worker.pid,
        "started_at": worker.started_at,
        "last_seen": worker.last_seen,
        "current_job": worker.current_job,
        "processed": worker.processed,
        "failed": worker.failed,
    }


def _parse_cursor(cursor: str) -> tuple[float, str]:
    created_at, _, job_id = cursor.partition("/")
    try:
        return float(created_at), job_id
    except ValueError:
        raise invalid_cursor(cursor) from None
