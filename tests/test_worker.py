"""The Worker loop, the ``queuedeck worker`` command and its signal handling."""

from __future__ import annotations

import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from queue_core import Job, JobStatus, Queue
from queue_core.cli import cli
from queue_core.worker import Worker

HANDLERS = """
import pathlib
import time


def record(job):
    pathlib.Path("done-" + job.id).write_text(str(job.payload))


def explode(job):
    raise RuntimeError("cannot send to " + job.payload["to"])


def slow(job):
    pathlib.Path("started-" + job.id).write_text("")
    time.sleep(job.payload["seconds"])
    pathlib.Path("finished-" + job.id).write_text("")


not_callable = 42
"""


@pytest.fixture(autouse=True)
def queue_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the file backend at a fresh directory and ignore any .env file."""
    for name in ("TINA4_QUEUE_BACKEND", "TINA4_QUEUE_PREFIX", "TINA4_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "queue"
    monkeypatch.setenv("TINA4_QUEUE_PATH", str(path))
    monkeypatch.chdir(tmp_path)
    return path


@pytest.fixture
def handlers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Write the handler module to the working directory and return its name."""
    name = f"handlers_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(HANDLERS)
    # The worker command puts the working directory on sys.path.
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield name
    sys.modules.pop(name, None)


def wait_for(condition: Callable[[], object], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {condition}")
        time.sleep(0.02)


def start_in_thread(worker: Worker, **kwargs: bool) -> threading.Thread:
    thread = threading.Thread(target=worker.run, kwargs=kwargs, daemon=True)
    thread.start()
    return thread


# Worker, used from Python ---------------------------------------------------


def test_worker_completes_jobs_in_order() -> None:
    queue = Queue("emails")
    ids = [queue.push({"n": n}, priority=n) for n in range(3)]
    seen: list[tuple[str, int]] = []

    worker = Worker(
        Queue("emails"), lambda job: seen.append((job.id, job.payload["n"]))
    )
    worker.run(burst=True)

    assert seen == [(ids[2], 2), (ids[1], 1), (ids[0], 0)]
    for job_id in ids:
        assert queue.require(job_id).status is JobStatus.COMPLETED
    assert worker.processed == 3
    assert worker.failed == 0


def test_worker_fails_job_with_exception_text() -> None:
    queue = Queue("emails")
    job_id = queue.push({"n": 7})

    def handler(job: Job) -> None:
        raise ValueError(f"bad input {job.payload['n']}")

    worker = Worker(Queue("emails", max_retries=3), handler)
    worker.run(burst=True)

    job = queue.require(job_id)
    assert job.status is JobStatus.FAILED
    assert job.error == "ValueError: bad input 7"
    assert job.attempts == 1
    assert worker.processed == 1
    assert worker.failed == 1


def test_worker_dead_letters_last_attempt() -> None:
    queue = Queue("emails")
    job_id = queue.push({"n": 1})

    def handler(job: Job) -> None:
        raise KeyError("missing")

    Worker(Queue("emails", max_retries=1), handler).run(burst=True)

    job = queue.require(job_id)
    assert job.status is JobStatus.DEAD
    assert job.error == "KeyError: 'missing'"


def test_worker_logs_job_lifecycle(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="queue_core.worker")
    queue = Queue("emails")
    good = queue.push({"ok": True, "token": "s3cret"})
    bad = queue.push({"ok": False, "token": "s3cret"})

    def handler(job: Job) -> None:
        if not job.payload["ok"]:
            raise RuntimeError("smtp down")

    worker = Worker(Queue("emails"), handler)
    worker.run(burst=True)

    messages = [record.getMessage() for record in caplog.records]
    assert f"worker {worker.id} started on topic 'emails'" in messages[0]
    assert f"job {good} started (attempt 1)" in messages
    assert any(m.startswith(f"job {good} completed in ") for m in messages)
    assert any(
        m.startswith(f"job {bad} failed") and m.endswith("RuntimeError: smtp down")
        for m in messages
    )
    assert messages[-1] == (f"worker {worker.id} stopped; jobs processed: 2, failed: 1")
    assert "s3cret" not in caplog.text


def test_burst_returns_when_empty() -> None:
    worker = Worker(Queue("emails"), lambda job: None, poll_interval=30)

    started = time.monotonic()
    worker.run(burst=True)

    assert time.monotonic() - started < 2
    assert worker.processed == 0


def test_stop_wakes_idle_worker_promptly() -> None:
    worker = Worker(Queue("emails"), lambda job: None, poll_interval=30)
    thread = start_in_thread(worker)
    wait_for(lambda: Queue("emails").workers())

    started = time.monotonic()
    worker.stop()
    thread.join(timeout=5)

    assert not thread.is_alive()
    assert time.monotonic() - started < 1


def test_idle_worker_polls_at_interval() -> None:
    queue = Queue("emails")
    polls: list[float] = []
    original_pop = queue.pop

    def counting_pop() -> Job | None:
        polls.append(time.monotonic())
        return original_pop()

    queue.pop = counting_pop  # type: ignore[method-assign]
    worker = Worker(queue, lambda job: None, poll_interval=0.2)
    thread = start_in_thread(worker)
    time.sleep(0.7)
    worker.stop()
    thread.join(timeout=5)

    # A busy loop would poll thousands of times in 0.7 s.
    assert 2 <= len(polls) <= 6


def test_worker_picks_up_jobs_pushed_later() -> None:
    done = threading.Event()
    worker = Worker(Queue("emails"), lambda job: done.set(), poll_interval=0.05)
    thread = start_in_thread(worker)

    job_id = Queue("emails").push({"n": 1})
    assert done.wait(5)
    worker.stop()
    thread.join(timeout=5)

    assert Queue("emails").require(job_id).status is JobStatus.COMPLETED


def test_heartbeat_tracks_running_job() -> None:
    queue = Queue("emails")
    job_id = queue.push({"n": 1})
    entered = threading.Event()
    proceed = threading.Event()

    def handler(job: Job) -> None:
        entered.set()
        assert proceed.wait(5)

    worker = Worker(
        Queue("emails"), handler, poll_interval=0.05, heartbeat_interval=0.05
    )
    thread = start_in_thread(worker)
    assert entered.wait(5)
    wait_for(lambda: [w.current_job for w in queue.workers()] == [job_id])
    first = queue.workers()[0]
    wait_for(lambda: queue.workers()[0].last_seen > first.last_seen + 0.1)

    assert first.id == worker.id
    assert first.topic == "emails"
    assert first.pid == os.getpid()
    assert first.processed == 0

    proceed.set()
    wait_for(lambda: queue.workers()[0].processed == 1)
    assert queue.workers()[0].current_job is None
    worker.stop()
    thread.join(timeout=5)

    assert queue.workers() == []


def test_heartbeat_counts_failures() -> None:
    queue = Queue("emails")
    queue.push({"n": 1})
    queue.push({"n": 2})

    def handler(job: Job) -> None:
        if job.payload["n"] == 2:
            raise RuntimeError("no")

    worker = Worker(
        Queue("emails"), handler, poll_interval=0.05, heartbeat_interval=0.05
    )
    thread = start_in_thread(worker)
    wait_for(lambda: [(w.processed, w.failed) for w in queue.workers()] == [(2, 1)])
    worker.stop()
    thread.join(timeout=5)


def test_keyboard_interrupt_releases_job() -> None:
    queue = Queue("emails")
    job_id = queue.push({"n": 1})

    def handler(job: Job) -> None:
        raise KeyboardInterrupt

    worker = Worker(Queue("emails"), handler, handle_signals=False)
    with pytest.raises(KeyboardInterrupt):
        worker.run(burst=True)

    job = queue.require(job_id)
    assert job.status is JobStatus.PENDING
    assert job.attempts == 0
    assert queue.workers() == []


def test_handler_sys_exit_counts_attempt() -> None:
    # A handler that exits the process fails its job, so a supervisor that
    # restarts the worker cannot run the same job forever.
    queue = Queue("emails")
    job_id = queue.push({"n": 1})

    def handler(job: Job) -> None:
        sys.exit(3)

    worker = Worker(Queue("emails"), handler, handle_signals=False)
    with pytest.raises(SystemExit):
        worker.run(burst=True)

    job = queue.require(job_id)
    assert job.status is JobStatus.FAILED
    assert job.attempts == 1
    assert job.error == "SystemExit: 3"


def test_handler_keyboard_interrupt_fails_job() -> None:
    # With the worker's signal handlers on, SIGINT never raises inside the
    # handler, so a KeyboardInterrupt there is the handler's own failure.
    queue = Queue("emails")
    job_id = queue.push({"n": 1})

    def handler(job: Job) -> None:
        raise KeyboardInterrupt

    worker = Worker(Queue("emails"), handler, handle_signals=True)
    with pytest.raises(KeyboardInterrupt):
        worker.run(burst=True)

    job = queue.require(job_id)
    assert job.status is JobStatus.FAILED
    assert job.attempts == 1


@pytest.mark.parametrize("seconds", [0, -1, math.nan, math.inf])
def test_worker_rejects_invalid_poll_interval(seconds: float) -> None:
    with pytest.raises(ValueError, match="poll_interval must be a positive number"):
        Worker(Queue("emails"), lambda job: None, poll_interval=seconds)


# The worker command, in process ---------------------------------------------


def test_worker_command_completes_jobs(handlers: str, tmp_path: Path) -> None:
    queue = Queue("emails")
    ids = [queue.push({"n": n}) for n in range(2)]

    result = CliRunner().invoke(
        cli, ["worker", "emails", "--handler", f"{handlers}:record", "--burst"]
    )

    assert result.exit_code == 0, result.output
    for job_id in ids:
        assert queue.require(job_id).status is JobStatus.COMPLETED
    assert (tmp_path / f"done-{ids[0]}").read_text() == "{'n': 0}"


def test_worker_command_fails_raising_handler(handlers: str) -> None:
    queue = Queue("emails")
    job_id = queue.push({"to": "bob@example.com"})

    result = CliRunner().invoke(
        cli,
        ["worker", "emails", "--handler", f"{handlers}:explode", "--burst"],
    )

    assert result.exit_code == 0, result.output
    job = queue.require(job_id)
    assert job.status is JobStatus.FAILED
    assert job.error == "RuntimeError: cannot send to bob@example.com"


def test_worker_command_retry_backoff(handlers: str) -> None:
    queue = Queue("emails")
    job_id = queue.push({"to": "bob@example.com"})

    result = CliRunner().invoke(
        cli,
        [
            "worker",
            "emails",
            "--handler",
            f"{handlers}:explode",
            "--retry-backoff",
            "60",
            "--burst",
        ],
    )

    # The failed job is pending again, due in about a minute, so the burst
    # run ended without running it twice.
    assert result.exit_code == 0, result.output
    job = queue.require(job_id)
    assert job.status is JobStatus.PENDING
    assert job.attempts == 1
    assert (job.available_at - job.updated_at).total_seconds() > 50


def test_worker_command_dead_letters_at_max_retries(handlers: str) -> None:
    queue = Queue("emails")
    job_id = queue.push({"to": "bob@example.com"})

    result = CliRunner().invoke(
        cli,
        [
            "worker",
            "emails",
            "--handler",
            f"{handlers}:explode",
            "--max-retries",
            "1",
            "--burst",
        ],
    )

    assert result.exit_code == 0, result.output
    assert queue.require(job_id).status is JobStatus.DEAD


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_here:run", "cannot import module 'no_such_module_here'"),
        ("{module}:missing", "module '{module}' has no attribute 'missing'"),
        ("{module}:not_callable", "'not_callable' is a int, not callable"),
        ("{module}", "expected module:function"),
    ],
    ids=["missing-module", "missing-function", "not-callable", "no-colon"],
)
def test_worker_command_rejects_bad_handler(
    handlers: str, target: str, message: str
) -> None:
    Queue("emails").push({"n": 1})

    result = CliRunner().invoke(
        cli,
        ["worker", "emails", "--handler", target.format(module=handlers), "--burst"],
    )

    assert result.exit_code == 2
    assert message.format(module=handlers) in result.stderr
    assert Queue("emails").size("pending") == 1


# The worker command in a subprocess, for signals ----------------------------


def start_worker_process(tmp_path: Path, *options: str) -> subprocess.Popen[str]:
    (tmp_path / "slow_handlers.py").write_text(HANDLERS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINA4_QUEUE_")}
    env["TINA4_QUEUE_PATH"] = str(tmp_path / "queue")
    command = [sys.executable, "-m", "queue_core.cli", "worker", "emails"]
    return subprocess.Popen(
        [
            *command,
            "--handler",
            "slow_handlers:slow",
            "--poll-interval",
            "0.05",
            *options,
        ],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_process(process: subprocess.Popen[str]) -> str:
    try:
        _, stderr = process.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        raise AssertionError(f"the worker did not exit:\n{stderr}") from None
    return stderr


def test_sigterm_finishes_running_job(tmp_path: Path) -> None:
    queue = Queue("emails")
    job_id = queue.push({"seconds": 1.5})
    process = start_worker_process(tmp_path, "--heartbeat-interval", "0.1")
    try:
        wait_for((tmp_path / f"started-{job_id}").exists)
        wait_for(lambda: [w.current_job for w in queue.workers()] == [job_id])
        assert queue.workers()[0].pid == process.pid
        assert not (tmp_path / f"finished-{job_id}").exists()
        process.send_signal(signal.SIGTERM)
    finally:
        stderr = stop_process(process)

    assert process.returncode == 0, stderr
    assert (tmp_path / f"finished-{job_id}").exists()
    job = queue.require(job_id)
    assert job.status is JobStatus.COMPLETED
    assert queue.workers() == []
    assert "received SIGTERM; stopping after job" in stderr
    assert f"job {job_id} completed" in stderr


@pytest.mark.parametrize(
    "signals",
    [(signal.SIGTERM, signal.SIGTERM), (signal.SIGINT, signal.SIGTERM)],
    ids=["term-term", "int-term"],
)
def test_second_signal_releases_job(
    tmp_path: Path, signals: tuple[signal.Signals, signal.Signals]
) -> None:
    queue = Queue("emails")
    job_id = queue.push({"seconds": 30})
    process = start_worker_process(tmp_path)
    try:
        wait_for((tmp_path / f"started-{job_id}").exists)
        process.send_signal(signals[0])
        time.sleep(0.3)
        process.send_signal(signals[1])
    finally:
        stderr = stop_process(process)

    assert process.returncode == 0, stderr
    assert not (tmp_path / f"finished-{job_id}").exists()
    job = queue.require(job_id)
    assert job.status is JobStatus.PENDING
    assert job.attempts == 0
    assert queue.workers() == []
    assert f"job {job_id} released back to pending" in stderr


def test_sigterm_stops_idle_worker_promptly(tmp_path: Path) -> None:
    queue = Queue("emails")
    process = start_worker_process(tmp_path, "--poll-interval", "30")
    try:
        wait_for(queue.workers)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
    finally:
        stderr = stop_process(process)

    assert process.returncode == 0, stderr
    assert time.monotonic() - started < 2
    assert queue.workers() == []
