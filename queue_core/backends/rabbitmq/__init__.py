"""The RabbitMQ backend (``TINA4_QUEUE_BACKEND=rabbitmq``), on pika.

Supports every queue operation. ``TINA4_QUEUE_URL`` is an AMQP URL,
``amqp://user:password@host:5672/vhost``, with pika's query options such as
``?heartbeat=30``. The password is never logged.

Storage, per topic and for the whole broker:

- ``queuedeck/<topic>``: the pending queue, classic and durable, with
  priorities 0 to 9. Workers take jobs from it with manual acks.
- ``queuedeck/<topic>/failed`` and ``queuedeck/<topic>/dead``: durable queues
  that hold a copy of each failed and dead job, for tools that read queues.
- ``queuedeck/events``: a stream queue with every change to every job. Each
  process replays it into a :class:`JobIndex` and follows it, and that index
  answers counts, pages, search, lookups by id and error groups. A read first
  publishes a marker and waits until it is read back, so it sees every change
  any process had confirmed before the call.

Every message is persistent; pushes, failures and operator changes wait for
the publisher confirm. See ``docs/backends/rabbitmq.md`` for the design.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from ...errors import BackendUnavailableError, JobNotFoundError
from ...settings import Settings
from ...status import JobStatus
from ..base import (
    Backend,
    ErrorGroup,
    JobRecord,
    Outcome,
    RecordPage,
    WorkerRecord,
)
from .connection import (
    EVENT_KEY,
    Link,
    dead_queue,
    failed_queue,
    pending_queue,
    redact,
)
from .index import (
    JobIndex,
    copy_record,
    record_from_json,
    record_to_json,
    worker_to_json,
)
from .snapshots import SNAPSHOT_EVERY, SNAPSHOT_INTERVAL

logger = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-queuedeck-attempts"
CONNECT_TIMEOUT_SECONDS = 10.0
SYNC_TIMEOUT_SECONDS = 30.0
# A due delayed job is put on its pending queue by the first claim that sees
# it; the same process does not try again for this long.
PROMOTION_RETRY_SECONDS = 5.0
CLAIM_WARNING_INTERVAL = 30.0

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True, slots=True)
class Taken:
    """A copy taken from a pending queue, not yet claimed."""

    event: dict[str, Any]
    tag: int
    generation: int
    attempts: int
    current: bool


@dataclass(slots=True)
class Lease:
    """A job this process holds, with its pending-queue delivery if any."""

    token: str
    expires_at: float
    record: JobRecord
    delivery_tag: int | None
    generation: int


class RabbitMQBackend(Backend):
    """Jobs on RabbitMQ queues, their state in an events stream."""

    name = "rabbitmq"

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        sync_timeout: float = SYNC_TIMEOUT_SECONDS,
        snapshot_every: int = SNAPSHOT_EVERY,
        snapshot_interval: float = SNAPSHOT_INTERVAL,
    ) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.sync_timeout = sync_timeout
        self.snapshot_every = snapshot_every
        self.snapshot_interval = snapshot_interval
        self._lock = threading.Lock()
        self._link_: Link | None = None
        self._pid = os.getpid()
        self._leases: dict[str, Lease] = {}
        self._promoted: dict[str, float] = {}
        self._next_claim_warning = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RabbitMQBackend:
        """Return a backend for ``settings.url``."""
        assert settings.url is not None
        return cls(settings.url)

    def __repr__(self) -> str:
        return f"<RabbitMQBackend {redact(self.url)!r}>"

    # Connection ------------------------------------------------------------------

    def _link(self) -> Link:
        # A forked child cannot use its parent's connection or pump thread, so
        # it starts its own and replays the stream again.
        with self._lock:
            if self._link_ is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._leases = {}
                self._link_ = Link(
                    self.url,
                    JobIndex(),
                    connect_timeout=self.connect_timeout,
                    snapshot_every=self.snapshot_every,
                    snapshot_interval=self.snapshot_interval,
                )
            return self._link_

    def close(self) -> None:
        with self._lock:
            link, self._link_ = self._link_, None
            self._leases = {}
        if link is not None and self._pid == os.getpid():
            link.close()

    def _sync(self) -> JobIndex:
        """Wait until the index holds every change confirmed before this call."""
        link = self._link()
        marker = uuid.uuid4().hex
        link.index.expect(marker)
        link.call(
            lambda: link.publish({"op": "marker", "event": marker}, confirm=False)
        )
        if link.wait_for(marker, self.sync_timeout) is None:
            raise BackendUnavailableError(
                f"RabbitMQ at {link.shown_url} did not return the events stream "
                f"within {self.sync_timeout:g} s; check the broker's health"
            )
        return link.index

    # Writing job changes -----------------------------------------------------------

    def _write(
        self,
        record: JobRecord,
        *,
        condition: dict[str, Any] | None,
        now: float,
        check: bool = False,
        create: bool = False,
        ack: Lease | None = None,
        in_order: bool = False,
    ) -> bool:
        """Publish *record* as the job's new state; route a copy to its queue.

        With *check*, wait until the event is read back and return whether
        its *condition* held. *ack* is a lease whose delivery is acked after
        the publish. With *in_order*, publish on the channel that carries
        claims, without a confirm, so the change cannot reach the stream
        before the claim it settles.
        """
        link = self._link()
        topic = record.topic
        status = record.status
        delivery: str | None = None
        routing = EVENT_KEY
        if status is JobStatus.PENDING and record.available_at <= now:
            delivery = uuid.uuid4().hex
            routing = f"pending.{topic}"
        elif status in (JobStatus.FAILED, JobStatus.DEAD):
            routing = f"{status.value}.{topic}"
        event: dict[str, Any] = {
            "op": "job",
            "id": record.id,
            "event": uuid.uuid4().hex,
            "delivery": delivery,
        }
        data = record_to_json(record)
        if condition is not None:
            event["if"] = condition
        if create or routing != EVENT_KEY:
            event["record"] = data
        if not create:
            event["set"] = {k: v for k, v in data.items() if k != "payload"}
        confirm = not in_order and status is not JobStatus.COMPLETED
        if check:
            link.index.expect(event["event"])

        def publish() -> None:
            if routing != EVENT_KEY:
                link.declare_topic(topic)
            link.publish(
                event,
                routing_key=routing,
                confirm=confirm,
                headers={ATTEMPTS_HEADER: record.attempts},
                priority=int(record.priority),
                message_id=record.id,
            )
            if ack is not None and ack.delivery_tag is not None:
                _ack_if(link, ack.delivery_tag, ack.generation)

        link.call(publish)
        if not check:
            return True
        return bool(link.wait_for(event["event"], self.sync_timeout))

    def enqueue(self, record: JobRecord) -> None:
        self._write(record, condition=None, now=time.time(), create=True)

    # Claiming ----------------------------------------------------------------------

    def claim(
        self,
        topic: str,
        *,
        now: float,
        lease_token: str,
        lease_expires_at: float,
        max_retries: int,
        job_id: str | None = None,
    ) -> JobRecord | None:
        # A broker outage makes a claim find nothing instead of raising, so a
        # consume() loop keeps waiting while the connection is restored.
        try:
            if job_id is not None:
                return self._claim_by_id(
                    topic, job_id, now, lease_token, lease_expires_at, max_retries
                )
            self._promote_due(topic, now)
            return self._claim_next(
                topic, now, lease_token, lease_expires_at, max_retries
            )
        except BackendUnavailableError as exc:
            if time.monotonic() >= self._next_claim_warning:
                self._next_claim_warning = time.monotonic() + CLAIM_WARNING_INTERVAL
                logger.warning("claim on topic %r found no broker: %s", topic, exc)
            return None

    def _claim_next(
        self,
        topic: str,
        now: float,
        lease_token: str,
        lease_expires_at: float,
        max_retries: int,
    ) -> JobRecord | None:
        link = self._link()
        changes = {
            "status": JobStatus.RESERVED.value,
            "lease_token": lease_token,
            "lease_expires_at": lease_expires_at,
            "max_retries": max_retries,
            "updated_at": now,
        }

        def take() -> Taken | None:
            # Runs under the connection lock: take the next copy and say
            # whether the index knows it as the job's current copy.
            link.declare_topic(topic)
            method, properties, body = link.claims.basic_get(pending_queue(topic))
            if method is None:
                return None
            event = _json(body)
            headers = properties.headers or {}
            return Taken(
                event,
                method.delivery_tag,
                link.generation,
                int(headers.get(ATTEMPTS_HEADER, 0)),
                # A redelivered copy was taken by a worker that then stopped;
                # its claim may be on the way to this index, so only a read
                # of the stream up to now can say the copy is current.
                not method.redelivered and _is_current(link.index, event),
            )

        while True:
            taken = link.call(take)
            if taken is None:
                return None
            # A copy the index does not know yet may be newer than the index
            # or stale: read the stream up to now, then claim it or drop it.
            if not taken.current and not _is_current(self._sync(), taken.event):
                link.call(functools.partial(_ack_if, link, taken.tag, taken.generation))
                continue
            claim = functools.partial(self._claim_copy, taken, changes)
            lease = link.call(claim)
            if lease is not None:
                return copy_record(lease.record)

    def _claim_copy(self, taken: Taken, changes: dict[str, Any]) -> Lease | None:
        """Claim the job of a copy taken from its pending queue.

        Runs under the connection lock. Returns ``None`` if the copy's
        connection is gone: the broker put it back on the queue.
        """
        link = self._link()
        if taken.generation != link.generation:
            # The broker put the copy back when the old connection closed.
            return None
        record = record_from_json(taken.event["record"])
        record.attempts = max(record.attempts, taken.attempts)
        return self._publish_claim(record, taken.event["delivery"], taken.tag, changes)

    def _publish_claim(
        self,
        record: JobRecord,
        delivery: str | None,
        tag: int | None,
        changes: dict[str, Any],
    ) -> Lease:
        # Runs under the connection lock. The claim event needs no confirm:
        # if it is lost, the job's queued copy comes back when the channel
        # closes.
        link = self._link()
        for name, value in changes.items():
            setattr(record, name, JobStatus(value) if name == "status" else value)
        link.publish(
            {
                "op": "job",
                "id": record.id,
                "if": {"status": ["pending"], "delivery": delivery},
                "set": changes,
                "delivery": None,
            },
            confirm=False,
        )
        lease = Lease(
            changes["lease_token"],
            changes["lease_expires_at"],
            record,
            tag,
            link.generation,
        )
        self._leases[record.id] = lease
        return lease

    def _claim_by_id(
        self,
        topic: str,
        job_id: str,
        now: float,
        lease_token: str,
        lease_expires_at: float,
        max_retries: int,
    ) -> JobRecord | None:
        snapshot = self._sync().snapshot(job_id)
        if snapshot is None:
            return None
        record, delivery = snapshot
        if (
            record.topic != topic
            or record.status is not JobStatus.PENDING
            or record.available_at > now
        ):
            return None
        link = self._link()
        event_id = uuid.uuid4().hex
        changes = {
            "status": JobStatus.RESERVED.value,
            "lease_token": lease_token,
            "lease_expires_at": lease_expires_at,
            "max_retries": max_retries,
            "updated_at": now,
        }
        link.index.expect(event_id)
        link.call(
            lambda: link.publish(
                {
                    "op": "job",
                    "id": job_id,
                    "event": event_id,
                    "if": {"status": ["pending"], "delivery": delivery},
                    "set": changes,
                    "delivery": None,
                },
                confirm=True,
            )
        )
        # Two processes claiming one id both publish; the stream's order picks
        # one, and the queued copy is dropped by whoever takes it later.
        if not link.wait_for(event_id, self.sync_timeout):
            return None
        self._publish_claim_local(record, changes, link.generation)
        return copy_record(record)

    def _publish_claim_local(
        self, record: JobRecord, changes: dict[str, Any], generation: int
    ) -> None:
        for name, value in changes.items():
            setattr(record, name, JobStatus(value) if name == "status" else value)
        self._leases[record.id] = Lease(
            changes["lease_token"],
            changes["lease_expires_at"],
            record,
            None,
            generation,
        )

    def _promote_due(self, topic: str, now: float) -> None:
        """Put due delayed jobs of *topic* on its pending queue."""
        link = self._link()
        for record in link.index.parked(topic, now):
            if self._promoted.get(record.id, 0.0) > time.monotonic():
                continue
            self._promoted[record.id] = time.monotonic() + PROMOTION_RETRY_SECONDS
            self._write(
                record, condition={"status": ["pending"], "delivery": None}, now=now
            )

    # Settling ------------------------------------------------------------------------

    def _held(
        self, job_id: str, token: str, now: float
    ) -> tuple[JobRecord, bool] | None:
        """Return the reserved record if *token* holds it, and whether that is sure.

        A lease this process took that has not expired is sure without a
        read, because only expired leases are taken over.
        """
        lease = self._leases.get(job_id)
        if lease is not None and lease.token == token and now < lease.expires_at:
            return copy_record(lease.record), True
        snapshot = self._sync().snapshot(job_id)
        if snapshot is None:
            return None
        record = snapshot[0]
        if record.status is not JobStatus.RESERVED or record.lease_token != token:
            return None
        return record, False

    def settle(
        self, job_id: str, lease_token: str, outcome: Outcome, *, now: float
    ) -> bool:
        held = self._held(job_id, lease_token, now)
        lease = self._leases.get(job_id)
        if held is None:
            if lease is not None and lease.token == lease_token:
                self._release_delivery(self._leases.pop(job_id))
            return False
        record, sure = held
        record = replace(
            record,
            status=outcome.status,
            attempts=outcome.attempts,
            error=outcome.error,
            signature=outcome.signature,
            available_at=outcome.available_at,
            updated_at=now,
            lease_token=None,
            lease_expires_at=None,
        )
        mine = lease if lease is not None and lease.token == lease_token else None
        # Events on two channels can reach the stream in either order, so a
        # settle goes on the claims' channel. Anything but a completion is
        # then read back, which is its proof that the broker holds it.
        applied = self._write(
            record,
            condition={"status": ["reserved"], "token": lease_token},
            now=now,
            check=not sure or outcome.status is not JobStatus.COMPLETED,
            ack=mine,
            in_order=True,
        )
        if mine is not None:
            self._leases.pop(job_id, None)
        return applied

    def _release_delivery(self, lease: Lease) -> None:
        # The job was taken over, so the delivery this process holds is stale.
        link = self._link()
        if lease.delivery_tag is not None:
            tag = lease.delivery_tag
            link.call(lambda: _ack_if(link, tag, lease.generation))

    def extend_lease(self, job_id: str, lease_token: str, expires_at: float) -> bool:
        now = time.time()
        held = self._held(job_id, lease_token, now)
        if held is None:
            return False
        link = self._link()
        event_id = uuid.uuid4().hex
        _, sure = held
        if not sure:
            link.index.expect(event_id)
        link.call(
            lambda: link.publish(
                {
                    "op": "job",
                    "id": job_id,
                    "event": event_id,
                    "if": {"status": ["reserved"], "token": lease_token},
                    "set": {"lease_expires_at": expires_at},
                    "delivery": None,
                },
                confirm=not sure,
            )
        )
        if not sure and not link.wait_for(event_id, self.sync_timeout):
            return False
        lease = self._leases.get(job_id)
        if lease is not None and lease.token == lease_token:
            lease.expires_at = expires_at
            lease.record.lease_expires_at = expires_at
        return True

    def recover_expired(self, *, now: float, error: str, signature: str) -> int:
        try:
            index = self._sync()
        except BackendUnavailableError as exc:
            logger.warning("lease recovery skipped: %s", exc)
            return 0
        moved = 0
        for record in index.expired(now):
            attempts = record.attempts + 1
            dead = attempts >= record.max_retries
            changed = replace(
                record,
                status=JobStatus.DEAD if dead else JobStatus.PENDING,
                attempts=attempts,
                error=error,
                signature=signature,
                updated_at=now,
                available_at=now,
                lease_token=None,
                lease_expires_at=None,
            )
            condition = {"status": ["reserved"], "token": record.lease_token}
            if self._write(changed, condition=condition, now=now, check=True):
                moved += 1
        return moved

    # Operator changes -----------------------------------------------------------

    def requeue(self, topic: str, job_id: str, *, now: float) -> bool:
        snapshot = self._sync().snapshot(job_id)
        if snapshot is None or snapshot[0].topic != topic:
            raise JobNotFoundError(f"no job {job_id!r} on topic {topic!r}")
        record = snapshot[0]
        if record.status not in (JobStatus.FAILED, JobStatus.DEAD):
            return False
        moved = self._move_to_pending([record], now, check=True)
        self._compact(topic)
        return moved == 1

    def requeue_failed(self, topic: str, *, now: float) -> int:
        rows = self._sync().select(topic, [JobStatus.FAILED])
        records = [record for _, record in rows if record.attempts < record.max_retries]
        moved = self._move_to_pending(records, now)
        self._compact(topic)
        return moved

    def requeue_all(
        self,
        topic: str,
        statuses: Iterable[JobStatus],
        *,
        now: float,
        signature: str | None = None,
    ) -> int:
        movable = [s for s in statuses if s in (JobStatus.FAILED, JobStatus.DEAD)]
        if not movable:
            return 0
        rows = self._sync().select(topic, movable, signature=signature)
        moved = self._move_to_pending([record for _, record in rows], now)
        self._compact(topic)
        return moved

    def _move_to_pending(
        self, records: list[JobRecord], now: float, *, check: bool = False
    ) -> int:
        moved = 0
        for record in records:
            changed = replace(
                record, status=JobStatus.PENDING, available_at=now, updated_at=now
            )
            condition = {"status": [record.status.value]}
            if self._write(changed, condition=condition, now=now, check=check):
                moved += 1
        return moved

    def purge(
        self, topic: str, statuses: Iterable[JobStatus], *, signature: str | None = None
    ) -> int:
        wanted = [s for s in statuses if s is not JobStatus.RESERVED]
        rows = self._sync().select(topic, wanted, signature=signature)
        if not rows:
            return 0
        condition: dict[str, Any] = {"status": [s.value for s in wanted]}
        if signature is not None:
            condition["signature"] = signature
        self._delete([record.id for _, record in rows], condition)
        self._compact(topic)
        return len(rows)

    def delete(self, topic: str, job_id: str) -> bool:
        snapshot = self._sync().snapshot(job_id)
        if snapshot is None or snapshot[0].topic != topic:
            return False
        status = snapshot[0].status
        if status is JobStatus.RESERVED:
            return False
        deleted = self._delete([job_id], {"status": [status.value]}, check=True)
        self._compact(topic)
        return deleted

    def _delete(
        self, ids: list[str], condition: dict[str, Any], *, check: bool = False
    ) -> bool:
        link = self._link()
        event_id = uuid.uuid4().hex
        event = {"op": "delete", "ids": ids, "if": condition, "event": event_id}
        if check:
            link.index.expect(event_id)
        link.call(lambda: link.publish(event, confirm=True))
        if not check:
            return True
        return bool(link.wait_for(event_id, self.sync_timeout))

    def _compact(self, topic: str) -> None:
        """Rebuild the failed and dead queue copies when most of them are stale.

        Retrying or deleting one job cannot remove its copy from the middle of
        a queue, so stale copies pile up; once they outnumber the live ones
        the queue is emptied and the live jobs are published to it again.
        """
        index = self._sync()
        link = self._link()
        for status, name in (
            (JobStatus.FAILED, failed_queue(topic)),
            (JobStatus.DEAD, dead_queue(topic)),
        ):
            live = [record for _, record in index.select(topic, [status])]

            def rebuild(name: str = name, live: list[JobRecord] = live) -> None:
                link.declare_topic(topic)
                stored = link.confirmed.queue_declare(name, passive=True)
                if stored.method.message_count <= 2 * len(live) + 10 and live:
                    return
                link.confirmed.queue_purge(name)
                for record in live:
                    link.confirmed.basic_publish(
                        "",
                        name,
                        _json_bytes({"op": "copy", "record": record_to_json(record)}),
                        _persistent(record),
                    )

            link.call(rebuild)

    # Reading -------------------------------------------------------------------------

    def counts(self, topic: str) -> dict[JobStatus, int]:
        return self._sync().counts(topic)

    def counts_by_topic(self) -> dict[str, dict[JobStatus, int]]:
        index = self._sync()
        return {topic: index.counts(topic) for topic in index.topics()}

    def topics(self) -> list[str]:
        return self._sync().topics()

    def get(self, topic: str | None, job_id: str) -> JobRecord | None:
        snapshot = self._sync().snapshot(job_id)
        if snapshot is None:
            return None
        record = snapshot[0]
        if topic is not None and record.topic != topic:
            return None
        return record

    def page(
        self,
        topic: str,
        statuses: Iterable[JobStatus],
        *,
        limit: int,
        cursor: str | None,
        text: str | None = None,
        signature: str | None = None,
    ) -> RecordPage:
        before = None if cursor is None else _parse_cursor(cursor)
        needle = None if not text else text.translate(_ASCII_LOWER)
        rows = self._sync().select(topic, statuses, signature=signature)
        matched: list[tuple[int, JobRecord]] = []
        for seq, record in reversed(rows):
            if before is not None and seq >= before:
                continue
            if needle is not None and not _contains(record, needle):
                continue
            matched.append((seq, record))
            if len(matched) > limit:
                break
        records = [record for _, record in matched[:limit]]
        next_cursor = str(matched[limit - 1][0]) if len(matched) > limit else None
        return RecordPage(records, next_cursor)

    def error_groups(
        self, topic: str, statuses: Iterable[JobStatus]
    ) -> list[ErrorGroup]:
        return self._sync().error_groups(topic, statuses)

    def oldest_pending_at(self, topic: str) -> float | None:
        rows = self._sync().select(topic, [JobStatus.PENDING])
        return rows[0][1].created_at if rows else None

    # Workers --------------------------------------------------------------------

    def record_heartbeat(self, worker: WorkerRecord) -> None:
        link = self._link()
        event = {"op": "worker", "worker": worker_to_json(worker)}
        link.call(lambda: link.publish(event, confirm=False))

    def remove_worker(self, worker_id: str) -> None:
        link = self._link()
        event = {"op": "worker_gone", "id": worker_id}
        link.call(lambda: link.publish(event, confirm=False))

    def workers(self, *, seen_after: float) -> list[WorkerRecord]:
        return self._sync().live_workers(seen_after)

    # Tests and tools ------------------------------------------------------------

    def delete_queues(self, prefix: str) -> int:
        """Delete every topic that starts with *prefix* and a dot.

        Deletes the topics' queues and drops their jobs from the index. The
        events stream is shared by every topic and keeps their history until
        its retention removes it. Returns how many topics were deleted.
        """
        topics = [t for t in self._sync().topics() if t.startswith(prefix + ".")]
        link = self._link()

        def drop() -> None:
            for topic in topics:
                for name in (
                    pending_queue(topic),
                    failed_queue(topic),
                    dead_queue(topic),
                ):
                    link.confirmed.queue_delete(name)
            link.forget_topics(topics)
            link.publish({"op": "drop_topics", "topics": topics}, confirm=True)

        link.call(drop)
        return len(topics)


def _is_current(index: JobIndex, event: dict[str, Any]) -> bool:
    """Return whether *event* is the claimable copy of a pending job."""
    job_id = event.get("id")
    snapshot = index.snapshot(job_id) if isinstance(job_id, str) else None
    return (
        snapshot is not None
        and snapshot[0].status is JobStatus.PENDING
        and snapshot[1] == event.get("delivery")
    )


def _ack_if(link: Link, tag: int, generation: int) -> None:
    if generation == link.generation:
        link.claims.basic_ack(tag)


def _json(body: bytes) -> dict[str, Any]:
    value = json.loads(body)
    return value if isinstance(value, dict) else {}


def _json_bytes(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _persistent(record: JobRecord) -> Any:
    import pika  # type: ignore[import-untyped]

    return pika.BasicProperties(
        delivery_mode=pika.DeliveryMode.Persistent,
        content_type="application/json",
        headers={ATTEMPTS_HEADER: record.attempts},
        message_id=record.id,
    )


def _contains(record: JobRecord, needle: str) -> bool:
    if needle in record.payload.translate(_ASCII_LOWER):
        return True
    return record.error is not None and needle in record.error.translate(_ASCII_LOWER)


def _parse_cursor(cursor: str) -> int:
    try:
        return int(cursor)
    except ValueError:
        raise ValueError(
            f"invalid page cursor {cursor!r}; pass the next_cursor of a previous page"
        ) from None
