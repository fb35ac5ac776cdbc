"""Index snapshots: a new process loads the newest one and replays the rest."""

from __future__ import annotations

import time
import uuid

import pika
import pytest

from queue_core import JobStatus, Queue, Settings
from queue_core.backends.rabbitmq import RabbitMQBackend, snapshots
from queue_core.backends.rabbitmq.index import JobIndex
from queue_core.backends.rabbitmq.snapshots import SNAPSHOTS_QUEUE


def _settings(url: str, prefix: str) -> Settings:
    return Settings(backend="rabbitmq", url=url, prefix=prefix)


def _wait_for_snapshot(backend: RabbitMQBackend, past: int) -> int:
    """Wait until *backend*'s index has loaded a snapshot beyond offset *past*."""
    index = backend._sync()
    deadline = time.monotonic() + 15
    while index.snapshot_offset <= past:
        assert time.monotonic() < deadline, "no snapshot was written"
        time.sleep(0.2)
        backend._sync()
    return index.snapshot_offset


def test_new_process_starts_from_the_newest_snapshot(
    rabbitmq_url: str, environ: dict[str, str]
) -> None:
    prefix = environ["TINA4_QUEUE_PREFIX"]
    writer = RabbitMQBackend(rabbitmq_url, snapshot_every=50, snapshot_interval=1)
    queue = Queue("jobs", settings=_settings(rabbitmq_url, prefix), backend=writer)
    try:
        before = writer._sync().next_offset
        ids = [queue.push({"n": n}) for n in range(120)]
        for _ in range(30):
            job = queue.pop()
            assert job is not None
            assert job.complete()
        assert queue.pop() is not None  # one job left reserved
        offset = _wait_for_snapshot(writer, before + 100)
        expected = writer.counts(f"{prefix}.jobs")
    finally:
        writer.close()

    reader = RabbitMQBackend(rabbitmq_url)
    try:
        index = reader._sync()
        # The reader replayed only the events after the snapshot it loaded.
        assert index.next_offset - index.replayed >= offset
        assert reader.counts(f"{prefix}.jobs") == expected
        assert expected[JobStatus.COMPLETED] == 30
        assert expected[JobStatus.RESERVED] == 1
        assert expected[JobStatus.PENDING] == 89
        record = reader.get(f"{prefix}.jobs", ids[-1])
        assert record is not None
        assert record.payload == '{"n":119}'
    finally:
        reader.close()


def test_unfinished_snapshot_is_ignored(
    rabbitmq_url: str, environ: dict[str, str]
) -> None:
    prefix = environ["TINA4_QUEUE_PREFIX"]
    queue = Queue("jobs", settings=_settings(rabbitmq_url, prefix))
    job_id = queue.push({"n": 1})
    queue.close()

    # A writer that died after its first part leaves a part with no manifest
    # at the end of the snapshots stream.
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.basic_publish(
        "",
        SNAPSHOTS_QUEUE,
        b"not a whole snapshot",
        pika.BasicProperties(
            delivery_mode=2, headers={"x-snapshot": uuid.uuid4().hex, "x-part": 0}
        ),
    )
    connection.close()

    reader = RabbitMQBackend(rabbitmq_url)
    try:
        record = reader.get(f"{prefix}.jobs", job_id)
        assert record is not None
        assert record.status is JobStatus.PENDING
    finally:
        reader.close()


def test_deleted_prefix_leaves_index(rabbitmq_url: str) -> None:
    prefix = "r" + uuid.uuid4().hex[:12]
    queue = Queue("jobs", settings=_settings(rabbitmq_url, prefix))
    job_id = queue.push({"n": 1})
    assert f"{prefix}.jobs" in queue.backend.topics()
    queue.close()

    backend = RabbitMQBackend(rabbitmq_url)
    try:
        assert backend.delete_queues(prefix) == 1
        assert f"{prefix}.jobs" not in backend.topics()
        assert backend.get(None, job_id) is None
    finally:
        backend.close()


def test_index_dump_and_load_round_trip() -> None:
    index = JobIndex()
    record = {
        "id": "a1",
        "topic": "p.jobs",
        "payload": '{"n":1}',
        "status": "pending",
        "priority": 3,
        "attempts": 0,
        "max_retries": 3,
        "error": None,
        "created_at": 1.0,
        "updated_at": 1.0,
        "available_at": 99.0,
    }
    index.apply({"op": "job", "id": "a1", "record": record, "delivery": None}, 0)
    index.apply(
        {"op": "job", "id": "b2", "record": {**record, "id": "b2"}, "delivery": "d"}, 1
    )

    copy = JobIndex()
    copy.load(index.dump(), taken_at=5.0)

    assert copy.next_offset == 2
    assert copy.snapshot_offset == 2
    assert copy.snapshot_at == 5.0
    assert copy.snapshot("b2") == index.snapshot("b2")
    # A delayed job with no queued copy stays parked after a load.
    assert [r.id for r in copy.parked("p.jobs", now=100.0)] == ["a1"]
    assert copy.counts("p.jobs") == index.counts("p.jobs")


@pytest.mark.parametrize(
    "event",
    [
        {"op": "delete"},
        {"op": "job", "id": "x", "record": {"status": "bogus"}},
        {"op": "worker", "worker": {"id": "w"}},
        {"op": "snapshot"},
    ],
)
def test_malformed_event_is_skipped(event: dict[str, object]) -> None:
    # Any publisher on the queuedeck exchange reaches the events stream. An
    # event that raises here stops the pump thread of every running process
    # and makes every read of a new process raise, until retention drops it.
    index = JobIndex()
    index.apply(event, 0)
    assert index.next_offset == 1


def test_orphan_part_keeps_previous_snapshot(
    rabbitmq_url: str, environ: dict[str, str]
) -> None:
    # A writer killed between its parts and its manifest leaves parts as the
    # newest snapshot entries. The complete snapshot before them is still
    # valid, so a new process should load it instead of replaying the whole
    # events stream, which retention may already have shortened.
    writer = RabbitMQBackend(rabbitmq_url)
    try:
        index = writer._sync()
        connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
        try:
            announcement = snapshots.write(connection, index)
            assert announcement is not None
            channel = connection.channel()
            channel.confirm_delivery()
            orphan = uuid.uuid4().hex
            channel.basic_publish(
                "",
                snapshots.SNAPSHOTS_QUEUE,
                b"part of a snapshot whose writer died",
                snapshots._properties(orphan, part=0),
            )
        finally:
            connection.close()
    finally:
        writer.close()

    reader = RabbitMQBackend(rabbitmq_url)
    try:
        index = reader._sync()
        loaded_offset = index.next_offset - index.replayed
        assert loaded_offset >= announcement["offset"]
    finally:
        reader.close()
