"""The Kafka clients of one process: address parsing, topic names, the state link.

A :class:`Link` owns one producer, one admin client and one consumer that
follows the state topic on a daemon thread, folding each message into a
:class:`JobIndex`. librdkafka's clients are thread-safe, so every thread of a
process shares one link; a forked child builds its own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Sequence
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from ...errors import BackendUnavailableError, ConfigurationError
from .address import KafkaAddress
from .index import JobIndex

logger = logging.getLogger(__name__)

# A job message contains the payload (1 MiB by default) and an error text of up
# to 65536 characters, both escaped once more inside the message's JSON.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# Room that a job's later messages need beyond its first one. Its error text
# of up to 65536 characters takes up to 12 bytes per character once JSON
# escapes it (a surrogate pair). The lease and signature fields and
# librdkafka's framing of each message add a little more.
JOB_MESSAGE_RESERVE_BYTES = 1024 * 1024
# The largest key plus value a push may produce.
MAX_JOB_MESSAGE_BYTES = MAX_MESSAGE_BYTES - JOB_MESSAGE_RESERVE_BYTES
# Compaction leaves the newest hour alone, so a writer whose conditional
# message lost a race has time to write the job's state again after it.
MIN_COMPACTION_LAG_MS = 60 * 60 * 1000
FOLLOW_BATCH = 500
FOLLOW_TIMEOUT_SECONDS = 0.2
ERROR_LOG_INTERVAL_SECONDS = 30.0
# Kafka's maximum topic name length.
MAX_TOPIC_NAME_LENGTH = 249
# The queue's part of a name leaves room for "queuedeck-" and "-pending", the
# longest parts that job_topic() and consumer_group() add.
MAX_QUEUE_NAME_LENGTH = MAX_TOPIC_NAME_LENGTH - len("queuedeck-") - len("-pending")

# Every object of this process that owns librdkafka clients. A forked child
# keeps the ones it inherited alive until it exits: freeing one there would
# destroy a client whose threads exist only in the parent, which hangs.
_CLIENT_OWNERS: weakref.WeakSet[object] = weakref.WeakSet()
_INHERITED_OWNERS: list[object] = []


def track_client_owner(owner: object) -> None:
    """Register *owner*, an object with librdkafka clients, for fork safety."""
    _CLIENT_OWNERS.add(owner)


def _keep_inherited_owners() -> None:
    _INHERITED_OWNERS.extend(_CLIENT_OWNERS)
    _CLIENT_OWNERS.clear()


os.register_at_fork(after_in_child=_keep_inherited_owners)


def new_client(kind: Any, address: KafkaAddress, config: dict[str, Any]) -> Any:
    """Return a librdkafka client of class *kind* built from *config*.

    :raises ConfigurationError: if librdkafka rejects an option, which comes
        from the query of ``TINA4_QUEUE_URL`` unless queuedeck set it.
    """
    try:
        return kind(config)
    except KafkaException as exc:
        error = exc.args[0]
        if error.code() != KafkaError._INVALID_ARG:
            raise
        raise ConfigurationError(
            "invalid Kafka client option in TINA4_QUEUE_URL: "
            f"{address.hide_secrets(error.str())}; fix or remove the option, "
            "following librdkafka's CONFIGURATION.md"
        ) from None


# Topic names --------------------------------------------------------------------


def encode_name(name: str) -> str:
    """Return *name* with every character but letters and digits as ``_xx``.

    The result has no ``.`` or ``-``, so the ``-`` separators below keep
    every Kafka topic name apart: topic ``a-failed`` never meets the failed
    topic of ``a``. Names contain no ``.``, so Kafka's warning about topics
    that differ only in ``.`` and ``_`` never fires.
    """
    return "".join(
        char if char.isascii() and char.isalnum() else f"_{ord(char):02x}"
        for char in name
    )


def state_topic(prefix: str) -> str:
    """Return the compacted topic that contains the state of *prefix*'s jobs."""
    return f"queuedeck-{encode_name(prefix)}-state" if prefix else "queuedeck-state"


def queue_name(prefix: str, topic: str) -> str:
    """Return the part of Kafka names that identifies *topic* of *prefix*.

    *topic* is the full topic, prefix included. A prefixed topic gives two
    ``-``-separated fields, ``<prefix>-<topic without prefix>``, and a topic
    without a prefix gives one. So prefix ``a`` with topic ``b`` (full topic
    ``a.b``) and topic ``a.b`` without a prefix, whose jobs live in different
    state topics, never share a Kafka topic or consumer group.

    A name longer than :data:`MAX_QUEUE_NAME_LENGTH` is cut and ends in
    ``_z`` and 20 hex digits of its SHA-256, so every job topic fits Kafka's
    limit. ``encode_name`` never writes ``_z``, so a cut name never equals an
    uncut one.

    :raises ConfigurationError: if *topic* does not start with *prefix* and
        a dot, which happens only when a queue shares a backend opened with
        another ``TINA4_QUEUE_PREFIX``.
    """
    if not prefix:
        name = encode_name(topic)
    elif topic.startswith(prefix + "."):
        name = f"{encode_name(prefix)}-{encode_name(topic[len(prefix) + 1 :])}"
    else:
        raise ConfigurationError(
            f"topic {topic!r} is outside the backend's TINA4_QUEUE_PREFIX "
            f"{prefix!r}; give the queue the settings its backend was opened with"
        )
    if len(name) <= MAX_QUEUE_NAME_LENGTH:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:20]
    return f"{name[: MAX_QUEUE_NAME_LENGTH - 22]}_z{digest}"


def job_topic(prefix: str, topic: str, kind: str) -> str:
    """Return the Kafka topic of *topic*'s ``pending``, ``failed`` or ``dead`` jobs."""
    return f"queuedeck-{queue_name(prefix, topic)}-{kind}"


def consumer_group(prefix: str, topic: str) -> str:
    """Return the consumer group whose committed offsets track *topic*'s jobs."""
    return f"queuedeck-{queue_name(prefix, topic)}-workers"


# The link -----------------------------------------------------------------------


class ClientErrorLog:
    """The ``error_cb`` of librdkafka clients: one WARNING per interval.

    librdkafka reports broker outages here while it reconnects on its own.
    """

    def __init__(self) -> None:
        self._next_log = 0.0

    def __call__(self, error: Any) -> None:
        now = time.monotonic()
        if now >= self._next_log:
            self._next_log = now + ERROR_LOG_INTERVAL_SECONDS
            logger.warning("kafka client error (it retries on its own): %s", error)


class Link:
    """One process's producer, admin client and state-topic follower."""

    def __init__(
        self, address: KafkaAddress, prefix: str, index: JobIndex, *, timeout: float
    ) -> None:
        self.address = address
        self.index = index
        self.timeout = timeout
        self.state = state_topic(prefix)
        # The offset of the newest state message this process stored.
        self.last_written = -1
        self._created: set[str] = set()
        self._closed = threading.Event()
        # The clients get an error callback that does not refer back to the
        # link. A cycle would leave a closed link for the garbage collector,
        # which in a forked child destroys the parent's clients and hangs.
        self._log_client_error = ClientErrorLog()
        config = address.client_config()
        self.admin: Any = new_client(
            AdminClient, address, {**config, "socket.timeout.ms": 10_000}
        )
        self.producer: Any = new_client(
            Producer,
            address,
            {
                **config,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 0,
                "compression.type": "lz4",
                "message.max.bytes": MAX_MESSAGE_BYTES,
                # A message that send() gave up on must not be stored later.
                "message.timeout.ms": int(timeout * 1000),
                "error_cb": self._log_client_error,
            },
        )
        self.create_topics([self.state], compacted=True, partitions=1)
        self._follower: Any = self._consumer("follow")
        self._follower.assign([TopicPartition(self.state, 0, OFFSET_BEGINNING)])
        self._lookup: Any = self._consumer("lookup")
        self._thread = threading.Thread(
            target=self._follow, name=f"queuedeck-kafka-{self.state}", daemon=True
        )
        self._thread.start()
        track_client_owner(self)

    def _consumer(self, role: str) -> Any:
        # A group id is required by the client, but these consumers only use
        # assign() and never commit, so the group is never joined.
        return new_client(
            Consumer,
            self.address,
            {
                **self.address.client_config(),
                "group.id": f"queuedeck-{role}-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
                "fetch.wait.max.ms": 100,
                "fetch.max.bytes": 2 * MAX_MESSAGE_BYTES,
                "max.partition.fetch.bytes": MAX_MESSAGE_BYTES,
                "isolation.level": "read_uncommitted",
                "error_cb": self._log_client_error,
            },
        )

    # Topics ---------------------------------------------------------------------

    def create_topics(
        self, names: list[str], *, compacted: bool = False, partitions: int = 1
    ) -> None:
        """Create the topics in *names* that this process has not seen yet."""
        missing = [name for name in names if name not in self._created]
        if not missing:
            return
        config = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
        if compacted:
            config["cleanup.policy"] = "compact"
            config["min.compaction.lag.ms"] = str(MIN_COMPACTION_LAG_MS)
        topics = [
            NewTopic(
                name,
                num_partitions=partitions,
                replication_factor=self.address.replication,
                config=config,
            )
            for name in missing
        ]
        futures = self.admin.create_topics(topics, request_timeout=self.timeout)
        for name, future in futures.items():
            try:
                future.result(timeout=self.timeout)
            except TimeoutError as exc:
                raise self.unavailable(
                    f"creating topic {name!r} timed out after {self.timeout:g} s", exc
                ) from exc
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise self.unavailable(
                        f"creating topic {name!r} failed", exc
                    ) from exc
            self._created.add(name)

    # Writing --------------------------------------------------------------------

    def send(self, messages: Sequence[tuple[str, str, bytes | None]]) -> list[int]:
        """Produce ``(topic, key, value)`` messages and wait until all are stored.

        Returns each message's offset, in order.

        :raises BackendUnavailableError: if a message is not acknowledged by
            every in-sync replica within the timeout.
        """
        results: list[Any] = [None] * len(messages)
        done = threading.Event()
        remaining = [len(messages)]
        lock = threading.Lock()

        def delivered(position: int, error: Any, message: Any) -> None:
            results[position] = error if error is not None else message.offset()
            with lock:
                remaining[0] -= 1
                if remaining[0] == 0:
                    done.set()

        for position, (topic, key, value) in enumerate(messages):
            self._produce(topic, key, value, position, delivered)
        deadline = time.monotonic() + self.timeout
        while not done.is_set():
            if time.monotonic() > deadline:
                raise BackendUnavailableError(
                    f"Kafka at {self.address.bootstrap} did not acknowledge a "
                    f"message within {self.timeout:g} s; check the broker's health"
                )
            self.producer.poll(0.05)
        for result in results:
            if not isinstance(result, int):
                raise self.unavailable("producing a message failed", result)
        offsets = [int(result) for result in results]
        for (topic, _, _), offset in zip(messages, offsets, strict=True):
            if topic == self.state and offset > self.last_written:
                self.last_written = offset
        return offsets

    def send_later(self, topic: str, key: str, value: bytes) -> None:
        """Produce a message without waiting; a failure is logged, not raised."""

        def delivered(_: int, error: Any, message: Any) -> None:
            if error is not None:
                logger.error("storing job %s on topic %r failed: %s", key, topic, error)

        self._produce(topic, key, value, 0, delivered)

    def _produce(
        self, topic: str, key: str, value: bytes | None, position: int, callback: Any
    ) -> None:
        while True:
            try:
                self.producer.produce(
                    topic,
                    value,
                    key.encode(),
                    on_delivery=lambda error, message: callback(
                        position, error, message
                    ),
                )
                return
            except BufferError:
                # The local send buffer is full: serve delivery reports first.
                self.producer.poll(0.05)

    # Reading --------------------------------------------------------------------

    def end_offset(self) -> int:
        """Return the offset after the last message of the state topic."""
        partition = TopicPartition(self.state, 0)
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                _, high = self._lookup.get_watermark_offsets(
                    partition, timeout=max(remaining, 0.1), cached=False
                )
                return int(high)
            except KafkaException as exc:
                # A topic created a moment ago may be missing from the
                # client's metadata, and a restarting broker returns "not
                # leader" until the partition has a leader again, so every
                # error but a fatal one is retried until the deadline.
                if exc.args[0].fatal() or time.monotonic() > deadline:
                    raise self.unavailable(
                        "reading the end of the state topic failed", exc
                    ) from exc
            time.sleep(0.05)

    def wait_applied(self, offset: int) -> None:
        """Wait until the follower has applied the message at *offset*."""
        if not self.index.wait_past(offset, self.timeout):
            raise BackendUnavailableError(
                f"the state topic {self.state!r} at {self.address.bootstrap} was "
                f"not read up to offset {offset} within {self.timeout:g} s; check "
                "the broker's health"
            )

    def own_writes(self) -> JobIndex:
        """Wait until the index contains every state message this process stored."""
        self.wait_applied(self.last_written)
        return self.index

    def sync(self) -> JobIndex:
        """Wait until the index contains every message stored before this call."""
        end = self.end_offset()
        if not self.index.wait_until(end, self.timeout):
            raise BackendUnavailableError(
                f"the state topic {self.state!r} at {self.address.bootstrap} was "
                f"not read up to offset {end} within {self.timeout:g} s; check the "
                "broker's health"
            )
        return self.index

    def _follow(self) -> None:
        while not self._closed.is_set():
            try:
                # consume() with a timeout waits for a full batch, so wait for
                # one message, then take whatever else is already fetched.
                first = self._follower.poll(FOLLOW_TIMEOUT_SECONDS)
                if first is None:
                    continue
                messages = [first, *self._follower.consume(FOLLOW_BATCH, 0)]
            except RuntimeError:
                return  # the consumer was closed
            for message in messages:
                error = message.error()
                if error is not None:
                    self._log_client_error(error)
                    continue
                self._apply(message)

    def _apply(self, message: Any) -> None:
        key = (message.key() or b"").decode()
        raw = message.value()
        try:
            value = None if raw is None else json.loads(raw)
        except ValueError:
            logger.error(
                "state topic %r: message at offset %d is not JSON; skipped",
                self.state,
                message.offset(),
            )
            self.index.advance(message.offset() + 1)
            return
        try:
            self.index.apply(key, value, message.offset())
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            # A message this version cannot read must not stop the follower,
            # or every later read of this process would time out.
            logger.error(
                "state topic %r: message at offset %d is invalid (%s); skipped",
                self.state,
                message.offset(),
                exc,
            )
            self.index.advance(message.offset() + 1)

    def unavailable(self, what: str, error: Any) -> BackendUnavailableError:
        """Return the error for a failed Kafka call, naming the broker."""
        return BackendUnavailableError(
            f"{what} on Kafka at {self.address.bootstrap}: {error}"
        )

    def close(self) -> None:
        """Stop following the state topic, flush and release every client.

        The clients are released here and not by the garbage collector, so
        their librdkafka threads stop in this thread at a known point.
        """
        self._closed.set()
        self._thread.join(timeout=5)
        self.producer.flush(self.timeout)
        self._follower.close()
        self._lookup.close()
        self.producer = self.admin = self._follower = self._lookup = None
