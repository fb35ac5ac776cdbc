"""File backend behaviour beyond the contract: the SQLite file and its faults."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from queue_core import JobStatus, Queue, Settings, StorageError
from queue_core.backends.file import FILE_CHECK_INTERVAL_SECONDS


def file_queue(store: Path, topic: str = "emails", **variables: str) -> Queue:
    environ = {"TINA4_QUEUE_PATH": str(store)}
    environ.update({f"TINA4_QUEUE_{k.upper()}": v for k, v in variables.items()})
    return Queue(topic, settings=Settings.from_env(environ, env_file=None))


def test_reads_create_no_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    queue = file_queue(store)

    assert queue.size() == 0
    assert queue.counts()["pending"] == 0
    assert queue.counts_by_topic() == {}
    assert queue.topics() == []
    assert len(queue.jobs("dead")) == 0
    assert len(queue.search("x")) == 0
    assert queue.get("0" * 32) is None
    assert queue.dead_letters() == []
    assert queue.retry_failed() == 0
    assert queue.purge("completed") == 0
    assert queue.delete("0" * 32) is False
    assert queue.oldest_pending_age() is None
    assert queue.workers() == []
    assert queue.recover_expired() == 0

    assert not store.exists()
    queue.push({"n": 1})
    assert (store / "queue.db").is_file()


@pytest.mark.parametrize("cursor", ["99999999999999999999999", "-99999999999999999999"])
def test_cursor_beyond_sqlite_integer_rejected(tmp_path: Path, cursor: str) -> None:
    queue = file_queue(tmp_path / "store")
    queue.push({"n": 1})

    with pytest.raises(ValueError, match="invalid page cursor"):
        queue.jobs("pending", cursor=cursor)
    queue.close()


def test_polling_creates_no_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    queue = file_queue(store)

    # A worker polling a mistyped TINA4_QUEUE_PATH must not leave an empty
    # database behind; the store appears with the first push.
    assert queue.pop() is None
    assert list(queue.consume(poll_interval=0)) == []

    assert not store.exists()


def test_journal_mode_is_wal(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with file_queue(store) as queue:
        queue.push({"n": 1})

    connection = sqlite3.connect(store / "queue.db")
    try:
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        connection.close()
    assert mode == "wal"


@contextlib.contextmanager
def read_only_directory(directory: Path) -> Iterator[None]:
    """Make *directory* read-only for this process, even when it runs as root.

    Root ignores permission bits, so as root the directory gets the immutable
    attribute (``chattr +i``, which needs CAP_LINUX_IMMUTABLE and a file system
    such as ext4, XFS or Btrfs) instead of ``chmod``.
    """
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)
        return

    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("running as root without chattr: cannot make a directory read-only")
    result = subprocess.run(
        [chattr, "+i", str(directory)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"chattr +i failed here: {result.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(directory)], check=True)


def test_read_only_directory_rejects_push(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with file_queue(store) as queue:
        kept = queue.push({"n": "before"})

    with read_only_directory(store):
        with pytest.raises(OSError):
            (store / "probe").touch()
        with file_queue(store) as queue, pytest.raises(StorageError) as error:
            queue.push({"n": "rejected"})

    message = str(error.value)
    assert str(store / "queue.db") in message
    assert "writable" in message
    with file_queue(store) as queue:
        assert queue.counts()["pending"] == 1
        assert [job.id for job in queue.jobs("pending")] == [kept]


# Runs in a subprocess whose file size limit (RLIMIT_FSIZE) is 256 KiB. With
# SIGXFSZ ignored, a write past the limit fails with EFBIG, which SQLite handles
# like a full disk, so the test runs the queue's real error path.
PUSH_PAST_SIZE_LIMIT = """
import json, resource, signal, sys
from queue_core import Queue, Settings, StorageError

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
settings = Settings.from_env({"TINA4_QUEUE_PATH": sys.argv[1]}, env_file=None)
queue = Queue("emails", settings=settings)
try:
    queue.push({"text": "x" * 600_000})
except StorageError as exc:
    print(json.dumps({"error": str(exc)}))
else:
    print(json.dumps({"error": None}))
"""


def test_full_disk_rejects_push(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with file_queue(store) as queue:
        kept = queue.push({"n": "before"})

    result = subprocess.run(
        [sys.executable, "-c", PUSH_PAST_SIZE_LIMIT, str(store)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    error = json.loads(result.stdout)["error"]
    assert error is not None, "the push past the file size limit succeeded"
    assert str(store / "queue.db") in error
    assert "disk" in error
    with file_queue(store) as queue:
        assert queue.counts()["pending"] == 1
        assert [job.id for job in queue.jobs("pending")] == [kept]
        # The store keeps working once space is available again.
        queue.push({"n": "after"})
        assert queue.size() == 2


def test_corrupted_file_names_path(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with file_queue(store) as queue:
        queue.push({"n": 1})
    database = store / "queue.db"
    with database.open("r+b") as file:
        file.write(b"this is not an SQLite header" * 4)

    for action in ("push", "size", "pop"):
        with file_queue(store) as queue, pytest.raises(StorageError) as error:
            if action == "push":
                queue.push({"n": 2})
            else:
                getattr(queue, action)()
        message = str(error.value)
        assert str(database) in message, action
        assert "corrupted" in message, action


def test_newer_schema_rejected(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with file_queue(store) as queue:
        queue.push({"n": 1})
    connection = sqlite3.connect(store / "queue.db")
    connection.execute("PRAGMA user_version = 99")
    connection.close()

    with file_queue(store) as queue, pytest.raises(StorageError) as error:
        queue.size()
    assert "schema version 99" in str(error.value)
    assert "upgrade queuedeck" in str(error.value)


def test_uncreatable_directory_rejected(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the store directory should go")
    store = blocker / "store"

    with file_queue(store) as queue, pytest.raises(StorageError) as error:
        queue.push({"n": 1})
    assert str(store) in str(error.value)
    assert "TINA4_QUEUE_PATH" in str(error.value)


# Pushes three jobs, prints their ids and kills itself with SIGKILL, so no
# close(), atexit handler or checkpoint runs after the last push returns.
PUSH_THEN_SIGKILL = """
import json, os, signal, sys
from queue_core import Queue, Settings

settings = Settings.from_env({"TINA4_QUEUE_PATH": sys.argv[1]}, env_file=None)
queue = Queue("emails", settings=settings)
ids = [queue.push({"n": n}) for n in range(3)]
print(json.dumps(ids), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_push_survives_sigkill(tmp_path: Path) -> None:
    store = tmp_path / "store"

    result = subprocess.run(
        [sys.executable, "-c", PUSH_THEN_SIGKILL, str(store)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == -signal.SIGKILL, result.stderr
    ids = json.loads(result.stdout)
    with file_queue(store) as queue:
        assert queue.size() == 3
        for n, job_id in enumerate(ids):
            job = queue.get(job_id)
            assert job is not None
            assert job.status == JobStatus.PENDING
            assert job.payload == {"n": n}


def test_full_sync_setting_works(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with file_queue(store, file_sync="full") as queue:
        job_id = queue.push({"n": 1})
        job = queue.pop()
        assert job is not None
        assert job.id == job_id
        assert job.complete()
        assert queue.size("completed") == 1


def test_replaced_database_is_reopened(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A worker's open connection would keep reading a deleted file; the
    # backend notices within a second and opens the file that is there now.
    worker = file_queue(tmp_path)
    worker.push({"n": 1})
    for path in tmp_path.glob("queue.db*"):
        path.unlink()
    job_id = file_queue(tmp_path).push({"n": 2})
    time.sleep(FILE_CHECK_INTERVAL_SECONDS + 0.1)

    job = worker.pop()

    assert job is not None
    assert job.id == job_id
    assert "was removed or replaced while open" in caplog.text


def test_concurrent_store_creation(tmp_path: Path) -> None:
    # Switching a new file to WAL fails at once, without SQLite's busy
    # timeout, while another connection creates the schema; many first
    # pushes at the same moment must all succeed. One round in about 40
    # failed before the switch was retried.
    for round_number in range(40):
        store = tmp_path / f"store-{round_number}"
        errors: list[BaseException] = []

        def push(
            number: int, store: Path = store, errors: list[BaseException] = errors
        ) -> None:
            try:
                file_queue(store).push({"n": number})
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=push, args=(n,)) for n in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        assert file_queue(store).size() == 12
