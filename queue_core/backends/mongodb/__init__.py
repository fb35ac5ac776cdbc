"""The MongoDB backend: jobs as documents in one collection, through pymongo.

Supports every queue operation. ``TINA4_QUEUE_URL`` is a MongoDB connection
string whose path names the database, for example
``mongodb://user:password@host:27017/queuedeck``. The database contains three
collections: ``queuedeck_jobs`` (one document per job), ``queuedeck_workers``
(one per worker heartbeat) and ``queuedeck_topics`` (every topic that has held
a job). Indexes are created on first use.

Every state change is one single-document write whose filter restates the
state it expects, so the server applies it atomically: a claim is a
``find_one_and_update`` on a pending, due job, and a settle matches the job's
lease token. Lease recovery is one ``update_many`` with an update pipeline, so
each expired job moves to pending or dead by its own ``max_retries``. Needs
MongoDB 6.0 or newer.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import random
import threading
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import bson
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from ...errors import BackendError, JobNotFoundError, PayloadTooLargeError
from ...limits import MAX_ERROR_CHARACTERS
from ...status import JobStatus
from ..base import (
    JobRecord,
    Outcome,
)
from .connection import Collections, Connection, redact, with_database
from .documents import (
    FAILED_OR_DEAD,
    ID_LENGTH,
    JOB_INDEXES,
    WORKER_INDEXES,
    Document,
    job_document,
    job_record,
    status_filter,
)
from .reads import Reads

if TYPE_CHECKING:
    from ...settings import Settings

logger = logging.getLogger(__name__)

# A job id is 32 hex digits: 48 bits of milliseconds since 1970, then 80 bits
# that start at a random value and only grow within one process. So ids sort
# by creation time, and one process's jobs keep FIFO order within a
# millisecond.
ID_RANDOM_BITS = 80
MAX_ID_ATTEMPTS = 5
# The fields that stamp jobs with the token of the bulk update that changed
# them last, and of the purge that is about to delete them.
OPERATION = "operation"
PURGE = "purge"
# MongoDB stores documents of at most 16 MiB. A pushed job leaves room for
# the longest error text that fail() stores (MAX_ERROR_CHARACTERS characters
# of up to 4 bytes each) and its signature.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
ERROR_ROOM_BYTES = 2 * 4 * MAX_ERROR_CHARACTERS + 4096
MAX_PUSHED_DOCUMENT_BYTES = MAX_DOCUMENT_BYTES - ERROR_ROOM_BYTES
# A round figure for TINA4_QUEUE_MAX_PAYLOAD_BYTES that always fits.
MAX_PAYLOAD_BYTES = 15 * 1024 * 1024
CLAIM_SORT = [("priority", DESCENDING), ("available_at", ASCENDING), ("_id", ASCENDING)]


class MongoDBBackend(Reads):
    """Jobs in a MongoDB database shared by any number of processes and hosts."""

    name = "mongodb"

    def __init__(self, url: str, **options: Any) -> None:
        self.connection = Connection(url, **options)
        self.connection.on_connect(_create_indexes)
        self._id_lock = threading.Lock()
        self._last_seq = 0
        self._known_topics: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> MongoDBBackend:
        """Return a backend for ``settings.url``."""
        assert settings.url is not None
        return cls(settings.url)

    def __repr__(self) -> str:
        return f"<MongoDBBackend {self.connection.shown_url!r}>"

    def close(self) -> None:
        self.connection.close()

    # Writing -------------------------------------------------------------------

    def new_job_id(self, now: float) -> str:
        millis = int(now * 1000)
        with self._id_lock:
            seq = (millis << ID_RANDOM_BITS) | random.getrandbits(ID_RANDOM_BITS - 1)
            seq = max(seq, self._last_seq + 1)
            self._last_seq = seq
        return f"{seq:0{ID_LENGTH}x}"

    def enqueue(self, record: JobRecord) -> None:
        _check_document_size(job_document(record))
        self._register_topic(record.topic, record.created_at)
        for attempt in range(1, MAX_ID_ATTEMPTS + 1):
            document = job_document(record)
            if self.connection.run(functools.partial(_insert, document)):
                return
            # Another process drew the same id in the same millisecond.
            if attempt == MAX_ID_ATTEMPTS:
                raise BackendError(
                    f"job id {record.id!r} collided {attempt} times; "
                    "check that the host clocks are right"
                )
            record.id = self.new_job_id(time.time())

    def _register_topic(self, topic: str, now: float) -> None:
        # One upsert per topic and process keeps topics() listing a topic
        # after its jobs are purged, as the file backend does.
        if topic in self._known_topics:
            return

        def upsert(found: Collections, retried: bool) -> None:
            # A concurrent upsert of the same topic may win the insert.
            with contextlib.suppress(DuplicateKeyError):
                found.topics.update_one(
                    {"_id": topic}, {"$setOnInsert": {"created_at": now}}, upsert=True
                )

        self.connection.run(upsert)
        self._known_topics.add(topic)

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
        query: Document = {
            "topic": topic,
            "status": JobStatus.PENDING.value,
            "available_at": {"$lte": now},
        }
        if job_id is not None:
            query["_id"] = job_id
        update = {
            "$set": {
                "status": JobStatus.RESERVED.value,
                "lease_token": lease_token,
                "lease_expires_at": lease_expires_at,
                "max_retries": max_retries,
                "updated_at": now,
            }
        }

        def claim_one(found: Collections, retried: bool) -> Document | None:
            if retried:
                # The lost try may have reserved a job under this token.
                reserved = found.jobs.find_one(
                    {
                        "status": JobStatus.RESERVED.value,
                        "lease_expires_at": lease_expires_at,
                        "lease_token": lease_token,
                    }
                )
                if reserved is not None:
                    return reserved
            return found.jobs.find_one_and_update(
                query,
                update,
                sort=CLAIM_SORT,
                return_document=ReturnDocument.AFTER,
            )

        document = self.connection.run(claim_one)
        return None if document is None else job_record(document)

    def settle(
        self, job_id: str, lease_token: str, outcome: Outcome, *, now: float
    ) -> bool:
        values = {
            "status": outcome.status.value,
            "attempts": outcome.attempts,
            "error": outcome.error,
            "signature": outcome.signature,
            "available_at": outcome.available_at,
            "updated_at": now,
            "lease_token": None,
            "lease_expires_at": None,
        }

        def settle_one(found: Collections, retried: bool) -> bool:
            result = found.jobs.update_one(
                {
                    "_id": job_id,
                    "lease_token": lease_token,
                    "status": JobStatus.RESERVED.value,
                },
                {"$set": values},
            )
            if result.matched_count == 1:
                return True
            # The lost try may have been applied: the job then shows this
            # outcome stamped with this call's time.
            return retried and _stamped(found, job_id, outcome.status, now)

        return self.connection.run(settle_one)

    def extend_lease(self, job_id: str, lease_token: str, expires_at: float) -> bool:
        def extend(found: Collections, retried: bool) -> bool:
            result = found.jobs.update_one(
                {
                    "_id": job_id,
                    "lease_token": lease_token,
                    "status": JobStatus.RESERVED.value,
                },
                {"$set": {"lease_expires_at": expires_at}},
            )
            return result.matched_count == 1

        return self.connection.run(extend)

    def recover_expired(self, *, now: float, error: str, signature: str) -> int:
        next_attempts = {"$add": ["$attempts", 1]}
        # One update pipeline moves every expired job in one pass; each job's
        # new status depends on its own attempts and max_retries.
        fields: Document = {
            "status": {
                "$cond": [
                    {"$gte": [next_attempts, "$max_retries"]},
                    JobStatus.DEAD.value,
                    JobStatus.PENDING.value,
                ]
            },
            "attempts": next_attempts,
            # $literal keeps a "$" at the start of the text from
            # being read as a field path.
            "error": {"$literal": error},
            "signature": {"$literal": signature},
            "updated_at": now,
            "available_at": now,
            "lease_token": None,
            "lease_expires_at": None,
        }
        query = {
            "status": JobStatus.RESERVED.value,
            "lease_expires_at": {"$lt": now},
        }
        return self._update_all(query, fields)

    def requeue(
        self, topic: str, job_id: str, *, now: float, payload: str | None = None
    ) -> bool:
        fields = _pending_fields(now)
        if payload is not None:
            fields["payload"] = payload

        def requeue_one(found: Collections, retried: bool) -> bool:
            result = found.jobs.update_one(
                {
                    "_id": job_id,
                    "topic": topic,
                    "status": {"$in": [status.value for status in FAILED_OR_DEAD]},
                },
                {"$set": fields},
            )
            if result.matched_count == 1:
                return True
            # The lost try may have been applied: the job is then pending,
            # stamped with this call's time.
            return retried and _stamped(found, job_id, JobStatus.PENDING, now)

        if self.connection.run(requeue_one):
            return True
        if self.get(topic, job_id) is None:
            raise JobNotFoundError(f"no job {job_id!r} on topic {topic!r}")
        return False

    def requeue_failed(self, topic: str, *, now: float) -> int:
        query = {
            "topic": topic,
            "status": JobStatus.FAILED.value,
            "$expr": {"$lt": ["$attempts", "$max_retries"]},
        }
        return self._update_all(query, _pending_fields(now))

    def requeue_all(
        self,
        topic: str,
        statuses: Iterable[JobStatus],
        *,
        now: float,
        signature: str | None = None,
    ) -> int:
        movable = [status for status in statuses if status in FAILED_OR_DEAD]
        if not movable:
            return 0
        query = status_filter(topic, movable, signature)
        return self._update_all(query, _pending_fields(now))

    def purge(
        self, topic: str, statuses: Iterable[JobStatus], *, signature: str | None = None
    ) -> int:
        query = status_filter(topic, statuses, signature)
        # The purge marks its jobs first, so that after a lost delete reply
        # it can count the marked jobs that are gone. A marked job that a
        # worker claims or an operator retries in between no longer matches
        # and stays.
        token = uuid.uuid4().hex
        marked: list[int] = []
        delete_sent: list[bool] = []

        def purge_marked(found: Collections, retried: bool) -> int:
            if not marked:
                found.jobs.update_many(query, {"$set": {PURGE: token}})
                marked.append(found.jobs.count_documents({PURGE: token}))
            lost_delete = bool(delete_sent)
            delete_sent.append(True)
            deleted = found.jobs.delete_many({**query, PURGE: token}).deleted_count
            if not lost_delete:
                return deleted
            # NOTE: a second purge that marks the same jobs before this one
            # deletes them makes this count too low.
            return marked[0] - found.jobs.count_documents({PURGE: token})

        return self.connection.run(purge_marked)

    def _update_all(self, query: Document, fields: Document) -> int:
        """Set *fields* on every job matching *query*; return how many changed.

        Each call stamps the jobs it changes with its own token, so a retry
        after a lost reply still counts the jobs the lost try changed.
        """
        token = uuid.uuid4().hex
        pipeline = [{"$set": {**fields, OPERATION: token}}]

        def update(found: Collections, retried: bool) -> int:
            result = found.jobs.update_many(query, pipeline)
            if not retried:
                return result.modified_count
            # NOTE: no index covers the token; this scan runs only after a
            # lost reply.
            return found.jobs.count_documents({OPERATION: token})

        return self.connection.run(update)

    def delete(self, topic: str, job_id: str) -> bool:
        query = {
            "_id": job_id,
            "topic": topic,
            "status": {"$ne": JobStatus.RESERVED.value},
        }

        def delete_one(found: Collections, retried: bool) -> bool:
            if found.jobs.delete_one(query).deleted_count == 1:
                return True
            # The lost try may have deleted the job. A job that is gone is
            # reported deleted, even if another process deleted it first.
            return retried and found.jobs.count_documents({"_id": job_id}) == 0

        return self.connection.run(delete_one)


def _check_document_size(document: Document) -> None:
    size = len(bson.encode(document))
    if size > MAX_PUSHED_DOCUMENT_BYTES:
        raise PayloadTooLargeError(
            f"job document is {size} bytes, over the {MAX_PUSHED_DOCUMENT_BYTES} "
            f"bytes that MongoDB's {MAX_DOCUMENT_BYTES}-byte document limit leaves "
            "after room for a failure's error text; push a smaller payload and "
            f"set TINA4_QUEUE_MAX_PAYLOAD_BYTES to at most {MAX_PAYLOAD_BYTES}"
        )


def _create_indexes(found: Collections) -> None:
    # create_indexes() is a no-op for indexes that exist with the same keys
    # and options, so every new client may run it.
    found.jobs.create_indexes(JOB_INDEXES)
    found.workers.create_indexes(WORKER_INDEXES)


def _insert(document: Document, found: Collections, retried: bool) -> bool:
    """Insert a job document; return ``False`` if its id is taken."""
    try:
        found.jobs.insert_one(document)
    except DuplicateKeyError:
        # After a lost try, the stored job may be this one.
        return retried and _same_job(found, document)
    return True


def _same_job(found: Collections, document: Document) -> bool:
    stored = found.jobs.find_one({"_id": document["_id"]})
    return stored is not None and all(
        stored.get(name) == document[name]
        for name in ("topic", "payload", "created_at")
    )


def _pending_fields(now: float) -> Document:
    return {
        "status": JobStatus.PENDING.value,
        "available_at": now,
        "updated_at": now,
    }


def _stamped(found: Collections, job_id: str, status: JobStatus, now: float) -> bool:
    """Return whether job *job_id* has *status*, set by a write at *now*."""
    stored = found.jobs.find_one({"_id": job_id}, {"status": 1, "updated_at": 1})
    return (
        stored is not None
        and stored["status"] == status.value
        and stored["updated_at"] == now
    )


__all__ = ["MongoDBBackend", "redact", "with_database"]
