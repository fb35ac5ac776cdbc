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

import functools
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from ..errors import JobNotFoundError, StorageError
from ..status import JobStatus
from .base import (
    Backend,
    ErrorGroup,
    JobRecord,
    Outcome,
    RecordPage,
    WorkerRecord,
    merge_counts,
    zero_counts,
)

logger = logging.getLogger(__name__)

DATABASE_NAME = "queue.db"
# A job id is its row's integer primary key, so jobs need no separate id index:
# 41 bits of milliseconds since 2020-01-01 (enough until 2089), then 22 bits
# that start at a random value in each millisecond and count up within it.
ID_EPOCH_MS = 1_577_836_800_000
ID_COUNTER_BITS = 22
MAX_ID_ATTEMPTS = 5
FILE_CHECK_INTERVAL_SECONDS = 1.0
SCHEMA_VERSION = 1
BUSY_TIMEOUT_SECONDS = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    max_retries INTEGER NOT NULL,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    available_at REAL NOT NULL,
    lease_token TEXT,
    lease_expires_at REAL,
    retry_of TEXT,
    signature TEXT
);
-- The claim order, holding pending jobs only so claims never skip other rows.
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (topic, priority DESC, available_at, seq)
    WHERE status = 'pending';
-- Pages of one status, newest first.
CREATE INDEX IF NOT EXISTS jobs_page ON jobs (topic, status, seq);
-- Error groups of failed and dead jobs, read from the index alone.
CREATE INDEX IF NOT EXISTS jobs_signature ON jobs (topic, status, signature, updated_at)
    WHERE status IN ('failed', 'dead');
-- Lease recovery looks only at reserved jobs.
CREATE INDEX IF NOT EXISTS jobs_lease ON jobs (lease_expires_at)
    WHERE status = 'reserved';

CREATE TABLE IF NOT EXISTS job_counts (
    topic TEXT NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (topic, status)
) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS jobs_count_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO job_counts (topic, status, n) VALUES (new.topic, new.status, 1)
    ON CONFLICT (topic, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS jobs_count_update AFTER UPDATE OF status, topic ON jobs
WHEN old.status IS NOT new.status OR old.topic IS NOT new.topic BEGIN
    UPDATE job_counts SET n = n - 1 WHERE topic = old.topic AND status = old.status;
    INSERT INTO job_counts (topic, status, n) VALUES (new.topic, new.status, 1)
    ON CONFLICT (topic, status) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS jobs_count_delete AFTER DELETE ON jobs BEGIN
    UPDATE job_counts SET n = n - 1 WHERE topic = old.topic AND status = old.status;
END;

CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    hostname TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at REAL NOT NULL,
    last_seen REAL NOT NULL,
    current_job TEXT,
    processed INTEGER NOT NULL,
    failed INTEGER NOT NULL
);
"""

_COLUMNS = (
    "seq, topic, payload, status, priority, attempts, max_retries, error, created_at, "
    "updated_at, available_at, lease_token, lease_expires_at, retry_of, signature"
)
_INSERT = (
    f"INSERT INTO jobs ({_COLUMNS}) "
    f"VALUES ({', '.join('?' * (_COLUMNS.count(',') + 1))})"
)

P = ParamSpec("P")
R = TypeVar("R")


def _translate_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Re-raise sqlite3 errors as :class:`StorageError` naming the file."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as exc:
            backend = args[0]
            assert isinstance(backend, FileBackend)
            raise backend.storage_error(exc) from exc

    return wrapper


class FileBackend(Backend):
    """Jobs in one SQLite database file shared by threads and processes."""

    name = "file"

    def __init__(self, directory: Path, *, synchronous: str = "normal") -> None:
        self.directory = Path(directory)
        self.database = self.directory / DATABASE_NAME
        self.synchronous = synchronous.upper()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._id_lock = threading.Lock()
        self._last_seq = 0
        self._connections: list[tuple[int, sqlite3.Connection]] = []

    def __repr__(self) -> str:
        return f"<FileBackend {str(self.database)!r}>"

    # Connections ---------------------------------------------------------------

    def _connection(self, *, create: bool) -> sqlite3.Connection | None:
        # One connection per thread and process: sqlite3 connections must not
        # cross threads, and a connection inherited through fork() would share
        # its locks with the parent.
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == os.getpid():
            if not self._file_replaced():
                return connection
            self._drop_connection(connection)
        if not create and not self.database.exists():
            return None
        if create:
            self._create_directory()

        connection = sqlite3.connect(
            self.database,
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            self._prepare(connection)
        except BaseException:
            connection.close()
            raise
        self._local.connection = connection
        self._local.pid = os.getpid()
        self._local.identity = _file_identity(self.database)
        self._local.next_check = time.monotonic() + FILE_CHECK_INTERVAL_SECONDS
        with self._lock:
            self._connections.append((os.getpid(), connection))
        return connection

    def _file_replaced(self) -> bool:
        # An open connection keeps using a database file that was deleted or
        # moved aside, so a worker would poll a file no other process uses. Checked
        # at most once a second, because os.stat() on every call would show in
        # the push rate.
        now = time.monotonic()
        if now < self._local.next_check:
            return False
        self._local.next_check = now + FILE_CHECK_INTERVAL_SECONDS
        if _file_identity(self.database) == self._local.identity:
            return False
        logger.warning(
            "queue database %s was removed or replaced while open; reopening it",
            self.database,
        )
        return True

    def _drop_connection(self, connection: sqlite3.Connection) -> None:
        with self._lock:
            self._connections = [
                entry for entry in self._connections if entry[1] is not connection
            ]
        connection.close()
        self._local.connection = None

    def _create_directory(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create the queue directory {str(self.directory)!r}: "
                f"{exc.strerror}; create it or set TINA4_QUEUE_PATH to a writable "
                "directory"
            ) from exc

    def _prepare(self, connection: sqlite3.Connection) -> None:
        connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        while True:
            try:
                self._create_schema(connection)
                break
            except sqlite3.OperationalError as exc:
                # Switching to WAL fails at once, without the busy timeout,
                # while another connection is creating the same store. Once
                # that connection is done, the schema exists and this one
                # moves on.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        connection.execute(f"PRAGMA synchronous = {self.synchronous}")

    def _create_schema(self, connection: sqlite3.Connection) -> None:
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"queue database {str(self.database)!r} has schema version "
                f"{version}, newer than this queuedeck's {SCHEMA_VERSION}; "
                "upgrade queuedeck"
            )
        # WAL mode is a property of the file, so it is set once, before the
        # schema, and every later connection inherits it.
        connection.execute("PRAGMA journal_mode = WAL")
        try:
            connection.executescript(
                f"BEGIN IMMEDIATE; {_SCHEMA} "
                f"PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            )
        except BaseException:
            if connection.in_transaction:
                connection.rollback()
            raise

    def storage_error(self, exc: sqlite3.Error) -> StorageError:
        """Return a :class:`StorageError` for *exc* that names the database file."""
        path = str(self.database)
        text = str(exc)
        lowered = text.lower()
        if "readonly" in lowered or "read-only" in lowered:
            hint = "make the directory and its files writable by this user"
        elif "disk is full" in lowered or "disk i/o" in lowered:
            hint = "free disk space on that file system; accepted jobs are kept"
        elif "not a database" in lowered or "malformed" in lowered:
            hint = (
                "the file is corrupted: stop every worker, move it and its -wal and "
                "-shm files aside, then restore a backup or start with an empty queue"
            )
        elif "locked" in lowered or "busy" in lowered:
            hint = (
                "another process held the write lock for over "
                f"{BUSY_TIMEOUT_SECONDS:g} s; check for a stuck process"
            )
        elif "unable to open" in lowered:
            hint = "check that the directory exists and is readable and writable"
        else:
            hint = "see the SQLite error above"
        return StorageError(f"queue database {path!r} failed: {text}; {hint}")

    def close(self) -> None:
        # Connections inherited through fork() are left open: closing one in
        # the child would drop the POSIX locks the child's own connections hold
        # on the same file.
        pid = os.getpid()
        with self._lock:
            connections, self._connections = self._connections, []
        for owner, connection in connections:
            if owner == pid:
                connection.close()
        self._local = threading.local()

    def _write(self) -> sqlite3.Connection:
        connection = self._connection(create=True)
        assert connection is not None
        return connection

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

    @_translate_errors
    def enqueue(self, record: JobRecord) -> None:
        connection = self._write()
        for attempt in range(1, MAX_ID_ATTEMPTS + 1):
            try:
                connection.execute(_INSERT, _record_values(record))
                return
            except sqlite3.IntegrityError:
                # Another process drew the same id in the same millisecond.
                if attempt == MAX_ID_ATTEMPTS:
                    raise
                record.id = self.new_job_id(time.time())

    @_translate_errors
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
            f"WHERE {where} RETURNING {_COLUMNS}",
            (lease_token, lease_expires_at, max_retries, now, *arguments),
        ).fetchone()
        return None if row is None else _record(row)

    @_translate_errors
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

    @_translate_errors
    def extend_lease(self, job_id: str, lease_token: str, expires_at: float) -> bool:
        cursor = self._write().execute(
            "UPDATE jobs SET lease_expires_at = ? "
            "WHERE seq = ? AND lease_token = ? AND status = 'reserved'",
            (expires_at, _job_seq(job_id), lease_token),
        )
        return cursor.rowcount == 1

    @_translate_errors
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

    @_translate_errors
    def requeue(self, topic: str, job_id: str, *, now: float) -> bool:
        connection = self._connection(create=False)
        if connection is None:
            raise JobNotFoundError(f"no job {job_id!r} on topic {topic!r}")
        cursor = connection.execute(
            "UPDATE jobs SET status = 'pending', available_at = ?, updated_at = ? "
            "WHERE seq = ? AND topic = ? AND status IN ('failed', 'dead')",
            (now, now, _job_seq(job_id), topic),
        )
        if cursor.rowcount == 1:
            return True
        if self.get(topic, job_id) is None:
            raise JobNotFoundError(f"no job {job_id!r} on topic {topic!r}")
        return False

    @_translate_errors
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

    @_translate_errors
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

    @_translate_errors
    def purge(
        self, topic: str, statuses: Iterable[JobStatus], *, signature: str | None = None
    ) -> int:
        connection = self._connection(create=False)
        if connection is None:
            return 0
        where, arguments = _status_filter(topic, list(statuses), signature)
        cursor = connection.execute(f"DELETE FROM jobs WHERE {where}", arguments)
        return cursor.rowcount

    @_translate_errors
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

    @_translate_errors
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

    @_translate_errors
    def counts_by_topic(self) -> dict[str, dict[JobStatus, int]]:
        connection = self._connection(create=False)
        if connection is None:
            return {}
        rows = connection.execute(
            "SELECT topic, status, n FROM job_counts ORDER BY topic"
        )
        return merge_counts(rows)

    @_translate_errors
    def topics(self) -> list[str]:
        connection = self._connection(create=False)
        if connection is None:
            return []
        rows = connection.execute(
            "SELECT DISTINCT topic FROM job_counts ORDER BY topic"
        )
        return [topic for (topic,) in rows]

    @_translate_errors
    def get(self, topic: str | None, job_id: str) -> JobRecord | None:
        connection = self._connection(create=False)
        if connection is None:
            return None
        row = connection.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE seq = ?", (_job_seq(job_id),)
        ).fetchone()
        if row is None:
            return None
        record = _record(row)
        if topic is not None and record.topic != topic:
            return None
        return record

    @_translate_errors
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
            f"SELECT {_COLUMNS} FROM jobs WHERE {' AND '.join(clauses)} "
            "ORDER BY seq DESC LIMIT ?",
            (*arguments, limit + 1),
        ).fetchall()
        records = [_record(row) for row in rows[:limit]]
        next_cursor = str(rows[limit - 1][0]) if len(rows) > limit else None
        return RecordPage(records, next_cursor)

    @_translate_errors
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

    @_translate_errors
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

    @_translate_errors
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

    @_translate_errors
    def remove_worker(self, worker_id: str) -> None:
        connection = self._connection(create=False)
        if connection is not None:
            connection.execute("DELETE FROM workers WHERE id = ?", (worker_id,))

    @_translate_errors
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


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return (status.st_dev, status.st_ino)


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
        return int(cursor)
    except ValueError:
        raise ValueError(
            f"invalid page cursor {cursor!r}; pass the next_cursor of a previous page"
        ) from None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
