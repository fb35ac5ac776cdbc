"""Committed offsets of the job topics: the settled prefix of each partition.

Every topic's pending Kafka topic has a consumer group,
``queuedeck-<queue>-workers``. After a job is settled, a daemon thread reads
each partition from the group's committed offset and moves past every message
whose job is completed, failed, dead or deleted, stopping at the first job
still pending or reserved. It commits the offset it stopped at. The committed
offsets therefore never pass a job that could still run, and the lag of the
group (end offset minus committed offset) is an upper bound of the jobs not
yet settled. Claims never read these offsets; they come from the state topic.

Commits run on a daemon thread at most every half second, and ``close()``
makes a last pass. A process that exits without closing its queue may leave
its last commits to the next process that settles a job of the topic.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    KafkaException,
    TopicPartition,
)

from ...errors import BackendError, BackendUnavailableError
from ...status import JobStatus
from .address import KafkaAddress
from .connection import (
    consumer_group,
    job_topic,
    new_client,
    track_client_owner,
)
from .index import JobIndex

logger = logging.getLogger(__name__)

COMMIT_INTERVAL_SECONDS = 0.5

_SETTLED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.DEAD)


class SettledOffsets:
    """Commits the settled prefix of each job topic on a daemon thread."""

    def __init__(
        self,
        address: KafkaAddress,
        prefix: str,
        sync: Callable[[], JobIndex],
        *,
        timeout: float,
        interval: float = COMMIT_INTERVAL_SECONDS,
    ) -> None:
        self.address = address
        self.prefix = prefix
        self.sync = sync
        self.timeout = timeout
        self.interval = interval
        self._dirty: set[str] = set()
        self._wake = threading.Condition()
        self._closed = False
        self._consumers: dict[str, Any] = {}
        self._thread: threading.Thread | None = None
        track_client_owner(self)

    def settled(self, topic: str) -> None:
        """Note that a job of *topic* was settled, so its offsets may move."""
        with self._wake:
            self._dirty.add(topic)
            self._wake.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="queuedeck-kafka-offsets", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._closed or bool(self._dirty))
                if self._closed:
                    return
            self.flush()
            # One pass per interval at most, so a busy topic costs a few
            # broker requests per interval, not a few per job.
            with self._wake:
                self._wake.wait_for(lambda: self._closed, self.interval)

    def flush(self) -> None:
        """Commit the settled prefix of every topic noted since the last pass."""
        with self._wake:
            topics, self._dirty = self._dirty, set()
        for topic in topics:
            try:
                self.advance(topic)
            except (KafkaException, BackendError) as exc:
                logger.warning(
                    "committing settled offsets of topic %r failed: %s", topic, exc
                )
                with self._wake:
                    self._dirty.add(topic)

    def advance(self, topic: str) -> dict[int, int]:
        """Commit the settled prefix of every partition of *topic*.

        Returns the committed offset of each partition.
        """
        consumer = self._consumer(topic)
        name = job_topic(self.prefix, topic, "pending")
        metadata = consumer.list_topics(name, timeout=self.timeout).topics.get(name)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            # A topic created a moment ago may have no partitions in the
            # client's metadata yet. Raising makes flush() try again.
            raise BackendUnavailableError(
                f"topic {name!r} has no partitions in the metadata of Kafka at "
                f"{self.address.bootstrap} yet"
            )
        partitions = sorted(metadata.partitions)
        # The end of each partition is read before the state topic. A push
        # stores its state message before its copy, so every copy below these
        # ends has its state message in the index after sync(), and a job the
        # index does not contain was deleted, not merely unread.
        ends = {
            partition: consumer.get_watermark_offsets(
                TopicPartition(name, partition), timeout=self.timeout, cached=False
            )[1]
            for partition in partitions
        }
        index = self.sync()
        stored = consumer.committed(
            [TopicPartition(name, p) for p in partitions], timeout=self.timeout
        )
        result: dict[int, int] = {}
        commits = []
        for position in stored:
            partition = position.partition
            start = position.offset
            if start == OFFSET_INVALID or start < 0:
                start, _ = consumer.get_watermark_offsets(
                    TopicPartition(name, partition), timeout=self.timeout
                )
            end = self._settled_end(
                index, consumer, name, partition, start, ends[partition]
            )
            result[partition] = end
            if end != position.offset:
                commits.append(TopicPartition(name, partition, end))
        if commits:
            consumer.commit(offsets=commits, asynchronous=False)
        return result

    def _settled_end(
        self,
        index: JobIndex,
        consumer: Any,
        name: str,
        partition: int,
        start: int,
        high: int,
    ) -> int:
        if start >= high:
            return start
        consumer.assign([TopicPartition(name, partition, start)])
        offset = start
        try:
            while offset < high:
                message = consumer.poll(self.timeout)
                if message is None:
                    break
                if message.error() is not None:
                    continue
                if message.offset() >= high:
                    break
                if not _is_settled(index, (message.key() or b"").decode()):
                    return offset
                offset = message.offset() + 1
        finally:
            consumer.unassign()
        return offset

    def _consumer(self, topic: str) -> Any:
        consumer = self._consumers.get(topic)
        if consumer is None:
            # assign() and commit() only: the group is never joined, so its
            # offsets can be committed from any process.
            consumer = new_client(
                Consumer,
                self.address,
                {
                    **self.address.client_config(),
                    "group.id": consumer_group(self.prefix, topic),
                    "client.id": f"queuedeck-offsets-{uuid.uuid4().hex[:8]}",
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "auto.offset.reset": "earliest",
                },
            )
            self._consumers[topic] = consumer
        return consumer

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=self.timeout)
            self.flush()
        for consumer in self._consumers.values():
            consumer.close()
        self._consumers = {}


def _is_settled(index: JobIndex, job_id: str) -> bool:
    snapshot = index.snapshot(job_id)
    return snapshot is None or snapshot.record.status in _SETTLED
