"""Fixtures for the Kafka-specific tests: a broker address and a fresh prefix.

The broker comes from ``QUEUEDECK_TEST_KAFKA_URL`` (``scripts/services`` sets
it). Without it the tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from queue_core import Queue, Settings
from queue_core.backends.kafka import KafkaBackend
from queue_core.backends.kafka.connection import consumer_group, job_topic
from tests.servers import server_url

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"

MakeQueue = Callable[..., Queue]


@pytest.fixture
def kafka_url() -> str:
    return server_url("kafka")


@pytest.fixture
def environ(
    kafka_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Yield the variables of a fresh prefix on the test broker.

    The prefix's Kafka topics are deleted after the test.
    """
    prefix = "k" + uuid.uuid4().hex[:12]
    variables = {
        "TINA4_QUEUE_BACKEND": "kafka",
        "TINA4_QUEUE_URL": kafka_url,
        "TINA4_QUEUE_PREFIX": prefix,
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    yield variables
    KafkaBackend(kafka_url, prefix=prefix).delete_topics()


@pytest.fixture
def make_queue(environ: dict[str, str]) -> Iterator[MakeQueue]:
    queues: list[Queue] = []

    def make(topic: str = "jobs", max_retries: int = 3, **overrides: object) -> Queue:
        variables = dict(environ)
        for name, value in overrides.items():
            variables[f"TINA4_QUEUE_{name.upper()}"] = str(value)
        queue = Queue(
            topic, max_retries, settings=Settings.from_env(variables, env_file=None)
        )
        queues.append(queue)
        return queue

    yield make
    for queue in queues:
        queue.close()


def full_topic(queue: Queue) -> str:
    return f"{queue.settings.prefix}.{queue.topic}"


def kafka_topic(queue: Queue, kind: str) -> str:
    """Return the Kafka topic of *queue*'s ``pending``, ``failed`` or ``dead`` jobs."""
    return job_topic(queue.settings.prefix, queue.full_topic(), kind)


def end_offset(url: str, name: str, at_least: int = 0) -> int:
    """Return the high watermark of partition 0 of topic *name*.

    Waits up to 10 s for it to reach *at_least*, because a push produces its
    copy without waiting for it to be stored.
    """
    partition = TopicPartition(name, 0)
    consumer = Consumer({"bootstrap.servers": url, "group.id": "queuedeck-test-ends"})
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                _, high = consumer.get_watermark_offsets(
                    partition, timeout=10, cached=False
                )
            except KafkaException:
                # A topic created a moment ago may have no leader yet.
                if time.monotonic() > deadline:
                    raise
                high = -1
            if high >= at_least or time.monotonic() > deadline:
                return int(high)
            time.sleep(0.2)
    finally:
        consumer.close()


def committed_offset(url: str, queue: Queue) -> int:
    """Return the offset the topic's consumer group committed on partition 0."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    admin = AdminClient({"bootstrap.servers": url})
    group = consumer_group(queue.settings.prefix, queue.full_topic())
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(kafka_topic(queue, "pending"), 0)]
    )
    futures = admin.list_consumer_group_offsets([request])
    result = next(iter(futures.values())).result(timeout=30)
    return int(result.topic_partitions[0].offset)


def wait_for_offset(url: str, queue: Queue, expected: int, seconds: float) -> int:
    """Poll the committed offset until it is *expected* or *seconds* pass."""
    deadline = time.monotonic() + seconds
    while True:
        offset = committed_offset(url, queue)
        if offset == expected or time.monotonic() > deadline:
            return offset
        time.sleep(0.2)


def restart_broker() -> None:
    """Restart the test broker on its data; skip when the broker is not ours."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        from servicekit import kafka
    finally:
        sys.path.remove(str(SCRIPTS))
    if kafka.external():
        pytest.skip(
            "the broker comes from QUEUEDECK_TEST_KAFKA_URL; not ours to restart"
        )
    kafka.restart()
