"""The RabbitMQ connection of one process, shared by its threads.

pika connections are not thread-safe, so every use of the connection holds a
lock, and the calling thread runs its broker work itself: handing it to
another thread cost more than a round trip to the broker. Between calls, a
pump thread runs the connection's I/O every 20 ms, so heartbeats keep flowing
and the index keeps following the stream while a worker runs a long job.

Channels:

- ``confirmed``: publisher confirms on; pushes and operator changes wait for
  the broker's confirm, so a call that returned is on disk.
- ``fast``: no confirms; claims, settles, lease extensions, heartbeats and
  sync markers. Events on one channel reach the stream in publish order, so a
  settle cannot overtake its claim and a marker is read after them.
- ``stream``: consumes the events stream into the :class:`JobIndex`.
- ``claims``: takes jobs from the pending queues with manual acks and holds
  each delivery until its job is settled.

When the connection drops, the pump thread reconnects with exponential
backoff (0.5 s doubling to 10 s), logs each attempt, and resumes the stream
at the next unread offset.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]

from ...errors import BackendUnavailableError, ConfigurationError
from . import snapshots
from .index import JobIndex

logger = logging.getLogger(__name__)

EXCHANGE = "queuedeck"
EVENTS_QUEUE = "queuedeck/events"
EVENT_KEY = "event"
# The newest snapshot covers every event older than this; see snapshots.py.
EVENTS_ARGUMENTS = {
    "x-queue-type": "stream",
    "x-max-age": "7D",
    "x-stream-max-segment-size-bytes": 100_000_000,
}
SNAPSHOT_CHECK_INTERVAL = 1.0
BLOCKED_TIMEOUT = 30.0
SNAPSHOT_LOCKED_WAIT = 5.0
MAX_PRIORITY = 9
STREAM_PREFETCH = 1000
STREAM_ACK_EVERY = 200
BACKOFF_START = 0.5
BACKOFF_MAX = 10.0
# The pump thread runs the connection's I/O this often when no call does.
PUMP_INTERVAL = 0.02
# A caller reading back its own event waits on the socket this long per turn.
READ_BACK_SLICE = 0.005

T = TypeVar("T")


def redact(url: str) -> str:
    """Return *url* with its password replaced by ``***``.

    A user name with no password may itself be a token, so it is hidden too.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    if parts.password is None:
        return urllib.parse.urlunsplit(parts._replace(netloc=f"***@{host}"))
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
    """A connection shared by the threads of one process, behind a lock."""

    def __init__(
        self,
        url: str,
        index: JobIndex,
        *,
        connect_timeout: float,
        snapshot_every: int = snapshots.SNAPSHOT_EVERY,
        snapshot_interval: float = snapshots.SNAPSHOT_INTERVAL,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.username is not None and parts.password is None:
            raise ConfigurationError(
                f"invalid TINA4_QUEUE_URL {redact(url)!r}: it has a user but no "
                "password; use amqp://user:password@host:5672/vhost"
            )
        try:
            self.parameters = pika.URLParameters(url)
        except Exception as exc:
            raise ConfigurationError(
                f"invalid TINA4_QUEUE_URL {redact(url)!r}: {exc}; use "
                "amqp://user:password@host:5672/vhost"
            ) from None
        if self.parameters.blocked_connection_timeout is None:
            # A broker short of memory or disk blocks publishers; without a
            # limit a push would wait for as long as the alarm lasts.
            self.parameters.blocked_connection_timeout = BLOCKED_TIMEOUT
        self.shown_url = redact(url)
        self.index = index
        self.connect_timeout = connect_timeout
        self.snapshot_every = snapshot_every
        self.snapshot_interval = snapshot_interval
        self._next_snapshot_check = 0.0
        #: Incremented on every new connection; delivery tags of an older
        #: connection are void.
        self.generation = 0
        self.connected = threading.Event()
        self._io = threading.RLock()
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

    # Calls from any thread -----------------------------------------------------------

    def call(self, function: Callable[[], T], *, timeout: float | None = None) -> T:
        """Run *function* with the connection to itself and return its result.

        :raises BackendUnavailableError: if the broker cannot be reached
            within *timeout* seconds (default: the connect timeout).
        """
        limit = self.connect_timeout if timeout is None else timeout
        if not self.connected.wait(limit):
            raise self.unavailable()
        with self._io:
            if not self.connected.is_set():
                raise self.unavailable()
            try:
                return function()
            except (pika.exceptions.AMQPError, OSError) as exc:
                if not self._connection.is_open or not self._channels_open():
                    # The pump thread finds the same and reconnects.
                    self._last_error = exc
                    self.connected.clear()
                raise self._translate(exc) from exc

    def wait_for(self, event_id: str, timeout: float) -> bool | None:
        """Read the events stream until *event_id* is applied; see JobIndex.

        The caller reads the stream itself rather than waiting for the pump
        thread, so a read-back costs one trip through the broker.
        """
        deadline = time.monotonic() + timeout
        while True:
            outcome = self.index.outcome(event_id)
            if outcome is not None:
                return outcome
            left = deadline - time.monotonic()
            if left <= 0:
                self.index.forget(event_id)
                return None
            try:
                slice_ = min(left, READ_BACK_SLICE)
                self.call(functools.partial(self._pump, slice_), timeout=left)
            except BackendUnavailableError:
                if time.monotonic() >= deadline:
                    self.index.forget(event_id)
                    return None
                time.sleep(min(0.05, max(left, 0)))

    def unavailable(self) -> BackendUnavailableError:
        reason = f": {self._last_error}" if self._last_error else ""
        return BackendUnavailableError(
            f"RabbitMQ at {self.shown_url} cannot be reached{reason}; check that "
            "the broker runs and TINA4_QUEUE_URL is right"
        )

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)

    # The pump thread -----------------------------------------------------------------

    def _run(self) -> None:
        delay = BACKOFF_START
        while not self._stopping.is_set():
            try:
                with self._io:
                    self._connect()
                delay = BACKOFF_START
                self._keep_pumping()
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
            except Exception:
                # A bug must not end the thread: without it every call in
                # this process would wait for a connection that never comes.
                logger.exception(
                    "RabbitMQ I/O thread failed; reconnecting in %.1f s", delay
                )
            finally:
                with self._io:
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
        if self.index.next_offset == 0:
            self._load_snapshot()
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
            EVENTS_QUEUE, durable=True, arguments=EVENTS_ARGUMENTS
        )
        self.confirmed.queue_bind(EVENTS_QUEUE, EXCHANGE, routing_key="#")

    def _keep_pumping(self) -> None:
        # Runs the connection's I/O between calls, so heartbeats flow and the
        # index follows the stream while a worker runs a long job. The lock is
        # held only for one non-blocking pass, never while sleeping.
        while not self._stopping.wait(PUMP_INTERVAL):
            with self._io:
                if not self.connected.is_set():
                    raise self._last_error or pika.exceptions.AMQPConnectionError(
                        "connection lost"
                    )
                self._pump(0)
                self._maybe_snapshot()

    def _load_snapshot(self) -> None:
        connection = pika.BlockingConnection(self.parameters)
        try:
            found = snapshots.read(connection)
        except (ValueError, zlib.error) as exc:
            logger.warning("the newest index snapshot is unreadable (%s); ignored", exc)
            found = None
        finally:
            close_quietly(connection)
        if found is None:
            return
        data, taken_at = found
        self.index.load(data, taken_at=taken_at)
        logger.info(
            "loaded the index snapshot of events stream offset %d (%d jobs)",
            self.index.next_offset,
            len(data["jobs"]),
        )

    def _maybe_snapshot(self) -> None:
        if time.monotonic() < self._next_snapshot_check:
            return
        self._next_snapshot_check = time.monotonic() + SNAPSHOT_CHECK_INTERVAL
        if not snapshots.due(
            self.index,
            every=self.snapshot_every,
            interval=self.snapshot_interval,
            now=time.time(),
        ):
            return
        announcement = snapshots.write(self._connection, self.index)
        if announcement is None:
            # Another process is writing one; its announcement will follow.
            self._next_snapshot_check = time.monotonic() + SNAPSHOT_LOCKED_WAIT
            return
        self._send(announcement, EVENT_KEY, confirm=False)

    def _pump(self, time_limit: float) -> None:
        self._connection.process_data_events(time_limit=time_limit)
        if self._unacked_events:
            self.stream.basic_ack(self._last_event_tag, multiple=True)
            self._unacked_events = 0

    def _channels_open(self) -> bool:
        channels = (self.confirmed, self.fast, self.stream, self.claims)
        return all(channel is not None and channel.is_open for channel in channels)

    def _translate(self, exc: BaseException) -> BackendUnavailableError:
        return BackendUnavailableError(
            f"RabbitMQ at {self.shown_url} failed: {type(exc).__name__}: {exc}"
        )

    def _disconnect(self) -> None:
        self.connected.clear()
        connection = self._connection
        if connection is not None and connection.is_open:
            with contextlib.suppress(Exception):
                self._pump(0)
            close_quietly(connection)
        self._connection = None

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

    # Helpers for calls that hold the connection lock -----------------------------

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
        self._send(event, routing_key, confirm, headers, priority, message_id)

    def _send(
        self,
        event: dict[str, Any],
        routing_key: str,
        confirm: bool,
        headers: dict[str, Any] | None = None,
        priority: int = 0,
        message_id: str | None = None,
    ) -> None:
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


def close_quietly(connection: Any) -> None:
    """Close *connection*, which may consume a stream, without an error.

    BlockingConnection.close() cancels each consumer and rejects the
    deliveries still in flight, and a stream queue responds to a reject by
    closing the connection with an error. A protocol-level close ends the
    channels without that teardown.
    """
    if not connection.is_open:
        return
    with contextlib.suppress(Exception):
        connection._impl.close(200, "Normal shutdown")
        deadline = time.monotonic() + 2
        while not connection.is_closed and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.05)
