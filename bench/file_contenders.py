"""The four queues the file backend benchmark compares, behind one small interface.

Every contender gets the same payload dict, serializes it the way its library
does, and hands a decoded dict back from ``pop_complete``. Each contender keeps
its database in the directory it is given; the caller owns that directory.

- ``queue_core``: this project's file backend through the public ``Queue`` API.
- ``raw-sqlite3``: the file backend's own schema and SQL run directly through
  sqlite3 with the same pragmas. It is the ceiling for ``queue_core``, because
  it does the same storage work without the Python layers above it.
- ``persist-queue``: ``persistqueue.SQLiteAckQueue``, ack = complete.
- ``litequeue``: ``LiteQueue``, ``put`` / ``pop`` / ``done``.
"""

from __future__ import annotations

import abc
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import litequeue
import persistqueue
import persistqueue.serializers.pickle
from persistqueue.sqlackqueue import AckStatus

from queue_core import Queue, Settings
from queue_core.backends.file import BUSY_TIMEOUT_SECONDS, DATABASE_NAME

TOPIC = "bench"
MAX_RETRIES = 3
VISIBILITY_TIMEOUT_SECONDS = 300.0
# Rows per executemany() call while bulk filling, to bound memory.
FILL_CHUNK_ROWS = 50_000


def make_payload(size: int = 100) -> dict[str, Any]:
    """Return a payload dict whose compact JSON encoding is exactly *size* bytes."""
    payload: dict[str, Any] = {"kind": "email", "to": "user@example.com", "body": ""}
    padding = size - len(encode_json(payload))
    if padding < 0:
        raise ValueError(f"payload size must be at least {size - padding} bytes")
    payload["body"] = "x" * padding
    return payload


def encode_json(payload: dict[str, Any]) -> str:
    """Return *payload* as compact JSON, the encoding queue_core stores."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


class Contender(abc.ABC):
    """One queue implementation under test, storing its data in *directory*."""

    name: ClassVar[str]
    # Benchmark name -> why this contender cannot run it.
    unsupported: ClassVar[dict[str, str]] = {}
    # What counts() measures when it is less than a count of every status.
    counts_note: ClassVar[str | None] = None

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @abc.abstractmethod
    def push(self, payload: dict[str, Any]) -> str:
        """Add one pending job and return its id."""

    @abc.abstractmethod
    def pop_complete(self) -> str | None:
        """Claim the next job, decode its payload, mark it done and return its id.

        Returns ``None`` when no job is pending.
        """

    @abc.abstractmethod
    def fill(self, count: int, payload: dict[str, Any]) -> None:
        """Insert *count* pending jobs with plain sqlite3 in one transaction.

        This is benchmark setup, not a library operation: it writes rows of the
        library's own schema directly, which is much faster than *count* pushes.
        """

    @abc.abstractmethod
    def remaining_ids(self) -> set[str]:
        """Return the ids of jobs still pending or claimed, to check a drain."""

    def counts(self) -> object:
        """Return the number of jobs per status, as the library reports it."""
        raise NotImplementedError(self.unsupported.get("counts", "not supported"))

    def counts_by_topic(self) -> object:
        """Return the per-status counts of every topic in one call."""
        raise NotImplementedError(
            self.unsupported.get("counts_by_topic", "not supported")
        )

    @abc.abstractmethod
    def close(self) -> None:
        """Close the contender's database connections."""


# queue_core ----------------------------------------------------------------------


class QueueCore(Contender):
    """This project's file backend through ``queue_core.Queue``."""

    name = "queue_core"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        settings = Settings(
            path=directory, visibility_timeout=VISIBILITY_TIMEOUT_SECONDS
        )
        self.queue = Queue(TOPIC, max_retries=MAX_RETRIES, settings=settings)

    def push(self, payload: dict[str, Any]) -> str:
        return self.queue.push(payload)

    def pop_complete(self) -> str | None:
        job = self.queue.pop()
        if job is None:
            return None
        if not job.complete():
            raise RuntimeError(f"queue_core lost the lease of job {job.id}")
        return job.id

    def fill(self, count: int, payload: dict[str, Any]) -> None:
        # The first push creates the database and its schema.
        self.push(payload)
        fill_file_schema(self.directory / DATABASE_NAME, count - 1, payload)

    def remaining_ids(self) -> set[str]:
        ids: set[str] = set()
        for status in ("pending", "reserved"):
            cursor: str | None = None
            while True:
                page = self.queue.jobs(status, limit=1000, cursor=cursor)
                ids.update(job.id for job in page)
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
        return ids

    def counts(self) -> object:
        return self.queue.counts()

    def counts_by_topic(self) -> object:
        return self.queue.counts_by_topic()

    def close(self) -> None:
        self.queue.close()


# The columns a new job sets. Every other column of the file backend's jobs
# table is nullable and starts as NULL.
# The job's id is its integer primary key, which SQLite assigns here.
_FILE_INSERT = (
    "INSERT INTO jobs (topic, payload, status, priority, attempts, max_retries, "
    "created_at, updated_at, available_at) "
    "VALUES (?, ?, 'pending', 0, 0, ?, ?, ?, ?)"
)


def fill_file_schema(database: Path, count: int, payload: dict[str, Any]) -> None:
    """Insert *count* pending jobs into an existing file backend database."""
    text = encode_json(payload)
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        for chunk in _chunks(_file_rows(count, text)):
            connection.executemany(_FILE_INSERT, chunk)
        connection.execute("COMMIT")
        checkpoint(connection)
    finally:
        connection.close()


def _file_rows(count: int, text: str) -> Iterator[tuple[Any, ...]]:
    start = time.time()
    for index in range(count):
        # Distinct, increasing times keep the claim order equal to insert order.
        at = start + index * 1e-6
        yield (TOPIC, text, MAX_RETRIES, at, at, at)


def checkpoint(connection: sqlite3.Connection) -> None:
    """Copy the WAL into the database file and truncate it after a bulk fill.

    Otherwise the first timed commit would pay for checkpointing the whole
    fill transaction.
    """
    busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:
        raise RuntimeError("the WAL checkpoint after the bulk fill was blocked")


def _chunks(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    chunk: list[tuple[Any, ...]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == FILL_CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# raw sqlite3 ---------------------------------------------------------------------

_RAW_CLAIM = (
    "UPDATE jobs SET status = 'reserved', lease_token = ?, lease_expires_at = ?, "
    "max_retries = ?, updated_at = ? "
    "WHERE seq = (SELECT seq FROM jobs "
    "WHERE topic = ? AND status = 'pending' AND available_at <= ? "
    "ORDER BY priority DESC, available_at, seq LIMIT 1) "
    "RETURNING seq, payload, attempts, *"
)
_RAW_COMPLETE = (
    "UPDATE jobs SET status = 'completed', attempts = ?, error = NULL, "
    "available_at = ?, updated_at = ?, lease_token = NULL, lease_expires_at = NULL "
    "WHERE seq = ? AND lease_token = ? AND status = 'reserved'"
)


class RawSqlite(Contender):
    """The file backend's database driven directly through sqlite3.

    queue_core creates the database, so the schema, indexes and count
    triggers are the file backend's. The connection uses the same pragmas
    (WAL, ``synchronous=NORMAL``, autocommit, 30 s busy timeout), and the
    statements are the same kind: one INSERT per push, the same ``UPDATE ...
    RETURNING`` claim and the same lease-guarded complete. It still does the
    per-job work every queue needs: an id, a lease token, and the JSON
    encoding and decoding of the payload.
    """

    name = "raw-sqlite3"

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.database = directory / DATABASE_NAME
        if not self.database.exists():
            _create_file_database(directory)
        self.connection = sqlite3.connect(
            self.database, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None
        )
        self.connection.execute("PRAGMA synchronous = NORMAL")

    def push(self, payload: dict[str, Any]) -> str:
        now = time.time()
        cursor = self.connection.execute(
            _FILE_INSERT,
            (TOPIC, encode_json(payload), MAX_RETRIES, now, now, now),
        )
        return str(cursor.lastrowid)

    def pop_complete(self) -> str | None:
        now = time.time()
        token = os.urandom(16).hex()
        row = self.connection.execute(
            _RAW_CLAIM,
            (token, now + VISIBILITY_TIMEOUT_SECONDS, MAX_RETRIES, now, TOPIC, now),
        ).fetchone()
        if row is None:
            return None
        job_id, payload, attempts = row[0], row[1], row[2]
        json.loads(payload)
        done = time.time()
        cursor = self.connection.execute(
            _RAW_COMPLETE, (attempts, done, done, job_id, token)
        )
        if cursor.rowcount != 1:
            raise RuntimeError(f"raw-sqlite3 lost the lease of job {job_id}")
        return str(job_id)

    def fill(self, count: int, payload: dict[str, Any]) -> None:
        fill_file_schema(self.database, count, payload)

    def remaining_ids(self) -> set[str]:
        rows = self.connection.execute(
            "SELECT seq FROM jobs "
            "WHERE topic = ? AND status IN ('pending', 'reserved')",
            (TOPIC,),
        )
        return {str(seq) for (seq,) in rows}

    def counts(self) -> object:
        rows = self.connection.execute(
            "SELECT status, n FROM job_counts WHERE topic = ?", (TOPIC,)
        )
        return dict(rows.fetchall())

    def counts_by_topic(self) -> object:
        result: dict[str, dict[str, int]] = {}
        rows = self.connection.execute(
            "SELECT topic, status, n FROM job_counts ORDER BY topic"
        )
        for topic, status, count in rows:
            result.setdefault(topic, {})[status] = count
        return result

    def close(self) -> None:
        self.connection.close()


def _create_file_database(directory: Path) -> None:
    # A push creates the database with queue_core's current schema. The job
    # is deleted again, so the benchmark starts from an empty queue.
    settings = Settings(path=directory)
    with Queue(TOPIC, settings=settings) as queue:
        queue.delete(queue.push({}))


# persist-queue -------------------------------------------------------------------


class PersistQueue(Contender):
    """``persistqueue.SQLiteAckQueue`` with ``auto_commit=True``.

    ``multithreading=True`` as its README recommends for use from several
    threads, which gives put and get separate connections. persist-queue 1.1.0
    enables WAL but keeps SQLite's default ``synchronous=FULL``, which fsyncs
    the WAL on every commit. Both connections are switched to ``NORMAL`` here,
    so all four contenders run at the same durability level.
    """

    name = "persist-queue"
    counts_note = "4 COUNT queries, pending not included"
    unsupported: ClassVar[dict[str, str]] = {
        "counts_by_topic": (
            "each queue name is a separate table and no call counts across them"
        ),
        "drain": (
            "get() runs a SELECT and then a separate UPDATE, serialized only by "
            "a threading.Lock inside one process, so two processes can claim "
            "the same row, and its README promises thread safety only"
        ),
    }

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.queue = self._open()

    def _open(self) -> persistqueue.SQLiteAckQueue:
        queue = persistqueue.SQLiteAckQueue(
            str(self.directory), auto_commit=True, multithreading=True
        )
        for connection in (queue._putter, queue._getter):
            connection.execute("PRAGMA synchronous = NORMAL")
        return queue

    def push(self, payload: dict[str, Any]) -> str:
        return str(self.queue.put(payload))

    def pop_complete(self) -> str | None:
        try:
            item = self.queue.get(block=False, raw=True)
        except persistqueue.Empty:
            return None
        self.queue.ack(id=item["pqid"])
        return str(item["pqid"])

    def fill(self, count: int, payload: dict[str, Any]) -> None:
        # The same bytes and status ("inited") that put() stores.
        data = persistqueue.serializers.pickle.dumps(payload)
        table = self.queue._table_name
        self.close()
        connection = sqlite3.connect(self.directory / "data.db", isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            start = time.time()
            rows = ((data, start + index * 1e-6) for index in range(count))
            connection.executemany(
                f"INSERT INTO {table} (data, timestamp, status) "
                f"VALUES (?, ?, {AckStatus.inited})",
                rows,
            )
            connection.execute("COMMIT")
            checkpoint(connection)
        finally:
            connection.close()
        # The queue caches its size when it opens, so reopen it after the fill.
        self.queue = self._open()

    def remaining_ids(self) -> set[str]:
        table = self.queue._table_name
        rows = self.queue._getter.execute(
            f"SELECT _id FROM {table} WHERE status IN (?, ?, ?)",
            (AckStatus.inited, AckStatus.ready, AckStatus.unack),
        )
        return {str(key) for (key,) in rows}

    def counts(self) -> object:
        # NOTE: pushed jobs have status "inited", which none of the public
        # *_count() methods counts. The pending number is only qsize(), an
        # in-process counter that other processes' pushes never change.
        return {
            "ready": self.queue.ready_count(),
            "unack": self.queue.unack_count(),
            "acked": self.queue.acked_count(),
            "ack_failed": self.queue.ack_failed_count(),
        }

    def close(self) -> None:
        self.queue.close()


# litequeue -----------------------------------------------------------------------


class LiteQueue(Contender):
    """``litequeue.LiteQueue``: ``put``, ``pop`` and ``done``.

    It sets WAL and ``synchronous=NORMAL`` itself and claims with ``BEGIN
    IMMEDIATE`` plus ``UPDATE ... RETURNING``, so several processes may share
    one database. The connection timeout is raised from sqlite3's 5 s default
    to the file backend's 30 s busy timeout.
    """

    name = "litequeue"
    counts_note = "qsize() only"
    unsupported: ClassVar[dict[str, str]] = {
        "counts_by_topic": (
            "each queue name is a separate table and no call counts across them"
        ),
    }

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.queue = litequeue.LiteQueue(
            str(directory / "litequeue.db"), timeout=BUSY_TIMEOUT_SECONDS
        )

    def push(self, payload: dict[str, Any]) -> str:
        return self.queue.put(encode_json(payload)).message_id

    def pop_complete(self) -> str | None:
        message = self.queue.pop()
        if message is None:
            return None
        json.loads(message.data)
        self.queue.done(message.message_id)
        return message.message_id

    def fill(self, count: int, payload: dict[str, Any]) -> None:
        text = encode_json(payload)
        connection = self.queue.conn
        connection.execute("BEGIN IMMEDIATE")
        for chunk in _chunks(_litequeue_rows(count, text)):
            connection.executemany(
                f"INSERT INTO {self.queue.table} "
                "(data, message_id, status, in_time, lock_time, done_time) "
                f"VALUES (?, ?, {litequeue.MessageStatus.READY.value}, ?, NULL, NULL)",
                chunk,
            )
        connection.execute("COMMIT")
        checkpoint(connection)

    def remaining_ids(self) -> set[str]:
        ready = litequeue.MessageStatus.READY.value
        locked = litequeue.MessageStatus.LOCKED.value
        rows = self.queue.conn.execute(
            f"SELECT message_id FROM {self.queue.table} WHERE status IN (?, ?)",
            (ready, locked),
        )
        return {message_id for (message_id,) in rows}

    def counts(self) -> object:
        # NOTE: qsize() is the only count litequeue 0.9 offers: ready plus locked
        # messages, in one COUNT(*) query.
        return self.queue.qsize()

    def close(self) -> None:
        self.queue.close()


def _litequeue_rows(count: int, text: str) -> Iterator[tuple[Any, ...]]:
    # put() orders messages by a uuid7 id, so the fill makes ids the same way.
    for _ in range(count):
        yield (text, litequeue.uuid7(), time.time_ns())


CONTENDERS: dict[str, type[Contender]] = {
    contender.name: contender
    for contender in (QueueCore, RawSqlite, PersistQueue, LiteQueue)
}


def open_contender(name: str, directory: Path) -> Contender:
    """Return a new contender *name* that keeps its database in *directory*."""
    return CONTENDERS[name](directory)
