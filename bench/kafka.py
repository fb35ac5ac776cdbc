"""Kafka backend throughput beside raw confluent-kafka doing the same work.

Raw confluent-kafka produces each message with ``acks=all`` and waits for its
delivery report. It then consumes each message and commits its offset
synchronously before taking the next. That is the work behind ``push()`` and
``pop()`` + ``complete()`` when every job must survive a crash.

    QUEUEDECK_TEST_KAFKA_URL=127.0.0.1:19092 python bench/kafka.py [count]

Prints a Markdown table; use a broker on this machine (scripts/services).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from queue_core import Queue, Settings
from queue_core.backends.kafka import KafkaBackend


def raw_kafka(url: str, count: int) -> tuple[float, float]:
    """Return (push/s, pop+complete/s) for raw confluent-kafka."""
    name = f"bench-raw-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": url})
    admin.create_topics([NewTopic(name, num_partitions=1)])[name].result(30)
    producer = Producer(
        {"bootstrap.servers": url, "acks": "all", "enable.idempotence": True}
    )
    delivered: list[Any] = []
    body = json.dumps({"n": 0, "to": "alice@example.com"}).encode()
    # One message before timing, so the topic's metadata is known.
    producer.produce(name, body)
    producer.flush(30)

    started = time.perf_counter()
    for _ in range(count):
        producer.produce(name, body, on_delivery=lambda e, m: delivered.append(e))
        producer.flush(30)
    push_rate = count / (time.perf_counter() - started)
    assert delivered == [None] * count, "raw confluent-kafka lost a message"

    consumer = Consumer(
        {
            "bootstrap.servers": url,
            "group.id": f"bench-raw-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(name, 0, 1)])
    started = time.perf_counter()
    done = 0
    while done < count:
        message = consumer.poll(10)
        assert message is not None, f"raw confluent-kafka took {done} of {count}"
        assert message.error() is None, message.error()
        consumer.commit(message=message, asynchronous=False)
        done += 1
    pop_rate = done / (time.perf_counter() - started)

    consumer.close()
    admin.delete_topics([name])[name].result(30)
    return push_rate, pop_rate


def queuedeck(url: str, count: int) -> tuple[float, float]:
    """Return (push/s, pop+complete/s) for the queuedeck Kafka backend."""
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    settings = Settings(backend="kafka", url=url, prefix=prefix)
    queue = Queue("emails", settings=settings)
    # Connect, create the topics and read the state topic before timing.
    queue.push({"n": -1})
    job = queue.pop()
    assert job is not None
    job.complete()

    started = time.perf_counter()
    for n in range(count):
        queue.push({"n": n, "to": "alice@example.com"})
    push_rate = count / (time.perf_counter() - started)

    started = time.perf_counter()
    done = 0
    while (job := queue.pop()) is not None:
        job.complete()
        done += 1
    pop_rate = done / (time.perf_counter() - started)
    assert done == count, f"queuedeck took {done} of {count} jobs"

    queue.close()
    KafkaBackend(url, prefix=prefix).delete_topics()
    return push_rate, pop_rate


def main() -> None:
    url = os.environ.get("QUEUEDECK_TEST_KAFKA_URL")
    if not url:
        sys.exit("set QUEUEDECK_TEST_KAFKA_URL; run: scripts/services start kafka")
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    raw_push, raw_pop = raw_kafka(url, count)
    our_push, our_pop = queuedeck(url, count)

    print(f"{count} jobs, one process, broker on 127.0.0.1\n")
    print("| operation | raw confluent-kafka (/s) | queuedeck (/s) | ratio |")
    print("|---|---:|---:|---:|")
    for name, raw, ours in (
        ("push (acks=all, wait for each delivery)", raw_push, our_push),
        ("pop + complete (consume, synchronous commit)", raw_pop, our_pop),
    ):
        print(f"| {name} | {raw:,.0f} | {ours:,.0f} | {ours / raw:.2f}x |")


if __name__ == "__main__":
    main()
