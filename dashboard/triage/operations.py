"""Operator actions shared by the console's views, its JSON API and the CLI.

Each function changes jobs through :class:`queue_core.Queue` and then adds an
entry to the audit log, so every way of acting leaves the same record.
"""

from __future__ import annotations

import logging

from queue_core import Queue

from .. import actions
from .audit import try_record_action
from .store import TriageStore

logger = logging.getLogger(__name__)


def retry_job(store: TriageStore, queue: Queue, job_id: str, actor: str) -> bool:
    """Move one failed or dead job back to pending; return whether it moved."""
    moved = queue.retry(job_id)
    _record_job_action(store, queue, "retry", job_id, actor, moved)
    return moved


def delete_job(store: TriageStore, queue: Queue, job_id: str, actor: str) -> bool:
    """Delete one job unless a worker reserved it; return whether it was deleted."""
    deleted = queue.delete(job_id)
    _record_job_action(store, queue, "delete", job_id, actor, deleted)
    return deleted


def run_bulk(
    store: TriageStore, queue: Queue, scope: actions.BulkScope, actor: str
) -> int:
    """Run a confirmed bulk retry or purge; return how many jobs it changed."""
    moved = actions.execute(queue, scope)
    try_record_action(
        store,
        actor=actor,
        action=f"bulk-{scope.action}",
        topic=scope.topic,
        scope=scope.describe(),
        count=moved,
        job_ids=scope.ids,
        detail={"status": scope.status, "signature": scope.signature},
    )
    return moved


def _record_job_action(
    store: TriageStore,
    queue: Queue,
    action: str,
    job_id: str,
    actor: str,
    changed: bool,
) -> None:
    try_record_action(
        store,
        actor=actor,
        action=action,
        topic=queue.topic,
        scope=f"job {job_id}",
        count=int(changed),
        job_ids=[job_id],
    )
