"""Operator actions shared by the console's views, its JSON API and the CLI.

Each function changes jobs through :class:`queue_core.Queue` and then adds an
entry to the audit log, so every way of acting leaves the same record.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from queue_core import Queue, TopicError
from queue_core.queue import MAX_PAGE_SIZE
from queue_core.topics import validate_topic

from .. import actions
from .audit import try_record_action
from .lineage import record_failure, record_link
from .store import TriageStore

logger = logging.getLogger(__name__)


def retry_job(store: TriageStore, queue: Queue, job_id: str, actor: str) -> bool:
    """Move one failed or dead job back to pending; return whether it moved."""
    remember_failure(store, queue, job_id)
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
    if scope.action == "retry":
        _remember_scope_failures(store, queue, scope)
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


def send_job(
    store: TriageStore,
    queue: Queue,
    job_id: str,
    topic: str,
    actor: str,
    *,
    payload: dict[str, Any] | None = None,
) -> str:
    """Send a failed or dead job to *topic* as a new job; return the new id.

    See :meth:`queue_core.Queue.send_to`. The link from the new job to the
    old one is recorded, because the old one is deleted.
    """
    remember_failure(store, queue, job_id)
    new_id = queue.send_to(job_id, topic, payload=payload)
    record_link(
        store,
        job_id=new_id,
        topic=topic,
        source_id=job_id,
        source_topic=queue.topic,
        actor=actor,
    )
    edited = "" if payload is None else " with an edited payload"
    try_record_action(
        store,
        actor=actor,
        action="send",
        topic=queue.topic,
        scope=f"job {job_id} to topic {topic!r} as job {new_id}{edited}",
        count=1,
        job_ids=[job_id, new_id],
        detail={"to_topic": topic, "new_id": new_id, "edited": payload is not None},
    )
    return new_id


def check_target_topic(topic: str) -> None:
    """Check the name of a topic to send a job to.

    :raises ValueError: if *topic* is not a valid topic name. A
        :class:`TopicError` would give 404, but the name is invalid input.
    """
    try:
        validate_topic(topic)
    except TopicError as exc:
        raise ValueError(f"invalid target topic: {exc}") from None


def remember_failure(store: TriageStore, queue: Queue, job_id: str) -> None:
    """Record the current failure of job *job_id* in its lineage, if it failed."""
    job = queue.get(job_id)
    if job is None:
        return
    try:
        record_failure(store, job)
    except (OSError, sqlite3.Error) as exc:
        logger.error("failure of job %s was not recorded: %s", job_id, exc)


def _remember_scope_failures(
    store: TriageStore, queue: Queue, scope: actions.BulkScope
) -> None:
    if scope.ids:
        for job_id in scope.ids:
            remember_failure(store, queue, job_id)
        return
    # NOTE: a whole-status retry records the failures of the newest
    # MAX_PAGE_SIZE jobs of each status only; a bulk retry run records all.
    for status in scope.statuses:
        page = queue.jobs(status, limit=MAX_PAGE_SIZE, signature=scope.signature)
        for job in page.jobs:
            try:
                record_failure(store, job)
            except (OSError, sqlite3.Error) as exc:
                logger.error("failure of job %s was not recorded: %s", job.id, exc)
                return


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
