"""Kafka behaviour beyond the contract suite: topics, offsets, faults."""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from queue_core import (
    BackendUnavailableError,
    ConfigurationError,
    Job,
    JobStatus,
    Queue,
    Settings,
)
from queue_core.backends.kafka import KafkaBackend
from queue_core.backends.kafka.address import parse_url, redact
from queue_core.backends.kafka.connection import (
    encode_name,
    job_topic,
    state_topic,
)
from queue_core.topics import MAX_PREFIX_LENGTH, MAX_TOPIC_LENGTH

from .conftest import (
    MakeQueue,
    committed_offset,
    end_offset,
    kafka_topic,
    restart_broker,
    wait_for_offset,
)


def read_topic(url: str, name: str, count: int) -> list[tuple[str, bytes]]:
    """Return the ``(key, value)`` of every message on partition 0 of *name*.

    Waits up to 10 s for *count* messages, because a push produces its copy
    without waiting for it to be stored.
    """
    high = end_offset(url, name, at_least=count)
    consumer = Consumer({"bootstrap.servers": url, "group.id": "queuedeck-test-reader"})
    try:
        consumer.assign([TopicPartition(name, 0, 0)])
        messages: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + 10
        while len(messages) < high and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                messages.append((message.key().decode(), message.value()))
        return messages
    finally:
        consumer.close()


def pop_within(queue: Queue, seconds: float) -> Job | None:
    deadline = time.monotonic() + seconds
    while (job := queue.pop()) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    return job


# Addresses and names ----------------------------------------------------------


def test_url_forms_parse() -> None:
    plain = parse_url("127.0.0.1:19092")
    assert plain.bootstrap == "127.0.0.1:19092"
    assert plain.partitions == 1
    assert plain.options == {}

    listed = parse_url("kafka://a:1,b?partitions=4&client.id=web")
    assert listed.bootstrap == "a:1,b:9092"
    assert listed.partitions == 4
    assert listed.options == {"client.id": "web"}

    secured = parse_url("kafka://user:p%40ss@broker:9093?sasl.mechanism=SCRAM-SHA-512")
    assert secured.options["sasl.username"] == "user"
    assert secured.options["sasl.password"] == "p@ss"
    assert secured.options["sasl.mechanism"] == "SCRAM-SHA-512"
    assert secured.options["security.protocol"] == "SASL_PLAINTEXT"


@pytest.mark.parametrize(
    "url", ["amqp://host:5672", "kafka://", "host:1?partitions=0", "h?replication=x"]
)
def test_bad_url_rejected(url: str) -> None:
    with pytest.raises(ConfigurationError, match="TINA4_QUEUE_URL"):
        parse_url(url)


def test_redact_hides_password() -> None:
    assert redact("kafka://user:secret@host:9092") == "kafka://user:***@host:9092"
    assert redact("host:9092") == "host:9092"
    backend = KafkaBackend("kafka://user:secret@host:9092", prefix="p")
    assert "secret" not in repr(backend)


def test_url_forms_with_secrets_parse() -> None:
    unencoded = parse_url("kafka://user:hun@ter/2#x@127.0.0.1:19092?client.id=a@b")
    assert unencoded.bootstrap == "127.0.0.1:19092"
    assert unencoded.options["sasl.password"] == "hun@ter/2#x"
    assert unencoded.options["client.id"] == "a@b"

    question = parse_url("user:pass?word@127.0.0.1")
    assert question.bootstrap == "127.0.0.1:9092"
    assert question.options["sasl.password"] == "pass?word"

    ipv6 = parse_url("kafka://[::1],[::1]:19092")
    assert ipv6.bootstrap == "[::1]:9092,[::1]:19092"


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("user:hunter2@127.0.0.1:19092", "hunter2"),
        ("kafka://user:hun@ter2@127.0.0.1:19092", "ter2"),
        ("kafka://user:pass?word@127.0.0.1:19092", "word"),
        ("kafka://user:pass/word#x@127.0.0.1:19092", "word"),
        ("kafka://127.0.0.1:19092?sasl.username=u&sasl.password=hunter2", "hunter2"),
        ("kafka://127.0.0.1:19092?ssl.key.password=hunter2", "hunter2"),
        ("kafka://127.0.0.1?sasl.oauthbearer.client.secret=hunter2", "hunter2"),
        ("kafka://127.0.0.1?sasl%2Epassword=hunter2", "hunter2"),
    ],
    ids=[
        "no-scheme",
        "at-sign-in-password",
        "question-mark-in-password",
        "slash-and-hash-in-password",
        "password-option",
        "key-password-option",
        "client-secret-option",
        "encoded-option-name",
    ],
)
def test_repr_hides_secret(url: str, secret: str) -> None:
    backend = KafkaBackend(url, prefix="p")

    assert secret not in repr(backend)
    assert secret not in redact(url)


@pytest.mark.parametrize(
    "url", ["user:hunter2@", "kafka://user:hunter2@", "user:hunter2@host:abc"]
)
def test_url_error_hides_password(url: str) -> None:
    with pytest.raises(ConfigurationError, match="TINA4_QUEUE_URL") as error:
        parse_url(url)

    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize("port", ["abc", "99999", "0", "-1", ""])
def test_invalid_port_rejected(port: str) -> None:
    with pytest.raises(ConfigurationError, match="1 to 65535") as error:
        parse_url(f"127.0.0.1:{port}")

    assert repr(port) in str(error.value)


@pytest.mark.parametrize("url", ["kafka://host/path:1", "kafka://a b:1", ":9092"])
def test_invalid_host_rejected(url: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid host"):
        parse_url(url)


@pytest.mark.parametrize(
    ("option", "named"),
    [
        ("no.such.option=1", r"no\.such\.option"),
        ("security.protocol=bogus", r"security\.protocol"),
    ],
)
def test_invalid_client_option_rejected(
    environ: dict[str, str], kafka_url: str, option: str, named: str
) -> None:
    settings = Settings(
        backend="kafka",
        url=f"kafka://{kafka_url}?{option}&sasl.password=hunter2",
        prefix=environ["TINA4_QUEUE_PREFIX"],
    )
    queue = Queue("jobs", settings=settings)

    with pytest.raises(ConfigurationError, match="TINA4_QUEUE_URL") as error:
        queue.push({"n": 1})

    assert re.search(named, str(error.value))
    assert "hunter2" not in str(error.value)


def test_password_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # Port 1 refuses connections, so every call raises an error naming it.
    backend = KafkaBackend(
        "kafka://user:secret@127.0.0.1:1", prefix="unreachable", timeout=1
    )
    settings = Settings(backend="kafka", url="127.0.0.1:1", prefix="unreachable")
    queue = Queue("jobs", settings=settings, backend=backend)

    with pytest.raises(BackendUnavailableError, match=r"127\.0\.0\.1:1") as popped:
        queue.pop()
    with pytest.raises(BackendUnavailableError, match=r"127\.0\.0\.1:1") as pushed:
        queue.push({"n": 1})
    queue.close()

    assert "secret" not in caplog.text
    assert "secret" not in str(popped.value)
    assert "secret" not in str(pushed.value)


@pytest.mark.timeout(60)
def test_pop_unreachable_raises_within_timeout() -> None:
    # Lease recovery runs before each claim. It raises on an unreachable
    # broker, so pop() waits one timeout in total, not one per step.
    timeout = 4.0
    backend = KafkaBackend("127.0.0.1:1", prefix="unreachable", timeout=timeout)
    settings = Settings(backend="kafka", url="127.0.0.1:1", prefix="unreachable")
    queue = Queue("jobs", settings=settings, backend=backend)

    for _ in range(2):
        started = time.monotonic()
        with pytest.raises(BackendUnavailableError, match=r"127\.0\.0\.1:1"):
            queue.pop()
        assert time.monotonic() - started < 1.5 * timeout
    queue.close()


def test_topic_names_map_apart() -> None:
    assert job_topic("", "a-failed", "pending") != job_topic("", "a", "failed")
    assert job_topic("", "a.b", "pending") != job_topic("", "a_b", "pending")
    assert job_topic("p", "p.a", "pending") == "queuedeck-p-a-pending"
    assert job_topic("", "p.a", "pending") == "queuedeck-p_2ea-pending"
    assert job_topic("", "p", "pending") != state_topic("p")
    assert encode_name("p.a-b_c") == "p_2ea_2db_5fc"
    assert state_topic("p") == "queuedeck-p-state"
    assert all(
        "." not in name
        for name in (
            job_topic("x", "x.y", "dead"),
            state_topic("p_q"),
            state_topic(""),
        )
    )


def test_long_topic_names_fit_kafka() -> None:
    prefix = "p-" * 19 + "pp"
    topic = "a--" * 33 + "a"
    assert len(prefix) == MAX_PREFIX_LENGTH
    assert len(topic) == MAX_TOPIC_LENGTH
    names = {
        job_topic(prefix, f"{prefix}.{topic}", "pending"),
        job_topic(prefix, f"{prefix}.{topic[:-1]}b", "pending"),
        job_topic("", topic, "pending"),
        job_topic("", f"{topic[:-1]}b", "pending"),
    }

    assert len(names) == 4
    for name in names:
        assert len(name) <= 249
        assert re.fullmatch(r"[A-Za-z0-9_-]+", name)
    assert job_topic("", topic, "pending").startswith("queuedeck-a_2d_2da")


def test_topic_outside_prefix_rejected() -> None:
    with pytest.raises(ConfigurationError, match="TINA4_QUEUE_PREFIX"):
        job_topic("p", "q.jobs", "pending")


@pytest.mark.timeout(120)
def test_long_valid_topic_works(make_queue: MakeQueue, kafka_url: str) -> None:
    # Each '-' is '_2d' in a Kafka name, so without shortening this topic's
    # pending topic would be longer than Kafka's limit of 249 characters.
    topic = "a--" * 33 + "a"
    queue = make_queue(topic)

    job_id = queue.push({"n": 1})

    job = queue.pop()
    assert job is not None
    assert job.id == job_id
    assert job.complete()
    messages = read_topic(kafka_url, kafka_topic(queue, "pending"), 1)
    assert [key for key, _ in messages] == [job_id]


# What lands on Kafka ------------------------------------------------------------


def test_push_lands_on_pending_topic(make_queue: MakeQueue, kafka_url: str) -> None:
    queue = make_queue()
    first = queue.push({"n": 1})
    second = queue.push({"n": 2})

    messages = read_topic(kafka_url, kafka_topic(queue, "pending"), 2)

    assert [key for key, _ in messages] == [first, second]


def test_dead_job_copied_to_dead_topic(make_queue: MakeQueue, kafka_url: str) -> None:
    queue = make_queue(max_retries=1)
    job_id = queue.push({"n": 1})
    job = queue.pop()
    assert job is not None
    assert job.fail("boom")

    messages = read_topic(kafka_url, kafka_topic(queue, "dead"), 1)

    assert [key for key, _ in messages] == [job_id]


def test_offsets_commit_settled_prefix(make_queue: MakeQueue, kafka_url: str) -> None:
    queue = make_queue()
    ids = [queue.push({"n": n}) for n in range(3)]
    jobs = {job.id: job for job in (queue.pop(), queue.pop(), queue.pop()) if job}
    assert set(jobs) == set(ids)

    assert jobs[ids[0]].complete()
    assert jobs[ids[2]].fail("boom")
    # The second job is still reserved, so the commit stops in front of it.
    assert wait_for_offset(kafka_url, queue, 1, seconds=10) == 1
    time.sleep(1.5)
    assert committed_offset(kafka_url, queue) == 1

    assert jobs[ids[1]].complete()
    assert wait_for_offset(kafka_url, queue, 3, seconds=10) == 3


def test_state_survives_new_process(make_queue: MakeQueue) -> None:
    queue = make_queue(max_retries=1)
    kept, removed = queue.push({"n": 1}), queue.push({"n": 2})
    for _ in range(2):
        job = queue.pop()
        assert job is not None
        assert job.fail("fatal")
    queue.close()

    # A new process replays the state topic, so it can act on each dead
    # letter by id.
    script = (
        "import sys\n"
        "from queue_core import Queue\n"
        "queue = Queue('jobs', max_retries=1)\n"
        "print([job.id for job in queue.dead_letters()])\n"
        "print(queue.retry(sys.argv[1]), queue.delete(sys.argv[2]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, kept, removed],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    listed, changed = result.stdout.splitlines()
    assert listed == repr([removed, kept])
    assert changed == "True True"
    fresh = make_queue(max_retries=1)
    assert fresh.counts() == {
        "pending": 1,
        "reserved": 0,
        "completed": 0,
        "failed": 0,
        "dead": 0,
    }
    assert fresh.get(removed) is None
    job = fresh.pop()
    assert job is not None
    assert job.id == kept


# Pages --------------------------------------------------------------------------


@pytest.mark.parametrize("cursor", ["nan/x", "NaN", "inf/x", "-inf/x", "1.5/", "1.5"])
def test_non_finite_cursor_rejected(make_queue: MakeQueue, cursor: str) -> None:
    # No page returns such a cursor. A NaN compares false with every
    # creation time, so it would silently select the first page.
    queue = make_queue()
    queue.push({"n": 1})

    with pytest.raises(ValueError, match="invalid page cursor"):
        queue.jobs("pending", cursor=cursor)


# Faults -------------------------------------------------------------------------

HOLD_JOB = """
import time
from queue_core import Queue
job = Queue("jobs").pop()
print(job.id, flush=True)
time.sleep(120)
"""

RUN_ONE = """
from queue_core import Queue
import time
queue = Queue("jobs")
deadline = time.monotonic() + 20
while (job := queue.pop()) is None and time.monotonic() < deadline:
    time.sleep(0.2)
print(job.id, job.attempts, job.complete(), flush=True)
queue.close()
"""


@pytest.mark.timeout(90)
def test_killed_worker_job_redelivered(make_queue: MakeQueue, kafka_url: str) -> None:
    queue = make_queue(visibility_timeout=2)
    job_id = queue.push({"n": 1})
    environ = {**os.environ, "TINA4_QUEUE_VISIBILITY_TIMEOUT": "2"}
    held = subprocess.Popen(
        [sys.executable, "-c", HOLD_JOB], env=environ, stdout=subprocess.PIPE, text=True
    )
    assert held.stdout is not None
    assert held.stdout.readline().strip() == job_id
    held.send_signal(signal.SIGKILL)
    held.wait(timeout=30)
    held.stdout.close()
    assert committed_offset(kafka_url, queue) < 1

    # The restarted worker is a new process with nothing but the broker.
    result = subprocess.run(
        [sys.executable, "-c", RUN_ONE],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert result.stdout.split() == [job_id, "1", "True"]
    assert wait_for_offset(kafka_url, queue, 1, seconds=10) == 1


def run_worker(
    environ: dict[str, str],
    handler_seconds: float,
    output: Path,
    seconds: float,
    max_retries: int,
    barrier: multiprocessing.synchronize.Barrier | None = None,
) -> None:
    """Run a Worker for *seconds*, writing each job id its handler starts."""
    os.environ.update(environ)
    from queue_core.worker import Worker

    queue = Queue("jobs", max_retries=max_retries)

    def handle(job: Job) -> None:
        with open(output, "a", encoding="utf-8") as file:
            file.write(f"{job.id}\n")
        time.sleep(handler_seconds)

    worker = Worker(queue, handle, poll_interval=0.2, handle_signals=False)
    threading.Timer(seconds, worker.stop).start()
    if barrier is not None:
        barrier.wait(timeout=60)
    worker.run()
    queue.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_long_handler_runs_twice_then_dead(
    make_queue: MakeQueue, environ: dict[str, str], kafka_url: str, tmp_path: Path
) -> None:
    # A 6 s lease is the limit, the handler takes 10 s, and two workers poll.
    # The second takes the job over when the lease expires, the first finds
    # its lease lost, and the next expiry is the last attempt of two.
    queue = make_queue(max_retries=2, visibility_timeout=6)
    job_id = queue.push({"n": 1})
    variables = {**environ, "TINA4_QUEUE_VISIBILITY_TIMEOUT": "6"}
    context = multiprocessing.get_context("spawn")
    outputs = [tmp_path / f"worker-{n}.txt" for n in range(2)]
    processes = [
        context.Process(target=run_worker, args=(variables, 10, output, 40, 2))
        for output in outputs
    ]
    for process in processes:
        process.start()

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stored = queue.get(job_id)
        if stored is not None and stored.status == JobStatus.DEAD:
            break
        time.sleep(0.5)
    for process in processes:
        process.join(timeout=60)

    runs = [
        line
        for output in outputs
        if output.exists()
        for line in output.read_text().split()
    ]
    assert runs == [job_id, job_id]
    stored = queue.get(job_id)
    assert stored is not None
    assert stored.status == JobStatus.DEAD
    assert stored.attempts == 2
    assert stored.error is not None
    assert "lease expired" in stored.error
    assert wait_for_offset(kafka_url, queue, 1, seconds=10) == 1


@pytest.mark.timeout(120)
def test_two_workers_share_work(
    make_queue: MakeQueue, environ: dict[str, str], kafka_url: str, tmp_path: Path
) -> None:
    queue = make_queue()
    pushed = {queue.push({"n": n}) for n in range(100)}
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    outputs = [tmp_path / f"worker-{n}.txt" for n in range(2)]
    processes = [
        context.Process(target=run_worker, args=(environ, 0.02, output, 15, 3, barrier))
        for output in outputs
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=90)

    assert [process.exitcode for process in processes] == [0, 0]
    done = [set(output.read_text().split()) for output in outputs]
    assert all(done), "one worker did all the work"
    assert done[0].isdisjoint(done[1])
    assert done[0] | done[1] == pushed
    lines = sum(len(output.read_text().split()) for output in outputs)
    assert lines == 100
    assert queue.counts()["completed"] == 100
    assert wait_for_offset(kafka_url, queue, 100, seconds=10) == 100


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_restart_while_waiting(
    make_queue: MakeQueue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    consumer = make_queue()
    producer = make_queue()
    consumer.push({"n": 0})
    seen: list[int] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            for job in consumer.consume(poll_interval=0.2):
                seen.append(job.payload["n"])
                assert job.complete()
                if len(seen) == 2:
                    return
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.1)
    assert seen == [0]

    restart_broker()
    producer.push({"n": 1})
    thread.join(timeout=60)

    assert errors == []
    assert seen == [0, 1]
    assert consumer.counts()["completed"] == 2
    assert producer.counts()["completed"] == 2


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_restart_with_job_in_hand(make_queue: MakeQueue) -> None:
    worker = make_queue()
    other = make_queue()
    waiting_id = worker.push({"n": 1})
    held_id = worker.push({"n": 2})
    job = worker.pop()
    assert job is not None
    assert job.id == waiting_id

    restart_broker()

    assert job.complete()
    again = pop_within(other, 10)
    assert again is not None
    assert again.id == held_id
    assert again.complete()
    assert pop_within(other, 1) is None
    assert worker.counts()["completed"] == 2
