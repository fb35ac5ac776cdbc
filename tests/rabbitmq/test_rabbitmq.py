"""RabbitMQ behaviour beyond the contract suite: headers, names, faults."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pika
import pytest

from queue_core import Backoff, Job, JobStatus, Queue, Settings
from queue_core.backends.rabbitmq import ATTEMPTS_HEADER
from queue_core.backends.rabbitmq.connection import (
    dead_queue,
    failed_queue,
    pending_queue,
    redact,
)
from queue_core.errors import BackendUnavailableError

from .conftest import rabbitmqctl

MakeQueue = Callable[..., Queue]


def queue_length(url: str, name: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        declared = connection.channel().queue_declare(name, passive=True)
        return int(declared.method.message_count)
    finally:
        connection.close()


def full_topic(queue: Queue) -> str:
    return f"{queue.settings.prefix}.{queue.topic}"


def test_attempts_travel_in_headers(make_queue: MakeQueue, rabbitmq_url: str) -> None:
    queue = make_queue(max_retries=3, retry_backoff=None)
    retrying = Queue(
        queue.topic,
        3,
        retry_backoff=Backoff(base=0, jitter=0),
        settings=queue.settings,
    )
    job_id = queue.push({"n": 1})
    job = retrying.pop()
    assert job is not None
    assert job.fail("first failure")

    # The copy back on the pending queue carries the attempt in its headers,
    # and it is a new message, not a redelivery.
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    channel = connection.channel()
    method, properties, _ = channel.basic_get(pending_queue(full_topic(queue)))
    assert method is not None
    assert properties.headers[ATTEMPTS_HEADER] == 1
    assert method.redelivered is False
    channel.basic_nack(method.delivery_tag, requeue=True)
    connection.close()

    deliveries = 1
    while (job := retrying.pop()) is not None:
        deliveries += 1
        job.fail("failed again")
    retrying.close()

    assert deliveries == 3
    dead = queue.get(job_id)
    assert dead is not None
    assert dead.status == "dead"
    assert dead.attempts == 3
    assert queue_length(rabbitmq_url, dead_queue(full_topic(queue))) == 1


def test_push_lands_on_durable_queue(make_queue: MakeQueue, rabbitmq_url: str) -> None:
    queue = make_queue()
    queue.push({"n": 1})
    queue.push({"n": 2})

    assert queue_length(rabbitmq_url, pending_queue(full_topic(queue))) == 2


def test_topic_names_map_apart(make_queue: MakeQueue, rabbitmq_url: str) -> None:
    plain = make_queue("orders", max_retries=1)
    tricky = make_queue("orders.failed", max_retries=1)
    plain.push({"kind": "plain"})
    tricky.push({"kind": "tricky"})
    job = plain.pop()
    assert job is not None
    assert job.fail("boom")

    assert tricky.counts()["pending"] == 1
    assert plain.counts()["dead"] == 1
    assert pending_queue("amq.gen") == "queuedeck/amq.gen"
    assert pending_queue("a.failed") != failed_queue("a")
    assert queue_length(rabbitmq_url, pending_queue(full_topic(tricky))) == 1


def test_redact_hides_password() -> None:
    shown = redact("amqp://user:p%40ss@host:5672/vhost?heartbeat=2")

    assert shown == "amqp://user:***@host:5672/vhost?heartbeat=2"
    assert redact("amqp://host/vhost") == "amqp://host/vhost"


def test_password_never_logged(
    make_queue: MakeQueue, rabbitmq_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    password = pika.URLParameters(rabbitmq_url).credentials.password
    caplog.set_level(logging.DEBUG)
    queue = make_queue()
    queue.push({"n": 1})
    job = queue.pop()
    assert job is not None
    job.complete()

    # A refused connection logs its warnings with the URL too.
    unreachable = rabbitmq_url.replace(":5682", ":1")
    bad = Queue(
        "jobs",
        settings=queue.settings.__class__(
            backend="rabbitmq", url=unreachable, prefix=queue.settings.prefix
        ),
    )
    bad.backend.connect_timeout = 1.5  # type: ignore[attr-defined]
    assert bad.pop() is None
    bad.close()

    assert "***" in caplog.text
    assert password not in caplog.text


def test_long_job_short_heartbeat(make_queue: MakeQueue, rabbitmq_url: str) -> None:
    separator = "&" if "?" in rabbitmq_url else "?"
    url = f"{rabbitmq_url}{separator}heartbeat=2"
    worker = make_queue(url=url)
    other = make_queue(url=url)
    worker.push({"n": 1})
    job = worker.pop()
    assert job is not None

    time.sleep(10)

    assert other.pop() is None
    assert job.complete()
    assert worker.counts()["completed"] == 1
    assert worker.counts()["pending"] == 0
    assert other.pop() is None


KILLED_WORKER = """
import sys, time
from queue_core import Queue
job = Queue("jobs").pop()
print(job.id, flush=True)
time.sleep(60)
"""


def test_killed_worker_job_returns(make_queue: MakeQueue) -> None:
    queue = make_queue(visibility_timeout=2)
    job_id = queue.push({"n": 1})
    environ = {**os.environ, "TINA4_QUEUE_VISIBILITY_TIMEOUT": "2"}
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_WORKER],
        env=environ,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == job_id
    process.send_signal(signal.SIGKILL)
    process.wait()

    job = _pop_within(queue, 10)

    assert job is not None
    assert job.id == job_id
    assert job.attempts == 1
    assert job.complete()


def test_job_that_kills_its_workers_goes_dead(make_queue: MakeQueue) -> None:
    # Each worker dies right after pop(); every death counts as an attempt
    # when its lease expires, so the job cannot kill workers forever.
    queue = make_queue(visibility_timeout=2, max_retries=2)
    job_id = queue.push({"n": "poison"})
    environ = {**os.environ, "TINA4_QUEUE_VISIBILITY_TIMEOUT": "2"}
    worker = KILLED_WORKER.replace('Queue("jobs")', 'Queue("jobs", max_retries=2)')
    for _ in range(2):
        deadline = time.monotonic() + 15
        while queue.get(job_id).status is not JobStatus.PENDING:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the job did not come back"
            queue.recover_expired()
            time.sleep(0.2)
        process = subprocess.Popen(
            [sys.executable, "-c", worker],
            env=environ,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        assert process.stdout.readline().strip() == job_id
        process.send_signal(signal.SIGKILL)
        process.wait()

    assert _pop_within(queue, 6) is None
    dead = queue.get(job_id)
    assert dead is not None
    assert dead.status is JobStatus.DEAD
    assert dead.attempts == 2


def _pop_within(queue: Queue, seconds: float) -> Job | None:
    deadline = time.monotonic() + seconds
    while (job := queue.pop()) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    return job


@pytest.mark.slow
def test_restart_while_waiting(
    make_queue: MakeQueue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    consumer = make_queue()
    producer = make_queue()
    consumer.push({"n": 0})
    seen: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def consume() -> None:
        try:
            for job in consumer.consume(poll_interval=0.2):
                seen.append(job.payload["n"])
                job.complete()
                if stop.is_set() or len(seen) == 2:
                    return
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=consume)
    thread.start()
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.1)
    rabbitmqctl("stop_app")
    time.sleep(1)
    rabbitmqctl("start_app")
    producer.push({"n": 1})
    thread.join(timeout=60)
    stop.set()

    assert errors == []
    assert seen == [0, 1]
    assert "lost" in caplog.text
    assert "restored" in caplog.text
    assert consumer.counts()["completed"] == 2


@pytest.mark.slow
def test_restart_with_job_in_hand(make_queue: MakeQueue) -> None:
    worker = make_queue()
    other = make_queue()
    job_id = worker.push({"n": 1})
    job = worker.pop()
    assert job is not None

    rabbitmqctl("stop_app")
    rabbitmqctl("start_app")

    assert job.complete()
    assert _pop_within(other, 2) is None
    done = worker.get(job_id)
    assert done is not None
    assert done.status == "completed"
    counts: dict[str, Any] = worker.counts()
    assert counts["completed"] == 1
    assert counts["pending"] == 0
    assert counts["reserved"] == 0


def test_push_fails_while_broker_blocks_publishers(
    make_queue: MakeQueue, rabbitmq_url: str
) -> None:
    # A disk limit far above the free space raises the broker's disk alarm,
    # which blocks every publishing connection until it clears.
    separator = "&" if "?" in rabbitmq_url else "?"
    queue = make_queue(url=f"{rabbitmq_url}{separator}blocked_connection_timeout=2")
    first = queue.push({"n": 1})
    rabbitmqctl("set_disk_free_limit", "1000000GB")
    try:
        started = time.monotonic()
        with pytest.raises(BackendUnavailableError, match="RabbitMQ"):
            queue.push({"n": 2})
        assert time.monotonic() - started < 20
    finally:
        rabbitmqctl("set_disk_free_limit", "50MB")

    deadline = time.monotonic() + 30
    while True:
        try:
            third = queue.push({"n": 3})
            break
        except BackendUnavailableError:
            assert time.monotonic() < deadline, "pushes did not resume"
            time.sleep(0.5)
    assert queue.get(first) is not None
    assert queue.get(third) is not None


def test_complete_after_takeover_returns_false(
    rabbitmq_url: str, environ: dict[str, str]
) -> None:
    # Another process whose clock runs 5 s ahead takes the lease back while
    # the holder's lease is still valid on the holder's clock. The file
    # backend returns False here; a True would claim a completion that the
    # index discarded, and the job then runs again.
    prefix = environ["TINA4_QUEUE_PREFIX"]
    settings = Settings(
        backend="rabbitmq", url=rabbitmq_url, prefix=prefix, visibility_timeout=3
    )
    holder = Queue("skew", settings=settings)
    other = Queue("skew", settings=settings)
    try:
        job_id = holder.push({"n": 1})
        job = holder.pop()
        assert job is not None
        assert other.recover_expired(now=time.time() + 5) == 1

        completed = job.complete()

        record = other.get(job_id)
        assert record is not None
        assert record.status is JobStatus.PENDING
        assert completed is False
    finally:
        holder.close()
        other.close()


def test_redact_hides_user_without_password() -> None:
    assert redact("amqp://s3cr3t-token@host:5672/vhost") == "amqp://***@host:5672/vhost"
