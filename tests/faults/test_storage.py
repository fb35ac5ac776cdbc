"""Storage faults under the file backend: full disk, read-only, corruption, removal.

Each test checks the error (a StorageError naming the database file and the
fix) and, where the fault allows writes to resume, that a push which raised
stored nothing and that every push which returned is still stored.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from queue_core import Queue, Settings, StorageError
from queue_core.backends.file import FILE_CHECK_INTERVAL_SECONDS
from tests.contract.support import assert_counts_match_pages, collect_ids
from tests.test_file_backend import read_only_directory

from . import crash_child

PAYLOAD = {"text": "x" * 200}


def file_queue(store: Path) -> Queue:
    settings = Settings.from_env({"TINA4_QUEUE_PATH": str(store)}, env_file=None)
    return Queue("emails", settings=settings)


def push_until_error(queue: Queue, limit: int = 100_000) -> tuple[list[str], str]:
    """Push until a push raises StorageError; return the ids and the error."""
    ids: list[str] = []
    for _ in range(limit):
        try:
            ids.append(queue.push(PAYLOAD))
        except StorageError as exc:
            return ids, str(exc)
    raise AssertionError(f"{limit} pushes succeeded; the fault never showed")


def stored_ids(queue: Queue) -> list[str]:
    return sorted(collect_ids(queue, "pending", page_size=1000))


def check_integrity(database: Path) -> None:
    connection = sqlite3.connect(database)
    try:
        result = connection.execute("PRAGMA integrity_check").fetchall()
    finally:
        connection.close()
    assert result == [("ok",)], f"integrity_check: {result}"


def test_full_database_keeps_jobs(tmp_path: Path) -> None:
    # PRAGMA max_page_count makes SQLite return SQLITE_FULL once the file
    # would grow past the limit: the same error and code path as a full disk,
    # without a file system that must be mounted. The pragma is set on the
    # connection the queue itself writes with.
    store = tmp_path / "store"
    queue = file_queue(store)
    first = queue.push(PAYLOAD)
    connection = queue.backend._write()  # type: ignore[attr-defined]
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages + 8}")

    ids, error = push_until_error(queue)
    ids.insert(0, first)

    assert str(store / "queue.db") in error
    assert "full" in error
    assert "free disk space" in error
    for _ in range(3):
        with pytest.raises(StorageError):
            queue.push(PAYLOAD)
    assert stored_ids(queue) == sorted(ids)
    assert_counts_match_pages(queue)

    # Space is back: the same queue accepts pushes without a restart.
    connection.execute("PRAGMA max_page_count = 1073741823")
    ids.append(queue.push(PAYLOAD))
    assert stored_ids(queue) == sorted(ids)
    queue.close()
    check_integrity(store / "queue.db")


@contextlib.contextmanager
def small_tmpfs(directory: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of *size* on *directory*; it needs root (CAP_SYS_ADMIN)."""
    directory.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=True)


def test_full_file_system_keeps_jobs(tmp_path: Path) -> None:
    # A real ENOSPC: the queue fills a 512 KiB tmpfs. SQLite writes to the
    # WAL, so a full disk stops claims and settles too, not only pushes.
    with small_tmpfs(tmp_path / "disk", "512k") as disk:
        store = disk / "store"
        queue = file_queue(store)
        ids, error = push_until_error(queue)

        assert ids, "the first push already failed"
        assert str(store / "queue.db") in error
        assert "full" in error
        assert "free disk space" in error
        with pytest.raises(StorageError):
            queue.push(PAYLOAD)
        assert stored_ids(queue) == sorted(ids)
        with pytest.raises(StorageError):
            queue.pop()

        # Growing the file system frees space without touching the queue's
        # files, and the same queue carries on.
        subprocess.run(
            ["mount", "-o", "remount,size=4m", str(disk)], check=True, timeout=30
        )
        ids.append(queue.push(PAYLOAD))
        assert stored_ids(queue) == sorted(ids)
        job = queue.pop()
        assert job is not None
        assert job.complete()
        assert_counts_match_pages(queue)
        queue.close()
        check_integrity(store / "queue.db")


@contextlib.contextmanager
def read_only_file(path: Path) -> Iterator[None]:
    """Make *path* read-only for this process, even when it runs as root.

    Root ignores permission bits, so as root the file gets the immutable
    attribute (``chattr +i``, which needs CAP_LINUX_IMMUTABLE and a file
    system such as ext4, XFS or Btrfs) instead of ``chmod``.
    """
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    chattr = shutil.which("chattr")
    assert chattr is not None, "running as root needs chattr to make a file read-only"
    subprocess.run([chattr, "+i", str(path)], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def test_read_only_file_keeps_jobs(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with file_queue(store) as queue:
        ids = [queue.push(PAYLOAD) for _ in range(3)]
    database = store / "queue.db"

    with read_only_file(database), file_queue(store) as queue:
        with pytest.raises(OSError):
            database.open("r+b").close()
        assert stored_ids(queue) == sorted(ids)
        with pytest.raises(StorageError) as error:
            queue.push(PAYLOAD)
        message = str(error.value)
        assert str(database) in message
        assert "readonly" in message
        assert "writable" in message
        assert stored_ids(queue) == sorted(ids)

    with file_queue(store) as queue:
        ids.append(queue.push(PAYLOAD))
        assert stored_ids(queue) == sorted(ids)
    check_integrity(database)


def test_read_only_directory_creates_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()

    with (
        read_only_directory(store),
        file_queue(store) as queue,
        pytest.raises(StorageError) as error,
    ):
        queue.push(PAYLOAD)
    message = str(error.value)
    assert "cannot create the queue database" in message
    assert str(store / "queue.db") in message
    assert "writable" in message
    assert list(store.iterdir()) == []


def checkpointed_store(store: Path, jobs: int) -> list[str]:
    """Push *jobs* jobs and close, so that every page is in queue.db itself."""
    with file_queue(store) as queue:
        ids = [queue.push(PAYLOAD) for _ in range(jobs)]
    assert not (store / "queue.db-wal").exists()
    return ids


def test_corrupted_page_names_path(tmp_path: Path) -> None:
    store = tmp_path / "store"
    checkpointed_store(store, 200)
    database = store / "queue.db"
    connection = sqlite3.connect(database)
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    # The jobs table's root page is an interior page once it has 200 rows,
    # so reading any job walks through it.
    root = connection.execute(
        "SELECT rootpage FROM sqlite_schema WHERE name = 'jobs'"
    ).fetchone()[0]
    connection.close()
    with database.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\xff" * page_size)

    with file_queue(store) as queue, pytest.raises(StorageError) as error:
        collect_ids(queue, "pending", page_size=1000)
    message = str(error.value)
    assert str(database) in message
    assert "malformed" in message
    assert "corrupted" in message
    assert "restore a backup" in message


def test_corrupted_header_names_path(tmp_path: Path) -> None:
    store = tmp_path / "store"
    checkpointed_store(store, 3)
    database = store / "queue.db"
    with database.open("r+b") as file:
        file.write(os.urandom(100))

    with file_queue(store) as queue, pytest.raises(StorageError) as error:
        queue.push(PAYLOAD)
    message = str(error.value)
    assert str(database) in message
    assert "not a database" in message
    assert "corrupted" in message
    # The failed push must not have replaced or repaired the file.
    with database.open("rb") as file:
        assert not file.read(16).startswith(b"SQLite format 3")


def test_removed_database_under_worker(tmp_path: Path) -> None:
    # A producer process keeps pushing while queue.db alone is deleted, so
    # its -wal and -shm files stay behind in use. A second process's pushes
    # then went into a new queue.db that shared them: SQLite mixed pages of
    # the two databases, pushes failed with "file is not a database", and
    # pushes that returned were missing or the new file failed
    # integrity_check. The new database must start from clean files instead.
    store = tmp_path / "store"
    checkpointed_store(store, 3)
    record = tmp_path / "producer.log"
    producer = subprocess.Popen(
        [sys.executable, crash_child.__file__, "producer", str(store), str(record)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert producer.stdin is not None
    assert producer.stdout is not None
    try:
        assert producer.stdout.readline().strip() == "ready"
        producer.stdin.write("go\n")
        producer.stdin.flush()
        time.sleep(0.3)
        (store / "queue.db").unlink()
        assert (store / "queue.db-wal").exists()

        queue = Queue("crash", settings=file_queue(store).settings)
        ids = [queue.push(PAYLOAD) for _ in range(2000)]
        # Let the producer notice the new file and push into it too.
        time.sleep(FILE_CHECK_INTERVAL_SECONDS + 0.3)
    finally:
        producer.send_signal(signal.SIGKILL)
        producer.communicate(timeout=30)

    stored = set(collect_ids(queue, "pending", page_size=1000))
    assert set(ids) <= stored, f"{len(set(ids) - stored)} returned pushes lost"
    assert_counts_match_pages(queue)
    queue.close()
    check_integrity(store / "queue.db")
    kept_logs = list(store.glob("queue.db-wal.*"))
    assert len(kept_logs) == 1, "the removed database's log was not kept"
