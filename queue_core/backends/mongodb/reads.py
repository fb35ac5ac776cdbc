"""Reads on MongoDB: counts, pages, error groups and worker heartbeats."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from pymongo import ASCENDING, DESCENDING

from ...status import JobStatus
from ..base import (
    Backend,
    ErrorGroup,
    JobRecord,
    RecordPage,
    WorkerRecord,
    invalid_cursor,
    merge_counts,
    zero_counts,
)
from .connection import Collections, Connection
from .documents import (
    FAILED_OR_DEAD,
    ID_LENGTH,
    PAGE_INDEX,
    Document,
    job_record,
    status_filter,
    text_filter,
    worker_document,
    worker_record,
)

if TYPE_CHECKING:
    pass


class Reads(Backend):
    """The read side of the MongoDB backend, over its :class:`Connection`."""

    connection: Connection
    _known_topics: set[str]

    # Reading -------------------------------------------------------------------

    def counts(self, topic: str) -> dict[JobStatus, int]:
        pipeline: list[Document] = [
            {"$match": {"topic": topic}},
            {"$group": {"_id": "$status", "count": {"$sum": 1}}},
        ]
        rows = self.connection.run(
            lambda found, retried: list(found.jobs.aggregate(pipeline))
        )
        counts = zero_counts()
        for row in rows:
            counts[JobStatus(row["_id"])] = row["count"]
        return counts

    def counts_by_topic(self) -> dict[str, dict[JobStatus, int]]:
        pipeline: list[Document] = [
            {
                "$group": {
                    "_id": {"topic": "$topic", "status": "$status"},
                    "count": {"$sum": 1},
                }
            },
        ]

        def read(found: Collections, retried: bool) -> list[tuple[str, str, int]]:
            # The hint lets MongoDB count entries of the page index, which
            # contains both grouped fields, instead of reading every document.
            documents = found.jobs.aggregate(pipeline, hint=PAGE_INDEX)
            rows = [
                (row["_id"]["topic"], row["_id"]["status"], row["count"])
                for row in documents
            ]
            # Topics whose jobs were all purged still count, with zeros.
            for topic in found.topics.find({}, {"_id": 1}):
                rows.append((topic["_id"], JobStatus.PENDING.value, 0))
            return rows

        rows = self.connection.run(read)
        return dict(sorted(merge_counts(rows).items()))

    def topics(self) -> list[str]:
        return self.connection.run(
            lambda found, retried: [
                document["_id"]
                for document in found.topics.find({}, {"_id": 1}).sort("_id", ASCENDING)
            ]
        )

    def get(self, topic: str | None, job_id: str) -> JobRecord | None:
        query: Document = {"_id": job_id}
        if topic is not None:
            query["topic"] = topic
        document = self.connection.run(
            lambda found, retried: found.jobs.find_one(query)
        )
        return None if document is None else job_record(document)

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
        query = status_filter(topic, statuses, signature)
        if cursor is not None:
            query["_id"] = {"$lt": parse_cursor(cursor)}
        if text:
            query.update(text_filter(text))

        # One document more than requested shows whether another page follows.
        documents = self.connection.run(
            lambda found, retried: list(
                found.jobs.find(query).sort("_id", DESCENDING).limit(limit + 1)
            )
        )
        records = [job_record(document) for document in documents[:limit]]
        next_cursor = records[-1].id if len(documents) > limit else None
        return RecordPage(records, next_cursor)

    def error_groups(
        self, topic: str, statuses: Iterable[JobStatus]
    ) -> list[ErrorGroup]:
        selected = [status for status in statuses if status in FAILED_OR_DEAD]
        if not selected:
            return []
        query = status_filter(topic, selected, None)
        query["signature"] = {"$type": "string"}
        pipeline: list[Document] = [
            {"$match": query},
            {
                "$group": {
                    "_id": "$signature",
                    "count": {"$sum": 1},
                    "first_seen": {"$min": "$updated_at"},
                    "last_seen": {"$max": "$updated_at"},
                }
            },
            {"$sort": {"count": -1, "_id": 1}},
        ]
        rows = self.connection.run(
            lambda found, retried: list(found.jobs.aggregate(pipeline))
        )
        return [
            ErrorGroup(row["_id"], row["count"], row["first_seen"], row["last_seen"])
            for row in rows
        ]

    def oldest_pending_at(self, topic: str) -> float | None:
        document = self.connection.run(
            lambda found, retried: found.jobs.find_one(
                {"topic": topic, "status": JobStatus.PENDING.value},
                {"created_at": 1},
                sort=[("_id", ASCENDING)],
            )
        )
        return None if document is None else float(document["created_at"])

    # Workers -------------------------------------------------------------------

    def record_heartbeat(self, worker: WorkerRecord) -> None:
        document = worker_document(worker)
        self.connection.run(
            lambda found, retried: found.workers.replace_one(
                {"_id": worker.id}, document, upsert=True
            )
        )

    def remove_worker(self, worker_id: str) -> None:
        self.connection.run(
            lambda found, retried: found.workers.delete_one({"_id": worker_id})
        )

    def workers(self, *, seen_after: float) -> list[WorkerRecord]:
        documents = self.connection.run(
            lambda found, retried: list(
                found.workers.find({"last_seen": {"$gt": seen_after}}).sort(
                    [("topic", ASCENDING), ("started_at", ASCENDING)]
                )
            )
        )
        return [worker_record(document) for document in documents]

    # Test support ----------------------------------------------------------------

    def drop_database(self) -> None:
        """Delete the whole database of this backend, jobs and workers alike."""
        database = self.connection.database_name
        self.connection.run(
            lambda found, retried: found.jobs.database.client.drop_database(database)
        )


def parse_cursor(cursor: str) -> str:
    if len(cursor) != ID_LENGTH or not all(c in "0123456789abcdef" for c in cursor):
        raise invalid_cursor(cursor)
    return cursor
