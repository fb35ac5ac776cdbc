"""The triage store: a SQLite file of the console's own, beside the history.

It contains what the queue backends do not keep: the audit log of operator
actions, the error of each failed attempt seen before a retry, the links of
jobs sent to another topic, payload revisions and bulk retry runs. Several
processes may share one file (gunicorn workers, the ``queuedeck`` command);
every write is one statement, so SQLite's file lock makes each atomic.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from queue_core import Settings

from ..history import console_store_path

#: The largest row id SQLite stores; a larger Python int raises OverflowError.
MAX_ROW_ID = 2**63 - 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    topic TEXT,
    scope TEXT NOT NULL,
    count INTEGER NOT NULL,
    job_ids TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX IF NOT EXISTS audit_topic ON audit (topic, id);
-- One failed attempt of a job, recorded before an operator acts on the job.
CREATE TABLE IF NOT EXISTS attempts (
    job_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    topic TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    failed_at REAL NOT NULL,
    recorded_at REAL NOT NULL,
    PRIMARY KEY (job_id, attempt)
) WITHOUT ROWID;
-- A job created by sending the failed or dead job source_id to a topic.
CREATE TABLE IF NOT EXISTS links (
    job_id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    source_id TEXT NOT NULL,
    source_topic TEXT NOT NULL,
    at REAL NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS links_source ON links (source_id);
-- A payload edit: the payload before and after, applied by a retry.
CREATE TABLE IF NOT EXISTS revisions (
    id INTEGER PRIMARY KEY,
    job_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    before TEXT NOT NULL,
    after TEXT NOT NULL,
    undo_of INTEGER
);
CREATE INDEX IF NOT EXISTS revisions_job ON revisions (job_id, id);
-- A rate-limited bulk retry of one status or error group of a topic.
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    status TEXT NOT NULL,
    signature TEXT,
    rate REAL NOT NULL,
    threshold REAL NOT NULL,
    min_sample INTEGER NOT NULL,
    state TEXT NOT NULL,
    total INTEGER NOT NULL,
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    updated_at REAL NOT NULL,
    next_at REAL NOT NULL,
    stop_reason TEXT,
    -- The job id after which the next outcome check continues.
    outcome_cursor TEXT
);
-- Each job a run took, written before its retry is sent ('claimed') and
-- after ('retried' or 'skipped'), with what became of it since.
CREATE TABLE IF NOT EXISTS run_jobs (
    run_id INTEGER NOT NULL,
    job_id TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    state TEXT NOT NULL,
    outcome TEXT,
    at REAL NOT NULL,
    PRIMARY KEY (run_id, job_id)
) WITHOUT ROWID;
-- The retried jobs whose outcome a run still looks up, newest first and by id.
CREATE INDEX IF NOT EXISTS run_jobs_unsettled_at ON run_jobs (run_id, at)
    WHERE state = 'retried' AND outcome IS NULL;
CREATE INDEX IF NOT EXISTS run_jobs_unsettled_id ON run_jobs (run_id, job_id)
    WHERE state = 'retried' AND outcome IS NULL;
-- The process that runs a run, until expires_at unless it renews the lease.
CREATE TABLE IF NOT EXISTS run_leases (
    run_id INTEGER PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at REAL NOT NULL
);
"""

# Columns added after the first release, as (table, column, type). A file
# made before gets them when a process opens it.
ADDED_COLUMNS = (("runs", "outcome_cursor", "TEXT"),)

BUSY_TIMEOUT_SECONDS = 30.0


def triage_path(queue_settings: Settings) -> Path:
    """Return where the triage store of *queue_settings*' queue is kept by default.

    It sits where :func:`dashboard.history.history_path` puts the history,
    with ``triage`` in place of ``history`` in the name: the file backend's
    ``data/queue`` gets ``data/queue-triage.sqlite3``, and a broker backend
    ``data/queuedeck-triage-<backend>.sqlite3`` under the working directory.
    A ``TINA4_QUEUE_PREFIX`` is added to the name.
    """
    return console_store_path(queue_settings, "triage")


class TriageStore:
    """One SQLite connection to the triage file, shared by a process's threads.

    *clock* returns the current Unix time; tests pass their own.
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._lock = threading.RLock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            path,
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._lock:
            self._add_columns()
            self._db.executescript(SCHEMA)

    def _add_columns(self) -> None:
        # Runs before SCHEMA, whose indexes may name the added columns.
        for table, column, kind in ADDED_COLUMNS:
            rows = self._db.execute(f"PRAGMA table_info({table})").fetchall()
            if not rows or any(row[1] == column for row in rows):
                continue
            try:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
            except sqlite3.OperationalError as exc:
                # Another process added it between the check and the change.
                if "duplicate column name" not in str(exc):
                    raise

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def execute(
        self, sql: str, arguments: tuple[object, ...] | list[object] = ()
    ) -> sqlite3.Cursor:
        """Run one statement outside any transaction and return its cursor."""
        with self._lock:
            return self._db.execute(sql, arguments)

    def query(
        self, sql: str, arguments: tuple[object, ...] | list[object] = ()
    ) -> list[tuple[object, ...]]:
        """Run one read and return all its rows."""
        with self._lock:
            return self._db.execute(sql, arguments).fetchall()
