"""The state and the writing path shared by the RabbitMQ backend's parts.

:class:`BackendCore` owns the process's :class:`Link` and its leases, reads
the events stream up to now (:meth:`BackendCore._sync`) and publishes job
changes (:meth:`BackendCore._write`). The claiming, settling and operator
parts of the backend build on it.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from ...errors import BackendUnavailableError
from ...status import JobStatus
from ..base import Backend, JobRecord
from .connection import EVENT_KEY, Link, redact
from .index import JobIndex, record_to_json
from .snapshots import SNAPSHOT_EVERY, SNAPSHOT_INTERVAL

ATTEMPTS_HEADER = "x-queuedeck-attempts"
CONNECT_TIMEOUT_SECONDS = 10.0
SYNC_TIMEOUT_SECONDS = 30.0
# A due delayed job is put on its pending queue by the first claim that sees
# it; the same process does not try again for this long.
PROMOTION_RETRY_SECONDS = 5.0
CLAIM_WARNING_INTERVAL = 30.0
# A settle closer than this to its lease's end reads its change back from the
# stream, to learn whether another process took the lease back first. Clocks
# of hosts that share a broker must agree to within this margin.
LEASE_MARGIN_SECONDS = 5.0


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


class BackendCore(Backend):
    """The connection, leases and write path of the RabbitMQ backend."""

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
        """Wait until the index contains every change confirmed before this call."""
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
        with_payload: bool = False,
    ) -> bool:
        """Publish *record* as the job's new state; route a copy to its queue.

        With *check*, wait until the event is read back and return whether
        its *condition* held. *ack* is a lease whose delivery is acked after
        the publish. With *in_order*, publish on the channel that carries
        claims, without a confirm, so the change cannot reach the stream
        before the claim it settles. A change carries the payload only
        *with_payload*, because most changes leave it as it is.
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
            event["set"] = {
                k: v for k, v in data.items() if with_payload or k != "payload"
            }
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
                ack_if(link, ack.delivery_tag, ack.generation)

        link.call(publish)
        if not check:
            return True
        return bool(link.wait_for(event["event"], self.sync_timeout))

    def enqueue(self, record: JobRecord) -> None:
        self._write(record, condition=None, now=time.time(), create=True)


def is_current(index: JobIndex, event: dict[str, Any]) -> bool:
    """Return whether *event* is the claimable copy of a pending job."""
    job_id = event.get("id")
    snapshot = index.snapshot(job_id) if isinstance(job_id, str) else None
    return (
        snapshot is not None
        and snapshot[0].status is JobStatus.PENDING
        and snapshot[1] == event.get("delivery")
    )


def ack_if(link: Link, tag: int, generation: int) -> None:
    if generation == link.generation:
        link.claims.basic_ack(tag)


def json_object(body: bytes) -> dict[str, Any]:
    value = json.loads(body)
    return value if isinstance(value, dict) else {}


def json_bytes(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def persistent_properties(record: JobRecord) -> Any:
    import pika  # type: ignore[import-untyped]

    return pika.BasicProperties(
        delivery_mode=pika.DeliveryMode.Persistent,
        content_type="application/json",
        headers={ATTEMPTS_HEADER: record.attempts},
        message_id=record.id,
    )
