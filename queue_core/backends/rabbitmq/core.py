"""The core of the RabbitMQ backend: its connection, reads of the index, writes.

The claiming, settling, operator and reading methods live in mixins of
:class:`BackendCore` in the modules beside this one.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from ...errors import BackendUnavailableError
from ...settings import Settings
from ...status import JobStatus
from ..base import Backend, JobRecord
from .connection import EVENT_KEY, Link, redact
from .index import IndexPool, JobIndex, record_to_json

logger = logging.getLogger(__name__)

ATTEMPTS_HEADER = "x-queuedeck-attempts"
CONNECT_TIMEOUT_SECONDS = 10.0
SYNC_TIMEOUT_SECONDS = 30.0
IDLE_INDEXES_PER_URL = 4


@dataclass(slots=True)
class Lease:
    """A job this process holds, with its pending-queue delivery if any."""

    token: str
    expires_at: float
    record: JobRecord
    delivery_tag: int | None
    generation: int


class BackendCore(Backend):
    """The connection, index reads and job writes the mixins build on."""

    # Shared by the backends of one process, so each new one skips the part
    # of the events stream that a closed one already read.
    _idle_indexes: ClassVar[IndexPool] = IndexPool(IDLE_INDEXES_PER_URL)

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        sync_timeout: float = SYNC_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.sync_timeout = sync_timeout
        self._lock = threading.Lock()
        self._link_: Link | None = None
        self._pid = os.getpid()
        self._leases: dict[str, Lease] = {}
        self._promoted: dict[str, float] = {}
        self._next_claim_warning = 0.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """Return a backend for ``settings.url``."""
        assert settings.url is not None
        return cls(settings.url)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {redact(self.url)!r}>"

    # Connection ------------------------------------------------------------------

    def _link(self) -> Link:
        # A forked child cannot use its parent's connection or I/O thread, so
        # it starts its own and replays the stream again.
        with self._lock:
            if self._link_ is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._leases = {}
                self._link_ = Link(
                    self.url,
                    self._idle_indexes.take(self.url),
                    connect_timeout=self.connect_timeout,
                )
            return self._link_

    def close(self) -> None:
        with self._lock:
            link, self._link_ = self._link_, None
            self._leases = {}
        if link is not None and self._pid == os.getpid():
            link.close()
            if link.stopped:
                self._idle_indexes.give(self.url, link.index)

    def _sync(self) -> JobIndex:
        """Wait until the index holds every change confirmed before this call.

        Writes this process posted through other backend objects count too.
        """
        link = self._link()
        link.flush_others(self.sync_timeout)
        marker = uuid.uuid4().hex
        link.index.expect(marker)
        link.call(
            lambda: link.publish({"op": "marker", "event": marker}, confirm=False)
        )
        if link.index.wait_for(marker, self.sync_timeout) is None:
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
    ) -> bool:
        """Publish *record* as the job's new state; route a copy to its queue.

        With *check*, wait until the event is read back and return whether
        its *condition* held. *ack* is a lease whose delivery is acked after
        the publish. A completion, which needs no confirm, is posted to the
        I/O thread while connected, so the caller does not wait for it.
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
        confirm = status is not JobStatus.COMPLETED
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

        if not confirm and not check and link.connected.is_set():
            # Safe to repeat after a reconnect: the event is conditional and
            # the ack skips a delivery of an older connection.
            link.post(publish)
            return True
        link.call(publish)
        if not check:
            return True
        return bool(link.index.wait_for(event["event"], self.sync_timeout))

    def enqueue(self, record: JobRecord) -> None:
        self._write(record, condition=None, now=time.time(), create=True)


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
