"""Reading jobs and workers from the index, and storing worker heartbeats."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...status import JobStatus
from ..base import ErrorGroup, JobRecord, RecordPage, WorkerRecord
from .core import BackendCore

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class Reads(BackendCore):
    """Answers reads from the index and stores worker heartbeats."""

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
        needle = None if not text else text.translate(_ASCII_LOWER)
        rows = self._sync().select(topic, statuses, signature=signature)
        matched: list[tuple[int, JobRecord]] = []
        for seq, record in reversed(rows):
            if before is not None and seq >= before:
                continue
            if needle is not None and not _contains(record, needle):
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
        event = {"op": "worker", "worker": _workerjson_object(worker)}
        link.call(lambda: link.publish(event, confirm=False))

    def remove_worker(self, worker_id: str) -> None:
        link = self._link()
        event = {"op": "worker_gone", "id": worker_id}
        link.call(lambda: link.publish(event, confirm=False))

    def workers(self, *, seen_after: float) -> list[WorkerRecord]:
        return self._sync().live_workers(seen_after)


def _contains(record: JobRecord, needle: str) -> bool:
    if needle in record.payload.translate(_ASCII_LOWER):
        return True
    return record.error is not None and needle in record.error.translate(_ASCII_LOWER)


def _workerjson_object(worker: WorkerRecord) -> dict[str, Any]:
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


def _parse_cursor(cursor: str) -> int:
    try:
        return int(cursor)
    except ValueError:
        raise ValueError(
            f"invalid page cursor {cursor!r}; pass the next_cursor of a previous page"
        ) from None
