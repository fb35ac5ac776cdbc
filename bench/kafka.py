"""Kafka backend throughput beside raw confluent-kafka doing the same work.

Raw confluent-kafka produces each message with ``acks=all`` and waits for its
delivery report. It then consumes each message and commits its offset
synchronously before taking the next. That is the work behind ``push()`` and
``pop()`` + ``complete()`` when every job must survive a crash.

    QUEUEDECK_TEST_KAFKA_URL=127.0.0.1:19092 python bench/kafka.py [count] [rounds]

Rounds alternate which side goes first, so a busy moment on the machine hits
both, and each figure is the median of its rounds. Prints a Markdown table.
Use a broker on this machine (scripts/services).
"""

from __future__ import annotations

import json
import os
import statistics
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
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    raw: list[tuple[float, float]] = []
    ours: list[tuple[float, float]] = []
    for round_number in range(rounds):
        if round_number % 2 == 0:
            raw.append(raw_kafka(url, count))
            ours.append(queuedeck(url, count))
        else:
            ours.append(queuedeck(url, count))
            raw.append(raw_kafka(url, count))
    for number, (raw_rates, our_rates) in enumerate(zip(raw, ours, strict=True)):
        ratios = [f"{o / r:.2f}x" for r, o in zip(raw_rates, our_rates, strict=True)]
        print(
            f"round {number + 1}: raw {raw_rates[0]:,.0f} / {raw_rates[1]:,.0f}, "
            f"queuedeck {our_rates[0]:,.0f} / {our_rates[1]:,.0f} "
            f"(push / pop + complete per s; {' / '.join(ratios)})"
        )
    raw_push = statistics.median(rate for rate, _ in raw)
    raw_pop = statistics.median(rate for _, rate in raw)
    our_push = statistics.median(rate for rate, _ in ours)
    our_pop = statistics.median(rate for _, rate in ours)

    print(f"\n{count} jobs, one process, broker on 127.0.0.1, median of {rounds}\n")
    print("| operation | raw confluent-kafka (/s) | queuedeck (/s) | ratio |")
    print("|---|---:|---:|---:|")
    for name, raw_rate, our_rate in (
        ("push (acks=all, wait for each delivery)", raw_push, our_push),
        ("pop + complete (consume, synchronous commit)", raw_pop, our_pop),
    ):
        ratio = our_rate / raw_rate
        print(f"| {name} | {raw_rate:,.0f} | {our_rate:,.0f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
