"""Operator changes and reads on RabbitMQ, all served by the job index."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from ...errors import JobNotFoundError
from ...status import JobStatus
from ..base import (
    ErrorGroup,
    JobRecord,
    RecordPage,
    WorkerRecord,
    fold_ascii,
    invalid_cursor,
    record_contains,
)
from .connection import dead_queue, failed_queue, pending_queue
from .core import BackendCore, json_bytes, persistent_properties
from .index import record_to_json, worker_to_json


class Operations(BackendCore):
    """Retries, purges, deletes, counts, pages and worker heartbeats."""

    # Operator changes -----------------------------------------------------------

    def requeue(
        self, topic: str, job_id: str, *, now: float, payload: str | None = None
    ) -> bool:
        snapshot = self._sync().snapshot(job_id)
        if snapshot is None or snapshot[0].topic != topic:
            raise JobNotFoundError(f"no job {job_id!r} on topic {topic!r}")
        record = snapshot[0]
        if record.status not in (JobStatus.FAILED, JobStatus.DEAD):
            return False
        moved = self._move_to_pending([record], now, check=True, payload=payload)
        self._compact(topic)
        return moved == 1

    def requeue_failed(self, topic: str, *, now: float) -> int:
        rows = self._sync().select(topic, [JobStatus.FAILED])
        records = [record for _, record in rows if record.attempts < record.max_retries]
        moved = self._move_to_pending(records, now)
        self._compact(topic)
        return moved

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
        moved = self._move_to_pending([record for _, record in rows], now)
        self._compact(topic)
        return moved

    def _move_to_pending(
        self,
        records: list[JobRecord],
        now: float,
        *,
        check: bool = False,
        payload: str | None = None,
    ) -> int:
        moved = 0
        for record in records:
            changed = replace(
                record,
                status=JobStatus.PENDING,
                available_at=now,
                updated_at=now,
                payload=record.payload if payload is None else payload,
            )
            condition = {"status": [record.status.value]}
            if self._write(
                changed,
                condition=condition,
                now=now,
                check=check,
                with_payload=payload is not None,
            ):
                moved += 1
        return moved

    def purge(
        self, topic: str, statuses: Iterable[JobStatus], *, signature: str | None = None
    ) -> int:
        wanted = [s for s in statuses if s is not JobStatus.RESERVED]
        rows = self._sync().select(topic, wanted, signature=signature)
        if not rows:
            return 0
        condition: dict[str, Any] = {"status": [s.value for s in wanted]}
        if signature is not None:
            condition["signature"] = signature
        self._delete([record.id for _, record in rows], condition)
        self._compact(topic)
        return len(rows)

    def delete(self, topic: str, job_id: str) -> bool:
        snapshot = self._sync().snapshot(job_id)
        if snapshot is None or snapshot[0].topic != topic:
            return False
        status = snapshot[0].status
        if status is JobStatus.RESERVED:
            return False
        deleted = self._delete([job_id], {"status": [status.value]}, check=True)
        self._compact(topic)
        return deleted

    def _delete(
        self, ids: list[str], condition: dict[str, Any], *, check: bool = False
    ) -> bool:
        link = self._link()
        event_id = uuid.uuid4().hex
        event = {"op": "delete", "ids": ids, "if": condition, "event": event_id}
        if check:
            link.index.expect(event_id)
        link.call(lambda: link.publish(event, confirm=True))
        if not check:
            return True
        return bool(link.wait_for(event_id, self.sync_timeout))

    def _compact(self, topic: str) -> None:
        """Rebuild the failed and dead queue copies when most of them are stale.

        Retrying or deleting one job cannot remove its copy from the middle of
        a queue, so stale copies pile up; once they outnumber the live ones
        the queue is emptied and the live jobs are published to it again.
        """
        index = self._sync()
        link = self._link()
        for status, name in (
            (JobStatus.FAILED, failed_queue(topic)),
            (JobStatus.DEAD, dead_queue(topic)),
        ):
            live = [record for _, record in index.select(topic, [status])]

            def rebuild(name: str = name, live: list[JobRecord] = live) -> None:
                link.declare_topic(topic)
                stored = link.confirmed.queue_declare(name, passive=True)
                if stored.method.message_count <= 2 * len(live) + 10 and live:
                    return
                link.confirmed.queue_purge(name)
                for record in live:
                    link.confirmed.basic_publish(
                        "",
                        name,
                        json_bytes({"op": "copy", "record": record_to_json(record)}),
                        persistent_properties(record),
                    )

            link.call(rebuild)

    # Reading -------------------------------------------------------------------------

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
        record = snapshot[0]
        if topic is not None and record.topic != topic:
            return None
        return record

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
        matched: list[tuple[int, JobRecord]] = []
        for seq, record in reversed(rows):
            if before is not None and seq >= before:
                continue
            if needle is not None and not record_contains(record, needle):
                continue
            matched.append((seq, record))
            if len(matched) > limit:
                break
        records = [record for _, record in matched[:limit]]
        next_cursor = str(matched[limit - 1][0]) if len(matched) > limit else None
        return RecordPage(records, next_cursor)

    def error_groups(
        self, topic: str, statuses: Iterable[JobStatus]
    ) -> list[ErrorGroup]:
        return self._sync().error_groups(topic, statuses)

    def oldest_pending_at(self, topic: str) -> float | None:
        rows = self._sync().select(topic, [JobStatus.PENDING])
        return rows[0][1].created_at if rows else None

    # Workers --------------------------------------------------------------------

    def record_heartbeat(self, worker: WorkerRecord) -> None:
        link = self._link()
        event = {"op": "worker", "worker": worker_to_json(worker)}
        link.call(lambda: link.publish(event, confirm=False))

    def remove_worker(self, worker_id: str) -> None:
        link = self._link()
        event = {"op": "worker_gone", "id": worker_id}
        link.call(lambda: link.publish(event, confirm=False))

    def workers(self, *, seen_after: float) -> list[WorkerRecord]:
        return self._sync().live_workers(seen_after)

    # Tests and tools ------------------------------------------------------------

    def delete_queues(self, prefix: str) -> int:
        """Delete every topic that starts with *prefix* and a dot.

        Deletes the topics' queues and drops their jobs from the index. The
        events stream is shared by every topic and keeps their history until
        its retention removes it. Returns how many topics were deleted.
        """
        topics = [t for t in self._sync().topics() if t.startswith(prefix + ".")]
        link = self._link()

        def drop() -> None:
            for topic in topics:
                for name in (
                    pending_queue(topic),
                    failed_queue(topic),
                    dead_queue(topic),
                ):
                    link.confirmed.queue_delete(name)
            link.forget_topics(topics)
            link.publish({"op": "drop_topics", "topics": topics}, confirm=True)

        link.call(drop)
        return len(topics)


def _parse_cursor(cursor: str) -> int:
    try:
        return int(cursor)
    except ValueError:
        raise invalid_cursor(cursor) from None
