"""Claiming jobs on RabbitMQ: from the pending queue, by id, and when due."""

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
from .core import (
    ATTEMPTS_HEADER,
    CLAIM_WARNING_INTERVAL,
    PROMOTION_RETRY_SECONDS,
    BackendCore,
    Lease,
    Taken,
    ack_if,
    is_current,
    json_object,
)
from .index import copy_record, record_from_json

logger = logging.getLogger(__name__)


class Claims(BackendCore):
    """Takes jobs for workers: the next copy on a pending queue, or one by id."""

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
            # Runs under the connection lock. Takes the next copy and reports
            # whether the index records it as the job's current copy.
            link.declare_topic(topic)
            method, properties, body = link.claims.basic_get(pending_queue(topic))
            if method is None:
                return None
            event = json_object(body)
            headers = properties.headers or {}
            return Taken(
                event,
                method.delivery_tag,
                link.generation,
                int(headers.get(ATTEMPTS_HEADER, 0)),
                # A redelivered copy was taken by a worker that then stopped.
                # Its claim may be on the way to this index, so only a read
                # of the stream up to now can confirm the copy is current.
                not method.redelivered and is_current(link.index, event),
            )

        while True:
            taken = link.call(take)
            if taken is None:
                return None
            # A copy the index does not know yet may be newer than the index
            # or stale: read the stream up to now, then claim it or drop it.
            if not taken.current and not is_current(self._sync(), taken.event):
                link.call(functools.partial(ack_if, link, taken.tag, taken.generation))
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
        # Two processes claiming one id both publish. The stream's order picks
        # one, and the process that takes the queued copy later drops it.
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
