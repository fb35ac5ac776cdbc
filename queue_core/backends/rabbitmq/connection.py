"""The one thread per process that owns the RabbitMQ connection.

pika connections are not thread-safe, so a single I/O thread owns the
connection and its three channels, and other threads hand it work through
:meth:`Link.call`. Because that thread keeps running the connection's event
loop while a worker runs a long job, heartbeats keep flowing however long the
job takes.

Channels:

- ``confirmed``: publisher confirms on; pushes and failures wait for the
  broker's confirm, so a call that returned is on disk.
- ``fast``: no confirms; claims, completions, lease extensions, heartbeats and
  sync markers. Events on one channel reach the stream in publish order, so a
  marker published after them is read after them.
- ``stream``: consumes the events stream into the :class:`JobIndex`.
- ``claims``: takes jobs from the pending queues with manual acks and holds
  each delivery until its job is settled.

When the connection drops, the thread reconnects with exponential backoff
(0.5 s doubling to 10 s), logs each attempt, and resumes the stream at the
next unread offset.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import urllib.parse
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]

from ...errors import BackendUnavailableError, ConfigurationError
from .index import JobIndex

logger = logging.getLogger(__name__)

EXCHANGE = "queuedeck"
EVENTS_QUEUE = "queuedeck/events"
EVENT_KEY = "event"
MAX_PRIORITY = 9
STREAM_PREFETCH = 1000
STREAM_ACK_EVERY = 200
BACKOFF_START = 0.5
BACKOFF_MAX = 10.0

T = TypeVar("T")


def redact(url: str) -> str:
    """Return *url* with its password replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = urllib.parse.quote(parts.username or "", safe="")
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def pending_queue(topic: str) -> str:
    """Return the pending queue of *topic*.

    Topics contain only letters, digits, ``.``, ``_`` and ``-``, so the ``/``
    separators keep every queue name apart: topic ``a.failed`` cannot meet the
    failed queue of topic ``a``. The ``queuedeck/`` start also keeps names out
    of the ``amq.`` namespace that RabbitMQ reserves.
    """
    return f"queuedeck/{topic}"


def failed_queue(topic: str) -> str:
    return f"queuedeck/{topic}/failed"


def dead_queue(topic: str) -> str:
    return f"queuedeck/{topic}/dead"


class Link:
    """A connection owned by one I/O thread, with calls handed to it."""

    def __init__(self, url: str, index: JobIndex, *, connect_timeout: float) -> None:
        try:
            self.parameters = pika.URLParameters(url)
        except Exception as exc:
            raise ConfigurationError(
                f"invalid TINA4_QUEUE_URL {redact(url)!r}: {exc}; use "
                "amqp://user:password@host:5672/vhost"
            ) from None
        self.shown_url = redact(url)
        self.index = index
        self.connect_timeout = connect_timeout
        #: Incremented on every new connection; delivery tags of an older
        #: connection are void.
        self.generation = 0
        self.connected = threading.Event()
        self._requests: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = (
            queue.SimpleQueue()
        )
        self._stopping = threading.Event()
        self._connection: Any = None
        self.confirmed: Any = None
        self.fast: Any = None
        self.stream: Any = None
        self.claims: Any = None
        self._last_event_tag = 0
        self._declared: set[str] = set()
        self._unacked_events = 0
        self._last_error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name="queuedeck-rabbitmq", daemon=True
        )
        self._thread.start()

    # Calls from other threads -----------------------------------------------------

    def call(self, function: Callable[[], T], *, timeout: float | None = None) -> T:
        """Run *function* on the I/O thread and return its result.

        :raises BackendUnavailableError: if the broker cannot be reached
            within *timeout* seconds (default: the connect timeout).
        """
        limit = self.connect_timeout if timeout is None else timeout
        if not self.connected.wait(limit):
            raise self.unavailable()
        future: Future[T] = Future()
        self._requests.put((function, future))
        connection = self._connection
        if connection is not None:
            # The loop drains requests within 50 ms even if this wake-up fails.
            with contextlib.suppress(Exception):
                connection.add_callback_threadsafe(_nothing)
        try:
            return future.result(timeout=limit + 30)
        except TimeoutError:
            raise self.unavailable() from None

    def unavailable(self) -> BackendUnavailableError:
        reason = f": {self._last_error}" if self._last_error else ""
        return BackendUnavailableError(
            f"RabbitMQ at {self.shown_url} cannot be reached{reason}; check that "
            "the broker runs and TINA4_QUEUE_URL is right"
        )

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    # The I/O thread ---------------------------------------------------------------

    def _run(self) -> None:
        delay = BACKOFF_START
        while not self._stopping.is_set():
            try:
                self._connect()
                delay = BACKOFF_START
                self._loop()
            except pika.exceptions.ProbableAuthenticationError as exc:
                self._last_error = exc
                logger.error("RabbitMQ at %s rejected the login", self.shown_url)
            except (pika.exceptions.AMQPError, OSError) as exc:
                self._last_error = exc
                if self.generation:
                    logger.warning(
                        "RabbitMQ connection to %s lost (%s); reconnecting in %.1f s",
                        self.shown_url,
                        type(exc).__name__,
                        delay,
                    )
            finally:
                self._disconnect()
            if self._stopping.wait(delay):
                break
            delay = min(delay * 2, BACKOFF_MAX)

    def _connect(self) -> None:
        self._connection = pika.BlockingConnection(self.parameters)
        self.confirmed = self._connection.channel()
        self.confirmed.confirm_delivery()
        self.fast = self._connection.channel()
        self.stream = self._connection.channel()
        self.claims = self._connection.channel()
        self._declared = set()
        self._declare_events()
        self.stream.basic_qos(prefetch_count=STREAM_PREFETCH)
        self.stream.basic_consume(
            EVENTS_QUEUE,
            self._on_event,
            arguments={"x-stream-offset": self.index.next_offset},
        )
        self.generation += 1
        if self.generation > 1:
            logger.info("RabbitMQ connection to %s restored", self.shown_url)
        else:
            logger.info("connected to RabbitMQ at %s", self.shown_url)
        self._last_error = None
        self.connected.set()

    def _declare_events(self) -> None:
        self.confirmed.exchange_declare(EXCHANGE, "topic", durable=True)
        self.confirmed.queue_declare(
            EVENTS_QUEUE, durable=True, arguments={"x-queue-type": "stream"}
        )
        self.confirmed.queue_bind(EVENTS_QUEUE, EXCHANGE, routing_key="#")

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._connection.process_data_events(time_limit=0.05)
            self._drain_requests()
            if self._unacked_events:
                self.stream.basic_ack(self._last_event_tag, multiple=True)
                self._unacked_events = 0

    def _drain_requests(self) -> None:
        while True:
            try:
                function, future = self._requests.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(function())
            except (pika.exceptions.AMQPError, OSError) as exc:
                future.set_exception(self._translate(exc))
                if not self._connection.is_open or not self._channels_open():
                    raise
            except BaseException as exc:
                future.set_exception(exc)

    def _channels_open(self) -> bool:
        channels = (self.confirmed, self.fast, self.stream, self.claims)
        return all(channel.is_open for channel in channels)

    def _translate(self, exc: BaseException) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"RabbitMQ at {self.shown_url} failed: {type(exc).__name__}: {exc}"
        )

    def _disconnect(self) -> None:
        self.connected.clear()
        connection, self._connection = self._connection, None
        if connection is not None and connection.is_open:
            with contextlib.suppress(Exception):
                connection.close()
        # Requests that never ran fail now, so no caller waits for a dead link.
        while True:
            try:
                _, future = self._requests.get_nowait()
            except queue.Empty:
                break
            if future.set_running_or_notify_cancel():
                future.set_exception(self.unavailable())

    def _on_event(
        self, channel: Any, method: Any, properties: Any, body: bytes
    ) -> None:
        headers = properties.headers or {}
        offset = int(headers.get("x-stream-offset", self.index.next_offset))
        try:
            event = json.loads(body)
        except ValueError:
            logger.error("events stream offset %d is not JSON; skipped", offset)
            event = {}
        if isinstance(event, dict):
            self.index.apply(event, offset)
        self._unacked_events += 1
        self._last_event_tag = method.delivery_tag
        if self._unacked_events >= STREAM_ACK_EVERY:
            channel.basic_ack(method.delivery_tag, multiple=True)
            self._unacked_events = 0

    # Helpers for calls that run on the I/O thread ------------------------------------

    def declare_topic(self, topic: str) -> None:
        """Declare *topic*'s pending, failed and dead queues once per connection."""
        if topic in self._declared:
            return
        channel = self.confirmed
        channel.queue_declare(
            pending_queue(topic),
            durable=True,
            arguments={"x-max-priority": MAX_PRIORITY},
        )
        channel.queue_bind(pending_queue(topic), EXCHANGE, f"pending.{topic}")
        for name, key in ((failed_queue(topic), "failed"), (dead_queue(topic), "dead")):
            channel.queue_declare(name, durable=True)
            channel.queue_bind(name, EXCHANGE, f"{key}.{topic}")
        self._declared.add(topic)

    def forget_topics(self, topics: list[str]) -> None:
        """Declare *topics*' queues again on next use; they were deleted."""
        self._declared.difference_update(topics)

    def publish(
        self,
        event: dict[str, Any],
        *,
        routing_key: str = EVENT_KEY,
        confirm: bool,
        headers: dict[str, Any] | None = None,
        priority: int = 0,
        message_id: str | None = None,
    ) -> None:
        """Publish *event* as a persistent message; wait for the confirm if asked."""
        channel = self.confirmed if confirm else self.fast
        properties = pika.BasicProperties(
            delivery_mode=pika.DeliveryMode.Persistent,
            content_type="application/json",
            headers=headers,
            priority=priority,
            message_id=message_id,
        )
        try:
            channel.basic_publish(
                EXCHANGE,
                routing_key,
                json.dumps(event, separators=(",", ":")).encode(),
                properties,
                mandatory=confirm and routing_key != EVENT_KEY,
            )
        except pika.exceptions.UnroutableError as exc:
            raise BackendUnavailableError(
                f"RabbitMQ returned a message for {routing_key!r} as unroutable; "
                "its queue was deleted while in use"
            ) from exc


def _nothing() -> None:
    return None
