"""The clients, leases and write path shared by the Kafka backend's parts."""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from ...errors import PayloadTooLargeError
from ...status import JobStatus
from ..base import Backend, JobRecord, WorkerRecord, invalid_cursor
from .address import KafkaAddress, parse_url, redact
from .connection import (
    JOB_MESSAGE_RESERVE_BYTES,
    MAX_JOB_MESSAGE_BYTES,
    MAX_MESSAGE_BYTES,
    Link,
    job_topic,
)
from .index import JobIndex, record_to_json
from .offsets import SettledOffsets

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30.0
# A claim that loses a race picks at random among this many next jobs, so
# processes racing for the head of a topic spread out instead of colliding.
CLAIM_SPREAD = 8
# A writer whose message lost a race rewrites the job's state, so the newest
# message of the key is a valid one. It tries at most this many times.
RESTATE_ATTEMPTS = 5


@dataclass(slots=True)
class Lease:
    """A job this process holds, with the version its next change names."""

    token: str
    version: int
    record: JobRecord


class BackendCore(Backend):
    """The clients, leases and write path of the Kafka backend."""

    name = "kafka"

    def __init__(
        self, url: str, *, prefix: str = "", timeout: float = TIMEOUT_SECONDS
    ) -> None:
        self.url = url
        self.address: KafkaAddress = parse_url(url)
        self.prefix = prefix
        self.timeout = timeout
        self._lock = threading.Lock()
        self._link_: Link | None = None
        self._offsets: SettledOffsets | None = None
        self._pid = os.getpid()
        self._leases: dict[str, Lease] = {}
        self._claiming: set[str] = set()

    def __repr__(self) -> str:
        return f"<KafkaBackend {redact(self.url)!r} prefix={self.prefix!r}>"

    # Connection ------------------------------------------------------------------

    def _link(self) -> Link:
        with self._lock:
            if self._pid != os.getpid():
                # The parent's clients stay referenced by the fork hook in
                # connection.py, so dropping them here frees nothing.
                self._pid = os.getpid()
                self._link_ = None
                self._offsets = None
                self._leases = {}
                self._claiming = set()
            if self._link_ is None:
                self._link_ = Link(
                    self.address, self.prefix, JobIndex(), timeout=self.timeout
                )
                logger.info(
                    "connected to Kafka at %s (state topic %r)",
                    self.address.bootstrap,
                    self._link_.state,
                )
                self._offsets = SettledOffsets(
                    self.address, self.prefix, self._link_.sync, timeout=self.timeout
                )
            return self._link_

    def close(self) -> None:
        with self._lock:
            link, self._link_ = self._link_, None
            offsets, self._offsets = self._offsets, None
            self._leases = {}
        if self._pid != os.getpid():
            return
        if offsets is not None:
            offsets.close()
        if link is not None:
            link.close()

    def _sync(self) -> JobIndex:
        return self._link().sync()

    # Writing ---------------------------------------------------------------------

    def _write(self, messages: list[tuple[str, dict[str, Any]]]) -> list[bool]:
        """Store job messages keyed by job id; return whether each applied.

        Each message waits until the follower has read it back, so its
        outcome is known. A message that lost a race is followed by a
        rewrite of the job's current state (see :meth:`_restate`).
        """
        if not messages:
            return []
        link = self._link()
        for _, value in messages:
            value["event"] = uuid.uuid4().hex
            link.index.expect(value["event"])
        encoded = [(link.state, job_id, dump_json(value)) for job_id, value in messages]
        try:
            offsets = link.send(encoded)
            link.wait_applied(max(offsets))
        finally:
            outcomes = [link.index.take_outcome(v["event"]) for _, v in messages]
        for (job_id, value), applied in zip(messages, outcomes, strict=True):
            if not applied and "if" in value:
                self._restate(job_id)
        return outcomes

    def _restate(self, job_id: str) -> None:
        """Rewrite the current state of *job_id* after a message lost a race.

        Compaction keeps only the newest message of a key, so that message
        must carry the job's real state, not the loser's. The rewrite names
        the current version and changes nothing in a process that read the
        whole log.
        """
        link = self._link()
        for _ in range(RESTATE_ATTEMPTS):
            snapshot = link.index.snapshot(job_id)
            if snapshot is None:
                link.send([(link.state, job_id, None)])
                return
            value = state_change(snapshot.record, snapshot.version, bump=False)
            value["event"] = uuid.uuid4().hex
            link.index.expect(value["event"])
            offset = link.send([(link.state, job_id, dump_json(value))])[0]
            link.wait_applied(offset)
            if link.index.take_outcome(value["event"]):
                return
        # NOTE: after this many lost races in a row the newest message may be
        # a stale one until the next change of the job rewrites it.
        logger.warning("job %s: state rewrite kept losing races; gave up", job_id)

    def _change_one(self, record: JobRecord, version: int) -> bool:
        return self._write([(record.id, state_change(record, version))])[0]

    def enqueue(self, record: JobRecord) -> None:
        state = dump_json({"version": 0, "record": record_to_json(record)})
        copy = dump_json(copy_message(record))
        check_message_size(record, max(len(state), len(copy)))
        link = self._link()
        pending, failed, dead = (
            job_topic(self.prefix, record.topic, kind)
            for kind in ("pending", "failed", "dead")
        )
        link.create_topics([pending, failed, dead], partitions=self.address.partitions)
        # The state message makes the job durable, so only it is waited for.
        # The copy is produced only after it is stored, so every copy on the
        # pending topic has a state message before it, which the offset
        # commits rely on (see offsets.py). close() waits for any copy still
        # in flight.
        link.send([(link.state, record.id, state)])
        link.send_later(pending, record.id, copy)


def check_message_size(record: JobRecord, value_bytes: int) -> None:
    """Reject a job whose largest message would not fit a Kafka message.

    Runs before anything is produced, so a rejected push stores nothing.

    :raises PayloadTooLargeError: if the key plus *value_bytes* is over
        :data:`MAX_JOB_MESSAGE_BYTES`.
    """
    size = len(record.id) + value_bytes
    if size > MAX_JOB_MESSAGE_BYTES:
        raise PayloadTooLargeError(
            f"job message is {size} bytes, over the Kafka backend's limit of "
            f"{MAX_JOB_MESSAGE_BYTES} bytes (the {MAX_MESSAGE_BYTES}-byte message "
            f"limit less {JOB_MESSAGE_RESERVE_BYTES} bytes kept for the job's "
            "later changes), because the payload is escaped once more inside "
            "the message; store large data elsewhere and push a reference to it"
        )


def state_change(
    record: JobRecord, version: int, *, bump: bool = True
) -> dict[str, Any]:
    """Return a job message that applies only while the job is at *version*."""
    return {
        "if": {"version": version},
        "version": version + 1 if bump else version,
        "record": record_to_json(record),
    }


def copy_message(record: JobRecord) -> dict[str, Any]:
    """Return the message put on a job topic: the job as it was at that moment."""
    return record_to_json(record)


def dump_json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def claimable(record: JobRecord, topic: str, now: float) -> bool:
    return (
        record.topic == topic
        and record.status is JobStatus.PENDING
        and record.available_at <= now
    )


def worker_json(worker: WorkerRecord) -> dict[str, Any]:
    return {
        "id": worker.id,
        "topic": worker.topic,
        "hostname": worker.hostname,
        "pid": worker.pid,
        "started_at": worker.started_at,
        "last_seen": worker.last_seen,
        "current_job": worker.current_job,
        "processed": worker.processed,
        "failed": worker.failed,
    }


def parse_cursor(cursor: str) -> tuple[float, str]:
    """Return the ``(created_at, job id)`` a page's ``next_cursor`` names.

    :raises ValueError: if *cursor* is not ``<finite float>/<job id>``, the
        form of every ``next_cursor`` this backend returns.
    """
    created_at, separator, job_id = cursor.partition("/")
    try:
        number = float(created_at)
    except ValueError:
        raise invalid_cursor(cursor) from None
    if not separator or not job_id or not math.isfinite(number):
        raise invalid_cursor(cursor)
    return number, job_id
