"""RabbitMQ backend throughput beside raw pika doing the same work.

Both sides publish persistent messages to a durable queue and wait for each
publisher confirm, then take each message with ``basic_get`` and ack it
manually: the work behind ``push()`` and ``pop()`` + ``complete()``.

    QUEUEDECK_TEST_RABBITMQ_URL=amqp://... python bench/rabbitmq.py [count] [rounds]

A third side, the floor, is raw pika doing only the broker work that a design
recording each job and claim on the broker must add (see :func:`floor`).
Prints a Markdown table. Use a broker on this machine (scripts/services).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import pika

from queue_core import Queue, Settings
from queue_core.backends.rabbitmq import RabbitMQBackend
from queue_core.backends.rabbitmq.connection import PUMP_INTERVAL, close_quietly

PERSISTENT = pika.BasicProperties(
    delivery_mode=pika.DeliveryMode.Persistent, content_type="application/json"
)


def raw_pika(url: str, count: int) -> tuple[float, float]:
    """Return (push/s, pop+complete/s) for raw pika."""
    name = f"bench-raw-{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.queue_declare(name, durable=True, arguments={"x-max-priority": 9})

    started = time.perf_counter()
    for n in range(count):
        channel.basic_publish("", name, small_body(n), PERSISTENT)
    push_rate = count / (time.perf_counter() - started)

    pop_rate = drain(connection.channel(), name, count)

    channel.queue_delete(name)
    connection.close()
    return push_rate, pop_rate


def floor(url: str, count: int) -> tuple[float, float]:
    """Return (push/s, pop+complete/s) for the least a job record can cost.

    Raw pika, with none of the backend's logic, does only the broker work of
    a design that stores each job before ``push()`` returns, sends each claim
    before ``pop()`` returns, and reads both back. A push publishes a message
    the size of the backend's through a topic exchange to a queue and a
    stream, with a confirm. A pop + complete takes the message with
    ``basic_get`` and publishes one unconfirmed event before the ack, one
    fewer than the backend: the completion of one job rides in the claim of
    the next. A consumer on the same connection reads the stream back.
    """
    tag = uuid.uuid4().hex[:8]
    name, log, exchange = f"bench-floor-{tag}", f"bench-floor-{tag}-log", f"bench-{tag}"
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    channel.exchange_declare(exchange, "topic", durable=True)
    channel.queue_declare(name, durable=True, arguments={"x-max-priority": 9})
    channel.queue_declare(log, durable=True, arguments={"x-queue-type": "stream"})
    channel.queue_bind(name, exchange, "pending")
    channel.queue_bind(log, exchange, "#")
    reader = connection.channel()
    reader.basic_qos(prefetch_count=1000)
    read = 0

    def on_event(channel: Any, method: Any, properties: Any, body: bytes) -> None:
        nonlocal read
        json.loads(body)
        read += 1
        if read % 200 == 0:
            channel.basic_ack(method.delivery_tag, multiple=True)

    reader.basic_consume(log, on_event, arguments={"x-stream-offset": "next"})
    properties = pika.BasicProperties(
        delivery_mode=pika.DeliveryMode.Persistent,
        content_type="application/json",
        headers={"x-queuedeck-attempts": 0},
        message_id="0" * 32,
    )

    next_read = 0.0

    def follow() -> None:
        # Reads the stream as often as the backend's pump thread does.
        nonlocal next_read
        if time.monotonic() >= next_read:
            next_read = time.monotonic() + PUMP_INTERVAL
            connection.process_data_events(time_limit=0)

    started = time.perf_counter()
    for n in range(count):
        channel.basic_publish(exchange, "pending", record_body(n), properties)
        follow()
    push_rate = count / (time.perf_counter() - started)

    event = json.dumps({"op": "job", "id": "0" * 32, "set": {"status": "reserved"}})
    pop_rate = drain(
        connection.channel(),
        name,
        count,
        exchange=exchange,
        event=event.encode(),
        follow=follow,
    )
    assert read >= count, f"the floor read back only {read} events"

    channel.queue_delete(name)
    channel.queue_delete(log)
    channel.exchange_delete(exchange)
    close_quietly(connection)
    return push_rate, pop_rate


def drain(
    channel: Any,
    name: str,
    count: int,
    *,
    exchange: str = "",
    event: bytes = b"",
    follow: Callable[[], None] | None = None,
) -> float:
    """Take and ack every message of queue *name*; return messages per second.

    With *event*, publish it to *exchange* before each ack. *follow* is
    called after each message.
    """
    started = time.perf_counter()
    done = 0
    while True:
        method, _, _ = channel.basic_get(name)
        if method is None:
            break
        if event:
            channel.basic_publish(exchange, "event", event, PERSISTENT)
        channel.basic_ack(method.delivery_tag)
        if follow is not None:
            follow()
        done += 1
    rate = done / (time.perf_counter() - started)
    assert done == count, f"took {done} of {count} messages from {name}"
    return rate


def small_body(n: int) -> bytes:
    return json.dumps({"n": n, "to": "alice@example.com"}).encode()


def record_body(n: int) -> bytes:
    # The shape of the backend's push event: the whole job record.
    record = {
        "id": f"{n:032x}",
        "topic": "bench.emails",
        "payload": small_body(n).decode(),
        "status": "pending",
        "priority": 0,
        "attempts": 0,
        "max_retries": 3,
        "error": None,
        "signature": None,
        "created_at": time.time(),
        "updated_at": time.time(),
        "available_at": time.time(),
    }
    event = {"op": "job", "id": record["id"], "event": uuid.uuid4().hex}
    return json.dumps(
        {**event, "delivery": uuid.uuid4().hex, "record": record}
    ).encode()


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
    # Each round starts with the next side, so a busy moment on the machine
    # hits each. Each figure is the median of its rounds.
    sides: dict[str, list[tuple[float, float]]] = {
        "raw": [],
        "floor": [],
        "queuedeck": [],
    }
    runners = {"raw": raw_pika, "floor": floor, "queuedeck": queuedeck}
    order = list(runners)
    for _ in range(rounds):
        for side in order:
            sides[side].append(runners[side](url, count))
        order = order[1:] + order[:1]
    push = {side: statistics.median(r for r, _ in runs) for side, runs in sides.items()}
    pop = {side: statistics.median(r for _, r in runs) for side, runs in sides.items()}

    print(f"{count} jobs, one process, broker on 127.0.0.1, median of {rounds}\n")
    print(
        "| operation | raw pika (/s) | floor (/s) | queuedeck (/s) | ratio "
        "| floor ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, rates in (
        ("push (persistent, confirmed)", push),
        ("pop + complete (basic_get, manual ack)", pop),
    ):
        raw, least, ours = rates["raw"], rates["floor"], rates["queuedeck"]
        print(
            f"| {name} | {raw:,.0f} | {least:,.0f} | {ours:,.0f} "
            f"| {ours / raw:.2f}x | {least / raw:.2f}x |"
        )


if __name__ == "__main__":
    main()
