"""Job documents, the filters that select them, and the indexes that serve them.

A job is one document in ``queuedeck_jobs`` whose ``_id`` is the job id, with
one field per :class:`~queue_core.backends.base.JobRecord` attribute. Absent
values are stored as ``null``, so every job document has the same fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel

from ...status import JobStatus
from ..base import JobRecord, WorkerRecord, fold_ascii

Document = dict[str, Any]

PAGE_INDEX = "queuedeck_page"

# Each index is listed with the queries it serves. Equality fields come
# first, then the sort, then ranges, so MongoDB walks each index in order
# and stops at the first match or a full page.
JOB_INDEXES = [
    # claim(): the next pending job of a topic by priority, then due time,
    # then id. Only pending jobs are in it, so a claim never skips over
    # reserved or finished jobs, however many there are.
    IndexModel(
        [
            ("topic", ASCENDING),
            ("priority", DESCENDING),
            ("available_at", ASCENDING),
            ("_id", ASCENDING),
        ],
        name="queuedeck_claim",
        partialFilterExpression={"status": JobStatus.PENDING.value},
    ),
    # page() and search() newest first, counts() and counts_by_topic() as
    # an index-only scan, oldest_pending_at(). A query over several statuses
    # merges one ordered walk per status.
    IndexModel(
        [("topic", ASCENDING), ("status", ASCENDING), ("_id", DESCENDING)],
        name=PAGE_INDEX,
    ),
    # error_groups() read from the index alone, and requeue_all() or purge()
    # of one signature. Jobs that never failed have a null signature and
    # stay out of it.
    IndexModel(
        [
            ("topic", ASCENDING),
            ("status", ASCENDING),
            ("signature", ASCENDING),
            ("updated_at", ASCENDING),
        ],
        name="queuedeck_signature",
        partialFilterExpression={"signature": {"$type": "string"}},
    ),
    # recover_expired(): reserved jobs by lease expiry.
    IndexModel(
        [("lease_expires_at", ASCENDING)],
        name="queuedeck_lease",
        partialFilterExpression={"status": JobStatus.RESERVED.value},
    ),
]

WORKER_INDEXES = [
    # workers(): heartbeats newer than a time.
    IndexModel([("last_seen", ASCENDING)], name="queuedeck_last_seen"),
]

FAILED_OR_DEAD = (JobStatus.FAILED, JobStatus.DEAD)

# A job id is 32 hex digits; see MongoDBBackend.new_job_id.
ID_LENGTH = 32


def job_document(record: JobRecord) -> Document:
    """Return the document stored for *record*."""
    return {
        "_id": record.id,
        "topic": record.topic,
        "payload": record.payload,
        "status": record.status.value,
        "priority": record.priority,
        "attempts": record.attempts,
        "max_retries": record.max_retries,
        "error": record.error,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "available_at": record.available_at,
        "lease_token": record.lease_token,
        "lease_expires_at": record.lease_expires_at,
        "retry_of": record.retry_of,
        "signature": record.signature,
    }


def job_record(document: Document) -> JobRecord:
    """Return the :class:`JobRecord` of a stored job document."""
    return JobRecord(
        id=document["_id"],
        topic=document["topic"],
        payload=document["payload"],
        status=JobStatus(document["status"]),
        priority=document["priority"],
        attempts=document["attempts"],
        max_retries=document["max_retries"],
        error=document.get("error"),
        created_at=document["created_at"],
        updated_at=document["updated_at"],
        available_at=document["available_at"],
        lease_token=document.get("lease_token"),
        lease_expires_at=document.get("lease_expires_at"),
        retry_of=document.get("retry_of"),
        signature=document.get("signature"),
    )


def worker_document(worker: WorkerRecord) -> Document:
    """Return the document stored for the heartbeat *worker*."""
    return {
        "_id": worker.id,
        "topic": worker.topic,
        "hostname": worker.hostname,
        "pid": worker.pid,
        "started_at": worker.started_at,
        "last_seen": worker.last_seen,
        "current_job": worker.current_job,
        "processed": worker.processed,
        "failed": worker.failed,
    }


def worker_record(document: Document) -> WorkerRecord:
    """Return the :class:`WorkerRecord` of a stored heartbeat."""
    return WorkerRecord(
        id=document["_id"],
        topic=document["topic"],
        hostname=document["hostname"],
        pid=document["pid"],
        started_at=document["started_at"],
        last_seen=document["last_seen"],
        current_job=document.get("current_job"),
        processed=document["processed"],
        failed=document["failed"],
    )


def status_filter(
    topic: str, statuses: Iterable[JobStatus], signature: str | None
) -> Document:
    """Return the filter for jobs of *topic* in *statuses*.

    With *signature*, only failed and dead jobs whose error has that
    signature match, as in the file backend.
    """
    selected = list(dict.fromkeys(statuses))
    if signature is not None:
        selected = [status for status in selected if status in FAILED_OR_DEAD]
    query: Document = {
        "topic": topic,
        "status": {"$in": [status.value for status in selected]},
    }
    if signature is not None:
        query["signature"] = signature
    return query


# The maximum length of a regex that text_filter() builds. Servers cap pattern length:
# SecantusDB, the test server, at 1,000 characters, and MongoDB at a few
# thousand bytes or more by version. A longer text uses $indexOfCP instead.
MAX_PATTERN_CHARACTERS = 1000


def text_filter(text: str) -> Document:
    """Return a filter for jobs whose payload or error contains *text*.

    Matching ignores ASCII case only, like SQLite's LIKE in the file backend:
    each ASCII letter becomes a two-letter class, and the regex runs without
    the ``i`` option, which would also fold non-ASCII letters.
    """
    pattern = "".join(_literal(character) for character in text)
    if len(pattern) > MAX_PATTERN_CHARACTERS:
        return _long_text_filter(text)
    return {
        "$or": [
            {"payload": {"$regex": pattern}},
            {"error": {"$regex": pattern}},
        ]
    }


def _long_text_filter(text: str) -> Document:
    # MongoDB's $toLower folds ASCII letters only, like fold_ascii().
    # NOTE: a server whose $toLower also folds other letters misses a long
    # text with upper-case non-ASCII letters; MongoDB does not.
    needle = fold_ascii(text)
    return {
        "$expr": {
            "$or": [
                {"$gte": [{"$indexOfCP": [{"$toLower": f"${name}"}, needle]}, 0]}
                for name in ("payload", "error")
            ]
        }
    }


def _literal(character: str) -> str:
    if character.isascii() and character.isalpha():
        return f"[{character.lower()}{character.upper()}]"
    if character == "\x00":
        # A regex may not contain a NUL byte; PCRE's escape matches one.
        return "\\x00"
    return re.escape(character)
