"""The embedded file backend: one SQLite database in WAL mode.

Supports every queue operation with no server. The database lives at
``TINA4_QUEUE_PATH/queue.db`` (default ``data/queue/queue.db``), created on the
first push. Any number of threads and processes on one host can share it:
every state change is a single SQL statement or an ``IMMEDIATE`` transaction,
so SQLite's write lock makes each claim atomic. Network file systems are not
supported, because SQLite's WAL locking needs shared memory on one host.

Durability: ``synchronous=NORMAL`` (the default, ``TINA4_QUEUE_FILE_SYNC``)
survives a crash or ``kill -9`` of any process with no loss, but a power cut or
kernel crash can roll back the transactions committed since the last WAL
checkpoint. ``full`` syncs the WAL on every commit and closes that window at
the cost of one ``fsync`` per push.

Per-status counts are kept in ``job_counts`` by triggers in the same
transaction as each change, so counts are exact and cost one small read at any
queue size.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Iterable
from typing import Any

from ...errors import JobNotFoundError
from ...status import JobStatus
from ..base import (
    ErrorGroup,
    JobRecord,
    Outcome,
    RecordPage,
    WorkerRecord,
    invalid_cursor,
    merge_counts,
    zero_counts,
)
from .store import (
    BUSY_TIMEOUT_SECONDS,
    DATABASE_NAME,
    FILE_CHECK_INTERVAL_SECONDS,
    ID_COUNTER_BITS,
    ID_EPOCH_MS,
    INSERT_JOB,
    JOB_COLUMNS,
    MAX_ID_ATTEMPTS,
    SQLiteStore,
    translate_errors,
)

logger = logging.getLogger(__name__)

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "DATABASE_NAME",
    "FILE_CHECK_INTERVAL_SECONDS",
    "FileBackend",
]


class FileBackend(SQLiteStore):
    """Jobs in one SQLite database file shared by threads and processes."""

    # Writing -------------------------------------------------------------------

    def new_job_id(self, now: float) -> str:
        millis = int(now * 1000) - ID_EPOCH_MS
        with self._id_lock:
            seq = (millis << ID_COUNTER_BITS) | random.getrandbits(ID_COUNTER_BITS - 1)
            # Ids from one process only grow, which keeps its jobs in FIFO
            # order within a millisecond and when the clock steps back.
            seq = max(seq, self._last_seq + 1)
            self._last_seq = seq
        return f"{seq:016x}"

    @translate_errors
    def enqueue(self, record: JobRecord) -> None:
        connection = self._write()
        for attempt in range(1, MAX_ID_ATTEMPTS + 1):
            try:
                connection.execute(INSERT_JOB, _record_values(record))
                return
            except sqlite3.IntegrityError:
                # Another process drew the same id in the same millisecond.
                if attempt == MAX_ID_ATTEMPTS:
                    raise
                record.id = self.new_job_id(time.time())

    @translate_errors
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
        if job_id is None:
            where = (
                "seq = (SELECT seq FROM jobs "
                "WHERE topic = ? AND status = 'pending' AND available_at <= ? "
                "ORDER BY priority DESC, available_at, seq LIMIT 1)"
            )
            arguments: tuple[Any, ...] = (topic, now)
        else:
            where = "seq = ? AND topic = ? AND status = 'pending' AND available_at <= ?"
            arguments = (_job_seq(job_id), topic, now)
        # Polling an empty queue creates no store; the first push does.
        connection = self._connection(create=False)
        if connection is None:
            return None
        row = connection.execute(
            "UPDATE jobs SET status = 'reserved', lease_token = ?, "
            "lease_expires_at = ?, max_retries = ?, updated_at = ? "
            f"WHERE {where} RETURNING {JOB_COLUMNS}",
            (lease_token, lease_expires_at, max_retries, now, *arguments),
        ).fetchone()
        return None if row is None else _record(row)

    @translate_errors
    def settle(
        self, job_id: str, lease_token: str, outcome: Outcome, *, now: float
    ) -> bool:
        cursor = self._write().execute(
            "UPDATE jobs SET status = ?, attempts = ?, error = ?, signature = ?, "
            "available_at = ?, updated_at = ?, lease_token = NULL, "
            "lease_expires_at = NULL "
            "WHERE seq = ? AND lease_token = ? AND status = 'reserved'",
            (
                outcome.status.value,
                outcome.attempts,
                outcome.error,
                outcome.signature,
                outcome.available_at,
                now,
                _job_seq(job_id),
                lease_token,
            ),
        )
        return cursor.rowcount == 1

    @translate_errors
    def extend_lease(self, job_id: str, lease_token: str, expires_at: float) -> bool:
        cursor = self._write().execute(
            "UPDATE jobs SET lease_expires_at = ? "
            "WHERE seq = ? AND lease_token = ? AND status = 'reserved'",
            (expires_at, _job_seq(job_id), lease_token),
        )
        return cursor.rowcount == 1

    @translate_errors
    def recover_expired(self, *, now: float, error: str, signature: str) -> int:
        connection = self._connection(create=False)
        if connection is None:
            return 0
        cursor = connection.execute(
            "UPDATE jobs SET attempts = attempts + 1, error = ?, signature = ?, "
            "updated_at = ?, "
            "available_at = ?, lease_token = NULL, lease_expires_at = NULL, "
            "status = CASE WHEN attempts + 1 >= max_retries "
            "THEN 'dead' ELSE 'pending' END "
            "WHERE status = 'reserved' AND lease_expires_at < ?",
            (error, signature, now, now, now),
        )
        return cursor.rowcount

    @translate_errors
    def requeue(
        self, topic: str, job_id: str, *, now: float, payload: str | None = None
    ) -> bool:
        connection = self._connection(create=False)
        if connection is None:
            raise JobNotFoundError(f"no job {job_id!r} on topic {topic!r}")
        cursor = connection.execute(
            "UPDATE jobs SET status = 'pending', available_at = ?, updated_at = ?, "
            "payload = COALESCE(?, payload) "
            "WHERE seq = ? AND topic = ? AND status IN ('failed', 'dead')",
            (now, now, payload, _job_seq(job_id), topic),
        )
        if cursor.rowcount == 1:
            return True
        if self.get(topic, job_id) is None:
            raise JobNotFoundError(f"no job {job_id!r} on topic {topic!r}")
        return False

    @translate_errors
    def requeue_failed(self, topic: str, *, now: float) -> int:
        connection = self._connection(create=False)
        if connection is None:
            return 0
        cursor = connection.execute(
            "UPDATE jobs SET status = 'pending', available_at = ?, updated_at = ? "
            "WHERE topic = ? AND status = 'failed' AND attempts < max_retries",
            (now, now, topic),
        )
        return cursor.rowcount

    @translate_errors
    def requeue_all(
        self,
        topic: str,
        statuses: Iterable[JobStatus],
        *,
        now: float,
        signature: str | None = None,
    ) -> int:
        connection = self._connection(create=False)
        if connection is None:
            return 0
        movable: list[JobStatus] = [
            status
            for status in statuses
            if status in (JobStatus.FAILED, JobStatus.DEAD)
        ]
        if not movable:
            return 0
        where, arguments = _status_filter(topic, movable, signature)
        cursor = connection.execute(
            "UPDATE jobs SET status = 'pending', available_at = ?, updated_at = ? "
            f"WHERE {where}",
            (now, now, *arguments),
        )
        return cursor.rowcount

    @translate_errors
    def purge(
        self, topic: str, statuses: Iterable[JobStatus], *, signature: str | None = None
    ) -> int:
        connection = self._connection(create=False)
        if connection is None:
            return 0
        where, arguments = _status_filter(topic, list(statuses), signature)
        cursor = connection.execute(f"DELETE FROM jobs WHERE {where}", arguments)
        return cursor.rowcount

    @translate_errors
    def delete(self, topic: str, job_id: str) -> bool:
        connection = self._connection(create=False)
        if connection is None:
            return False
        cursor = connection.execute(
            "DELETE FROM jobs WHERE seq = ? AND topic = ? AND status != 'reserved'",
            (_job_seq(job_id), topic),
        )
        return cursor.rowcount == 1

    # Reading -------------------------------------------------------------------

    @translate_errors
    def counts(self, topic: str) -> dict[JobStatus, int]:
        connection = self._connection(create=False)
        counts = zero_counts()
        if connection is None:
            return counts
        rows = connection.execute(
            "SELECT status, n FROM job_counts WHERE topic = ?", (topic,)
        )
        for status, count in rows:
            counts[JobStatus(status)] = count
        return counts

    @translate_errors
    def counts_by_topic(self) -> dict[str, dict[JobStatus, int]]:
        connection = self._connection(create=False)
        if connection is None:
            return {}
        rows = connection.execute(
            "SELECT topic, status, n FROM job_counts ORDER BY topic"
        )
        return merge_counts(rows)

    @translate_errors
    def topics(self) -> list[str]:
        connection = self._connection(create=False)
        if connection is None:
            return []
        rows = connection.execute(
            "SELECT DISTINCT topic FROM job_counts ORDER BY topic"
        )
        return [topic for (topic,) in rows]

    @translate_errors
    def get(self, topic: str | None, job_id: str) -> JobRecord | None:
        connection = self._connection(create=False)
        if connection is None:
            return None
        row = connection.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE seq = ?", (_job_seq(job_id),)
        ).fetchone()
        if row is None:
            return None
        record = _record(row)
        if topic is not None and record.topic != topic:
            return None
        return record

    @translate_errors
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
        connection = self._connection(create=False)
        if connection is None:
            return RecordPage([], None)
        where, arguments = _status_filter(topic, list(statuses), signature)
        clauses = [where]
        if cursor is not None:
            clauses.append("seq < ?")
            arguments.append(_parse_cursor(cursor))
        if text:
            pattern = "%" + _escape_like(text) + "%"
            clauses.append("(payload LIKE ? ESCAPE '\\' OR error LIKE ? ESCAPE '\\')")
            arguments += [pattern, pattern]

        # One row more than requested shows whether another page follows.
        rows = connection.execute(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE {' AND '.join(clauses)} "
            "ORDER BY seq DESC LIMIT ?",
            (*arguments, limit + 1),
        ).fetchall()
        records = [_record(row) for row in rows[:limit]]
        next_cursor = str(rows[limit - 1][0]) if len(rows) > limit else None
        return RecordPage(records, next_cursor)

    @translate_errors
    def error_groups(
        self, topic: str, statuses: Iterable[JobStatus]
    ) -> list[ErrorGroup]:
        connection = self._connection(create=False)
        if connection is None:
            return []
        where, arguments = _status_filter(topic, list(statuses), None)
        rows = connection.execute(
            "SELECT signature, COUNT(*), MIN(updated_at), MAX(updated_at) FROM jobs "
            f"WHERE {where} AND signature IS NOT NULL AND {_FAILED_OR_DEAD} "
            "GROUP BY signature ORDER BY COUNT(*) DESC, signature",
            arguments,
        )
        return [ErrorGroup(*row) for row in rows]

    @translate_errors
    def oldest_pending_at(self, topic: str) -> float | None:
        connection = self._connection(create=False)
        if connection is None:
            return None
        row = connection.execute(
            "SELECT created_at FROM jobs WHERE topic = ? AND status = 'pending' "
            "ORDER BY seq LIMIT 1",
            (topic,),
        ).fetchone()
        return None if row is None else float(row[0])

    # Workers -------------------------------------------------------------------

    @translate_errors
    def record_heartbeat(self, worker: WorkerRecord) -> None:
        # A heartbeat creates the store, so that a worker started before the
        # first push still shows in the console.
        self._write().execute(
            "INSERT OR REPLACE INTO workers (id, topic, hostname, pid, started_at, "
            "last_seen, current_job, processed, failed) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                worker.id,
                worker.topic,
                worker.hostname,
                worker.pid,
                worker.started_at,
                worker.last_seen,
                worker.current_job,
                worker.processed,
                worker.failed,
            ),
        )

    @translate_errors
    def remove_worker(self, worker_id: str) -> None:
        connection = self._connection(create=False)
        if connection is not None:
            connection.execute("DELETE FROM workers WHERE id = ?", (worker_id,))

    @translate_errors
    def workers(self, *, seen_after: float) -> list[WorkerRecord]:
        connection = self._connection(create=False)
        if connection is None:
            return []
        rows = connection.execute(
            "SELECT id, topic, hostname, pid, started_at, last_seen, current_job, "
            "processed, failed FROM workers WHERE last_seen > ? "
            "ORDER BY topic, started_at",
            (seen_after,),
        )
        return [WorkerRecord(*row) for row in rows]


def _record_values(record: JobRecord) -> tuple[Any, ...]:
    return (
        _job_seq(record.id),
        record.topic,
        record.payload,
        record.status.value,
        record.priority,
        record.attempts,
        record.max_retries,
        record.error,
        record.created_at,
        record.updated_at,
        record.available_at,
        record.lease_token,
        record.lease_expires_at,
        record.retry_of,
        record.signature,
    )


def _record(row: tuple[Any, ...]) -> JobRecord:
    (
        seq,
        topic,
        payload,
        status,
        priority,
        attempts,
        max_retries,
        error,
        created_at,
        updated_at,
        available_at,
        lease_token,
        lease_expires_at,
        retry_of,
        signature,
    ) = row
    return JobRecord(
        id=f"{seq:016x}",
        topic=topic,
        payload=payload,
        status=JobStatus(status),
        priority=priority,
        attempts=attempts,
        max_retries=max_retries,
        error=error,
        created_at=created_at,
        updated_at=updated_at,
        available_at=available_at,
        lease_token=lease_token,
        lease_expires_at=lease_expires_at,
        retry_of=retry_of,
        signature=signature,
    )


# SQLite uses a partial index only when the query repeats the index's WHERE
# term word for word, so queries on error groups include this one.
_FAILED_OR_DEAD = "status IN ('failed', 'dead')"


def _status_filter(
    topic: str, statuses: list[JobStatus], signature: str | None
) -> tuple[str, list[Any]]:
    if set(statuses) == set(JobStatus) and signature is None:
        # Every status: walk the table newest first and stop at a full page,
        # instead of sorting every job of the topic. The unary + keeps SQLite
        # from choosing the (topic, status, seq) index, which would need a sort.
        return "+topic = ?", [topic]

    marks = ", ".join("?" * len(statuses))
    where = f"topic = ? AND status IN ({marks})"
    arguments: list[Any] = [topic, *(status.value for status in statuses)]
    if signature is not None:
        where += f" AND signature = ? AND {_FAILED_OR_DEAD}"
        arguments.append(signature)
    return where, arguments


def _job_seq(job_id: str) -> int:
    # A job id is its row's seq in 16 hex digits; anything else matches no row.
    if len(job_id) != 16:
        return -1
    try:
        return int(job_id, 16)
    except ValueError:
        return -1


def _parse_cursor(cursor: str) -> int:
    try:
        value = int(cursor)
    except ValueError:
        raise invalid_cursor(cursor) from None
    # SQLite rejects integers outside its 64-bit range with OverflowError.
    if not -(2**63) <= value < 2**63:
        raise invalid_cursor(cursor)
    return value


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
