"""RabbitMQ backend throughput beside raw pika doing the same work.

Both sides publish persistent messages to a durable queue and wait for each
publisher confirm, then take each message with ``basic_get`` and ack it
manually: the work behind ``push()`` and ``pop()`` + ``complete()``.

    QUEUEDECK_TEST_RABBITMQ_URL=amqp://... python bench/rabbitmq.py [count] [rounds]

Prints a Markdown table; use a broker on this machine (scripts/services).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid

import pika

from queue_core import Queue, Settings
from queue_core.backends.rabbitmq import RabbitMQBackend


def raw_pika(url: str, count: int, *, events: int = 0) -> tuple[float, float]:
    """Return (push/s, pop+complete/s) for raw pika.

    With *events*, each pop + complete also publishes that many small
    persistent messages without a confirm, as the backend's claim and
    completion events do: the least any design that records each job's
    state on the broker can cost.
    """
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

    log = f"{name}-events"
    channel.queue_declare(log, durable=True)
    fast = connection.channel()
    event = json.dumps({"op": "job", "id": "0123456789abcdef"}).encode()

    started = time.perf_counter()
    done = 0
    while True:
        method, _, _ = fast.basic_get(name)
        if method is None:
            break
        for _ in range(events):
            fast.basic_publish("", log, event, properties)
        fast.basic_ack(method.delivery_tag)
        done += 1
    pop_rate = done / (time.perf_counter() - started)
    assert done == count, f"raw pika took {done} of {count} messages"

    channel.queue_delete(name)
    channel.queue_delete(log)
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
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    # Rounds alternate between the two sides, so a busy moment on the
    # machine hits both; each figure is the median of its rounds.
    raw: list[tuple[float, float]] = []
    floor: list[tuple[float, float]] = []
    ours: list[tuple[float, float]] = []
    for _ in range(rounds):
        raw.append(raw_pika(url, count))
        floor.append(raw_pika(url, count, events=2))
        ours.append(queuedeck(url, count))
    raw_push = statistics.median(rate for rate, _ in raw)
    raw_pop = statistics.median(rate for _, rate in raw)
    floor_pop = statistics.median(rate for _, rate in floor)
    our_push = statistics.median(rate for rate, _ in ours)
    our_pop = statistics.median(rate for _, rate in ours)

    print(f"{count} jobs, one process, broker on 127.0.0.1, median of {rounds}\n")
    print("| operation | raw pika (/s) | queuedeck (/s) | ratio |")
    print("|---|---:|---:|---:|")
    for name, raw, ours in (
        ("push (persistent, confirmed)", raw_push, our_push),
        ("pop + complete (basic_get, manual ack)", raw_pop, our_pop),
    ):
        print(f"| {name} | {raw:,.0f} | {ours:,.0f} | {ours / raw:.2f}x |")
    print(
        f"\nraw pika with two event publishes per pop + complete: {floor_pop:,.0f}/s "
        f"({floor_pop / raw_pop:.2f}x of raw pika); queuedeck reaches "
        f"{our_pop / floor_pop:.2f}x of that"
    )


if __name__ == "__main__":
    main()
