"""Committed offsets on the pending topics never pass a job that may still run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from queue_core import JobStatus, Queue, Settings
from queue_core.backends.kafka import KafkaBackend

from .conftest import MakeQueue, committed_offset, kafka_topic, wait_for_offset


def offsets_of(queue: Queue) -> Any:
    """Return the committed-offset tracker of *queue*'s open Kafka backend."""
    offsets = cast(KafkaBackend, queue.backend)._offsets
    assert offsets is not None
    return offsets


@pytest.fixture
def shared_name(kafka_url: str) -> Iterator[str]:
    """Yield a fresh name N for an unprefixed topic "N.jobs" and a prefix "N".

    Both spell the full topic "N.jobs". Every Kafka topic of both is deleted
    after the test, but the unprefixed state topic is shared by every
    unprefixed queue, so only its jobs are purged.
    """
    name = "b" + uuid.uuid4().hex[:12]
    yield name
    plain = Queue(f"{name}.jobs", settings=Settings(backend="kafka", url=kafka_url))
    for status in ("pending", "completed", "failed"):
        plain.purge(status)
    plain.close()
    admin = AdminClient({"bootstrap.servers": kafka_url})
    names = [kafka_topic(plain, kind) for kind in ("pending", "failed", "dead")]
    for future in admin.delete_topics(names, request_timeout=30).values():
        future.result(timeout=30)
    KafkaBackend(kafka_url, prefix=name).delete_topics()


@pytest.mark.timeout(120)
def test_prefix_forms_are_separate_queues(kafka_url: str, shared_name: str) -> None:
    # Prefix "N" with topic "jobs" and no prefix with topic "N.jobs" both have
    # the full topic "N.jobs". On Kafka their jobs live in different state
    # topics, so they are separate queues with separate pending topics and
    # consumer groups, and a commit in one never passes a job of the other.
    plain = Queue(
        f"{shared_name}.jobs", settings=Settings(backend="kafka", url=kafka_url)
    )
    prefixed = Queue(
        "jobs",
        settings=Settings(backend="kafka", url=kafka_url, prefix=shared_name),
    )
    assert plain.full_topic() == prefixed.full_topic()
    assert kafka_topic(plain, "pending") != kafka_topic(prefixed, "pending")
    waiting_id = plain.push({"n": 1})
    own_id = prefixed.push({"n": 2})

    job = prefixed.pop()
    assert job is not None
    assert job.id == own_id
    assert job.complete()
    assert prefixed.pop() is None
    assert wait_for_offset(kafka_url, prefixed, 1, seconds=10) == 1
    prefixed.close()

    waiting = plain.get(waiting_id)
    assert waiting is not None
    assert waiting.status == JobStatus.PENDING
    assert plain.counts()["completed"] == 0
    # The waiting job's copy is at offset 0 of its own pending topic, whose
    # group has never committed.
    assert committed_offset(kafka_url, plain) < 1
    plain.close()


@pytest.mark.timeout(120)
def test_commit_stops_before_unread_copy(
    make_queue: MakeQueue, kafka_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A commit pass reads the pending topic's end before it reads the state
    # topic. A copy stored after that point is left for the next pass, even
    # when its job's state message has not been read yet.
    queue = make_queue()
    queue.push({"n": 1})
    job = queue.pop()
    assert job is not None
    assert job.complete()
    assert wait_for_offset(kafka_url, queue, 1, seconds=10) == 1
    offsets = offsets_of(queue)
    read_state_topic = offsets.sync
    producer = Producer({"bootstrap.servers": kafka_url})

    def store_copy_then_read() -> Any:
        # A copy whose job has no state message this process could read.
        producer.produce(kafka_topic(queue, "pending"), b"{}", b"0" * 32)
        assert producer.flush(10) == 0
        return read_state_topic()

    monkeypatch.setattr(offsets, "sync", store_copy_then_read)
    committed = offsets.advance(queue.full_topic())

    assert committed == {0: 1}


def test_push_stores_state_before_copy(
    make_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A commit pass takes a copy whose job the index lacks for a deleted job,
    # which is safe only if the job's state message is stored first.
    queue = make_queue()
    queue.push({"n": 0})
    link = cast(KafkaBackend, queue.backend)._link()
    produced: list[str] = []
    send, send_later = link.send, link.send_later

    def record_send(messages: Any) -> Any:
        produced.extend(topic for topic, _, _ in messages)
        return send(messages)

    def record_send_later(topic: str, key: str, value: bytes) -> None:
        produced.append(topic)
        send_later(topic, key, value)

    monkeypatch.setattr(link, "send", record_send)
    monkeypatch.setattr(link, "send_later", record_send_later)
    queue.push({"n": 1})

    assert produced == [link.state, kafka_topic(queue, "pending")]
