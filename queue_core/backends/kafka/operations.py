"""Operator changes and reads on Kafka, all served by the job index."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

from confluent_kafka import KafkaException

from ...errors import JobNotFoundError
from ...status import JobStatus
from ..base import (
    ErrorGroup,
    JobRecord,
    RecordPage,
    WorkerRecord,
    fold_ascii,
    record_contains,
)
from .connection import encode_name, new_client, state_topic
from .core import BackendCore, dump_json, parse_cursor, state_change, worker_json
from .index import WORKER_KEY_PREFIX, Snapshot

logger = logging.getLogger(__name__)


class Operations(BackendCore):
    """Retries, purges, deletes, counts, pages and worker heartbeats."""

    # Operator changes ------------------------------------------------------------

    def requeue(
        self, topic: str, job_id: str, *, now: float, payload: str | None = None
    ) -> bool:
        snapshot = self._sync().snapshot(job_id)
        if snapshot is None or snapshot.record.topic != topic:
            raise JobNotFoundError(f"no job {job_id!r} on topic {topic!r}")
        if snapshot.record.status not in (JobStatus.FAILED, JobStatus.DEAD):
            return False
        return self._move_to_pending([snapshot], now, payload=payload) == 1

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

    def _move_to_pending(
        self, snapshots: list[Snapshot], now: float, *, payload: str | None = None
    ) -> int:
        changes = []
        for snapshot in snapshots:
            record = replace(
                snapshot.record,
                status=JobStatus.PENDING,
                available_at=now,
                updated_at=now,
                payload=snapshot.record.payload if payload is None else payload,
            )
            changes.append((record.id, state_change(record, snapshot.version)))
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
        before = None if cursor is None else parse_cursor(cursor)
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
        value = {"worker": worker_json(worker)}
        link.send([(link.state, WORKER_KEY_PREFIX + worker.id, dump_json(value))])

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

        admin = new_client(AdminClient, self.address, self.address.client_config())
        state = state_topic(self.prefix)
        # A prefixed job topic has four '-'-separated fields, and the second
        # is the prefix (see queue_name()).
        start = f"queuedeck-{encode_name(self.prefix)}-"
        listed = admin.list_topics(timeout=self.timeout).topics
        names = [
            name
            for name in listed
            if name == state
            or (self.prefix and name.startswith(start) and name.count("-") == 3)
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
