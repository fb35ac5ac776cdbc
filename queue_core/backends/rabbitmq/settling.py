"""Settling claimed jobs on RabbitMQ, and taking back expired leases."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import replace

from ...errors import BackendUnavailableError
from ...status import JobStatus
from ..base import JobRecord, Outcome
from .core import LEASE_MARGIN_SECONDS, BackendCore, Lease, ack_if
from .index import copy_record

logger = logging.getLogger(__name__)


class Settling(BackendCore):
    """Completes, fails and extends the jobs this process holds."""

    # Settling ------------------------------------------------------------------------

    def _held(
        self, job_id: str, token: str, now: float
    ) -> tuple[JobRecord, bool] | None:
        """Return the reserved record if *token* holds it, and whether that is sure.

        A lease this process took is sure without a read while it has more
        than ``LEASE_MARGIN_SECONDS`` left, because only expired leases are
        taken over. Closer to its end, another process whose clock runs a
        little ahead may already have taken it back.
        """
        lease = self._leases.get(job_id)
        if (
            lease is not None
            and lease.token == token
            and now + LEASE_MARGIN_SECONDS < lease.expires_at
        ):
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
        # then read back, which proves that the broker stored it.
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
        # The job was taken over, so the delivery in this process's hand is stale.
        link = self._link()
        if lease.delivery_tag is not None:
            tag = lease.delivery_tag
            link.call(lambda: ack_if(link, tag, lease.generation))

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
