"""RabbitMQ backend throughput beside raw pika doing the same work.

Both sides publish persistent messages to a durable queue and wait for each
publisher confirm, then take each message with ``basic_get`` and ack it
manually: the work behind ``push()`` and ``pop()`` + ``complete()``.

    QUEUEDECK_TEST_RABBITMQ_URL=amqp://... python bench/rabbitmq.py [count]

Prints a Markdown table; use a broker on this machine (scripts/services).
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid

import pika

from queue_core import Queue, Settings
from queue_core.backends.rabbitmq import RabbitMQBackend


def raw_pika(url: str, count: int) -> tuple[float, float]:
    """Return (push/s, pop+complete/s) for raw pika."""
    name = f"bench-raw-{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.queue_declare(name, durable=True, arguments={"x-max-priority": 9})
    properties = pika.BasicProperties(
        delivery_mode=pika.DeliveryMode.Persistent, content_type="application/json"
    )
    body = json.dumps({"n": 0, "to": "alice@example.com"}).encode()

    started = time.perf_counter()
    for _ in range(count):
        channel.basic_publish("", name, body, properties)
    push_rate = count / (time.perf_counter() - started)

    started = time.perf_counter()
    done = 0
    while True:
        method, _, _ = channel.basic_get(name)
        if method is None:
            break
        channel.basic_ack(method.delivery_tag)
        done += 1
    pop_rate = done / (time.perf_counter() - started)
    assert done == count, f"raw pika took {done} of {count} messages"

    channel.queue_delete(name)
    connection.close()
    return push_rate, pop_rate


def queuedeck(url: str, count: int) -> tuple[float, float]:
    """Return (push/s, pop+complete/s) for the queuedeck RabbitMQ backend."""
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    settings = Settings(backend="rabbitmq", url=url, prefix=prefix)
    queue = Queue("emails", settings=settings)
    queue.counts()  # connect and replay the events stream before timing

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
    cleanup = RabbitMQBackend(url)
    cleanup.delete_queues(prefix)
    cleanup.close()
    return push_rate, pop_rate


def main() -> None:
    url = os.environ.get("QUEUEDECK_TEST_RABBITMQ_URL")
    if not url:
        sys.exit(
            "set QUEUEDECK_TEST_RABBITMQ_URL; run: scripts/services start rabbitmq"
        )
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    raw_push, raw_pop = raw_pika(url, count)
    our_push, our_pop = queuedeck(url, count)

    print(f"{count} jobs, one process, broker on 127.0.0.1\n")
    print("| operation | raw pika (/s) | queuedeck (/s) | ratio |")
    print("|---|---:|---:|---:|")
    for name, raw, ours in (
        ("push (persistent, confirmed)", raw_push, our_push),
        ("pop + complete (basic_get, manual ack)", raw_pop, our_pop),
    ):
        print(f"| {name} | {raw:,.0f} | {ours:,.0f} | {ours / raw:.2f}x |")


if __name__ == "__main__":
    main()
