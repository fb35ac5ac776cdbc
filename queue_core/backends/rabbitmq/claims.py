"""Claiming jobs: from the pending queues, by id, and promoting due delayed jobs."""

from __future__ import annotations

import functools
import logging
import time
import uuid
from typing import Any

from ...errors import BackendUnavailableError
from ...status import JobStatus
from ..base import JobRecord
from .connection import pending_queue
from .core import ATTEMPTS_HEADER, BackendCore, Lease, ack_if, json_object
from .index import copy_record, record_from_json

logger = logging.getLogger(__name__)

# A due delayed job is put on its pending queue by the first claim that sees
# it; the same process does not try again for this long.
PROMOTION_RETRY_SECONDS = 5.0
CLAIM_WARNING_INTERVAL = 30.0


class Claims(BackendCore):
    """Claims jobs for the workers of this process."""

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
        # A new process can spend seconds replaying the events stream between
        # the caller's clock reading and this call (lease recovery reads the
        # index first). The lease runs from the claim, so it moves by that time.
        lease_expires_at += max(0.0, time.time() - now)
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

        def take(sure: tuple[str, str] | None) -> tuple[str, Any] | None:
            # Runs on the I/O thread: take the next copy and claim it when the
            # index says it is the job's current copy.
            link.declare_topic(topic)
            method, properties, body = link.claims.basic_get(pending_queue(topic))
            if method is None:
                return None
            event = json_object(body)
            job_id, delivery = event.get("id"), event.get("delivery")
            snapshot = link.index.snapshot(job_id) if job_id else None
            current = (
                snapshot is not None
                and snapshot[0].status is JobStatus.PENDING
                and snapshot[1] == delivery
            )
            if not current:
                return ("unsure", (method.delivery_tag, link.generation, event))
            return ("claimed", self._reserve(event, properties, method, changes))

        while True:
            result = link.call(lambda: take(None))
            if result is None:
                return None
            state, value = result
            if state == "claimed":
                lease: Lease = value
                return copy_record(lease.record)
            tag, generation, event = value
            # The copy may be newer than the index or stale: read the stream
            # up to now, then claim it or drop it.
            index = self._sync()
            snapshot = index.snapshot(event.get("id", ""))
            if (
                snapshot is not None
                and snapshot[0].status is JobStatus.PENDING
                and snapshot[1] == event.get("delivery")
            ):
                late = functools.partial(self._reserve_late, event, tag, changes)
                return copy_record(link.call(late).record)
            link.call(functools.partial(ack_if, link, tag, generation))

    def _reserve(
        self,
        event: dict[str, Any],
        properties: Any,
        method: Any,
        changes: dict[str, Any],
    ) -> Lease:
        headers = properties.headers or {}
        record = record_from_json(event["record"])
        record.attempts = int(headers.get(ATTEMPTS_HEADER, record.attempts))
        return self._publish_claim(
            record, event["delivery"], method.delivery_tag, changes
        )

    def _reserve_late(
        self, event: dict[str, Any], tag: int, changes: dict[str, Any]
    ) -> Lease:
        record = record_from_json(event["record"])
        return self._publish_claim(record, event["delivery"], tag, changes)

    def _publish_claim(
        self,
        record: JobRecord,
        delivery: str | None,
        tag: int | None,
        changes: dict[str, Any],
    ) -> Lease:
        # Runs on the I/O thread. The claim event needs no confirm: if it is
        # lost, the job's queued copy comes back when the channel closes.
        link = self._link()
        for name, value in changes.items():
            setattr(record, name, JobStatus(value) if name == "status" else value)
        event = {
            "op": "job",
            "id": record.id,
            "if": {"status": ["pending"], "delivery": delivery},
            "set": changes,
            "delivery": None,
        }
        # Posted, so the claiming thread gets its job while the event is
        # sent. Calls made after the claim still reach the broker after it.
        link.post(lambda: link.publish(event, confirm=False))
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
        if not link.index.wait_for(event_id, self.sync_timeout):
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
