"""Claiming and settling jobs on Kafka, and taking back expired leases."""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from typing import Any

from ...status import JobStatus
from ..base import JobRecord, Outcome
from .connection import job_topic
from .core import (
    CLAIM_SPREAD,
    BackendCore,
    Lease,
    claimable,
    copy_message,
    dump_json,
    state_change,
)
from .index import JobIndex, Snapshot, copy_record

logger = logging.getLogger(__name__)


class Work(BackendCore):
    """Takes jobs for workers and settles them."""

    # Claiming --------------------------------------------------------------------

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
        # A broker outage raises BackendUnavailableError after the timeout,
        # which a Worker logs before it polls again.
        if job_id is not None:
            snapshot = self._sync().snapshot(job_id)
            if snapshot is None or not claimable(snapshot.record, topic, now):
                return None
            return self._reserve(
                snapshot, now, lease_token, lease_expires_at, max_retries
            )
        # A job the index already lists is claimed after reading only this
        # process's own writes, not the state topic to its end: the claim's
        # version check rejects it if the job changed meanwhile. Only an
        # empty result pays for the full read, so a job pushed anywhere
        # before this call is still found.
        link = self._link()
        record = self._claim_next(
            link.own_writes(),
            topic,
            now,
            lease_token,
            lease_expires_at,
            max_retries,
        )
        if record is not None:
            return record
        return self._claim_next(
            link.sync(), topic, now, lease_token, lease_expires_at, max_retries
        )

    def _claim_next(
        self,
        index: JobIndex,
        topic: str,
        now: float,
        lease_token: str,
        lease_expires_at: float,
        max_retries: int,
    ) -> JobRecord | None:
        lost = False
        while True:
            with self._lock:
                candidates = index.next_available(
                    topic, now, self._claiming, CLAIM_SPREAD
                )
                if not candidates:
                    return None
                chosen = random.choice(candidates) if lost else candidates[0]
                self._claiming.add(chosen.record.id)
            try:
                record = self._reserve(
                    chosen, now, lease_token, lease_expires_at, max_retries
                )
            finally:
                with self._lock:
                    self._claiming.discard(chosen.record.id)
            if record is not None:
                return record
            lost = True

    def _reserve(
        self,
        snapshot: Snapshot,
        now: float,
        lease_token: str,
        lease_expires_at: float,
        max_retries: int,
    ) -> JobRecord | None:
        record = replace(
            snapshot.record,
            status=JobStatus.RESERVED,
            lease_token=lease_token,
            lease_expires_at=lease_expires_at,
            max_retries=max_retries,
            updated_at=now,
        )
        if not self._change_one(record, snapshot.version):
            return None
        self._leases[record.id] = Lease(lease_token, snapshot.version + 1, record)
        return copy_record(record)

    # Settling --------------------------------------------------------------------

    def _held(self, job_id: str, token: str) -> Lease | None:
        """Return the lease *token* has on *job_id*, from this process's view.

        A lease this process took is used without a read: if another process
        has changed the job since, the version it names no longer matches and
        the change is rejected.
        """
        lease = self._leases.get(job_id)
        if lease is not None and lease.token == token:
            return lease
        snapshot = self._sync().snapshot(job_id)
        if snapshot is None:
            return None
        record = snapshot.record
        if record.status is not JobStatus.RESERVED or record.lease_token != token:
            return None
        return Lease(token, snapshot.version, record)

    def settle(
        self, job_id: str, lease_token: str, outcome: Outcome, *, now: float
    ) -> bool:
        lease = self._held(job_id, lease_token)
        if lease is None:
            return False
        record = replace(
            lease.record,
            status=outcome.status,
            attempts=outcome.attempts,
            error=outcome.error,
            signature=outcome.signature,
            available_at=outcome.available_at,
            updated_at=now,
            lease_token=None,
            lease_expires_at=None,
        )
        applied = self._change_one(record, lease.version)
        self._leases.pop(job_id, None)
        if applied:
            self._after_settle(record)
        return applied

    def _after_settle(self, record: JobRecord) -> None:
        """Copy a failed or dead job to its topic and commit settled offsets."""
        link = self._link()
        if record.status in (JobStatus.FAILED, JobStatus.DEAD):
            kind = record.status.value
            link.send(
                [
                    (
                        job_topic(self.prefix, record.topic, kind),
                        record.id,
                        dump_json(copy_message(record)),
                    )
                ]
            )
        if record.status is not JobStatus.PENDING and self._offsets is not None:
            self._offsets.settled(record.topic)

    def extend_lease(self, job_id: str, lease_token: str, expires_at: float) -> bool:
        lease = self._held(job_id, lease_token)
        if lease is None:
            return False
        record = replace(lease.record, lease_expires_at=expires_at)
        if not self._change_one(record, lease.version):
            self._leases.pop(job_id, None)
            return False
        self._leases[job_id] = Lease(lease_token, lease.version + 1, record)
        return True

    def recover_expired(self, *, now: float, error: str, signature: str) -> int:
        # An unreachable broker raises here, not in the claim that follows,
        # so pop() gives up after one timeout, not two.
        index = self._sync()
        changes: list[tuple[str, dict[str, Any]]] = []
        records: list[JobRecord] = []
        for snapshot in index.expired(now):
            record = snapshot.record
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
            changes.append((record.id, state_change(changed, snapshot.version)))
            records.append(changed)
        outcomes = self._write(changes)
        for record, applied in zip(records, outcomes, strict=True):
            if applied and record.status is JobStatus.DEAD:
                self._after_settle(record)
        return sum(outcomes)
