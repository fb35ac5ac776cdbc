"""The SQLite store under the file backend: schema, connections and errors.

:class:`SQLiteStore` opens one connection per thread and process, creates
the schema on first use, notices a database file that was deleted or
replaced, and turns sqlite3 errors into :class:`StorageError` messages that
name the file and the fix. :class:`FileBackend` runs the queue's operations
on it.
"""

from __future__ import annotations

import fcntl
import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from ...errors import StorageError
from ..base import (
    Backend,
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

JOB_COLUMNS = (
    "seq, topic, payload, status, priority, attempts, max_retries, error, created_at, "
    "updated_at, available_at, lease_token, lease_expires_at, retry_of, signature"
)
INSERT_JOB = (
    f"INSERT INTO jobs ({JOB_COLUMNS}) "
    f"VALUES ({', '.join('?' * (JOB_COLUMNS.count(',') + 1))})"
)

P = ParamSpec("P")
R = TypeVar("R")


def translate_errors(method: Callable[P, R]) -> Callable[P, R]:
    """Re-raise sqlite3 errors as :class:`StorageError` naming the file."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as exc:
            backend = args[0]
            assert isinstance(backend, SQLiteStore)
            raise backend.storage_error(exc) from exc

    return wrapper


class SQLiteStore(Backend):
    """One SQLite database file, shared by threads and processes."""

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
        if not self.database.exists():
            if not create:
                return None
            self._create_directory()
            self._create_database()

        # mode=rw never creates the file: only _create_database() does, after
        # it has cleared what a removed database left behind.
        connection = sqlite3.connect(
            f"{self.database.absolute().as_uri()}?mode=rw",
            uri=True,
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
        self._local.identity = file_identity(self.database)
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
        if file_identity(self.database) == self._local.identity:
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

    def _create_database(self) -> None:
        # A database removed while a process still has it open leaves its
        # -wal and -shm files behind, in use by that process. A new database
        # at the same path would share them with the removed one, and SQLite
        # would mix the two files' pages, corrupting the new database. The
        # directory lock keeps two processes from creating the file at once.
        try:
            directory = os.open(self.directory, os.O_RDONLY)
        except OSError as exc:
            raise self._creation_error(exc) from exc
        try:
            fcntl.flock(directory, fcntl.LOCK_EX)
            if self.database.exists():
                return
            self._set_aside_leftovers()
            self.database.touch()
        except OSError as exc:
            raise self._creation_error(exc) from exc
        finally:
            os.close(directory)

    def _set_aside_leftovers(self) -> None:
        wal = Path(f"{self.database}-wal")
        shm = Path(f"{self.database}-shm")
        if wal.exists() and wal.stat().st_size > 0:
            # The log may hold the last commits of a database that was moved
            # rather than deleted, so it is kept for a manual restore.
            moved_log = Path(f"{wal}.{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
            wal.rename(moved_log)
            logger.warning(
                "queue database %s is missing but its write-ahead log remains; "
                "moved the log to %s and creating an empty database",
                self.database,
                moved_log,
            )
        else:
            wal.unlink(missing_ok=True)
        # The -shm file is only an index of the -wal file, so nothing is lost.
        shm.unlink(missing_ok=True)

    def _creation_error(self, exc: OSError) -> StorageError:
        return StorageError(
            f"cannot create the queue database {str(self.database)!r}: "
            f"{exc.strerror}; make {str(self.directory)!r} writable by this user "
            "or set TINA4_QUEUE_PATH to a writable directory"
        )

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
        elif "disk is full" in lowered:
            hint = "free disk space on that file system; accepted jobs are kept"
        elif "disk i/o" in lowered:
            hint = (
                "the file system failed a read or write: check that the file was "
                "not removed while open, and check the kernel log for device errors"
            )
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


def file_identity(path: Path) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return (status.st_dev, status.st_ino)
