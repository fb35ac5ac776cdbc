"""The audit log: who changed which jobs, when, in what scope, and how many.

Every retry, delete, purge, payload edit, send to a topic and bulk retry run
command from the console, its JSON API and the ``queuedeck`` command adds one
entry. Entries are never changed or removed by the console.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .store import MAX_ROW_ID, TriageStore

logger = logging.getLogger(__name__)

#: At most this many job ids are stored with an entry; ``count`` stays exact.
MAX_STORED_IDS = 100
MAX_AUDIT_PAGE = 500

#: Every action name an entry may carry, in the order the docs list them.
ACTIONS = (
    "retry",
    "delete",
    "bulk-retry",
    "bulk-purge",
    "purge",
    "edit-retry",
    "undo-edit",
    "send",
    "run-start",
    "run-pause",
    "run-resume",
    "run-cancel",
    "run-auto-stop",
    "run-finish",
)


@dataclass(frozen=True)
class AuditEntry:
    """One operator action as the audit log stores it."""

    id: int
    at: float
    actor: str
    action: str
    topic: str | None
    scope: str
    count: int
    job_ids: list[str]
    detail: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Return the entry as JSON-ready values."""
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "topic": self.topic,
            "scope": self.scope,
            "count": self.count,
            "job_ids": self.job_ids,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class AuditPage:
    """Entries newest first, with the cursor of the next (older) page."""

    entries: list[AuditEntry]
    next_cursor: str | None


def record_action(
    store: TriageStore,
    *,
    actor: str,
    action: str,
    topic: str | None,
    scope: str,
    count: int,
    job_ids: Iterable[str] = (),
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Append one entry to the audit log and return its id.

    :raises ValueError: if *action* is not one of :data:`ACTIONS`.
    """
    if action not in ACTIONS:
        raise ValueError(f"invalid audit action {action!r}; use one of {ACTIONS}")
    ids = list(job_ids)[:MAX_STORED_IDS]
    cursor = store.execute(
        "INSERT INTO audit (at, actor, action, topic, scope, count, job_ids, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            store.clock(),
            actor,
            action,
            topic,
            scope,
            count,
            json.dumps(ids),
            None if detail is None else json.dumps(dict(detail)),
        ),
    )
    entry_id = cursor.lastrowid
    assert entry_id is not None
    return entry_id


def try_record_action(store: TriageStore, **entry: Any) -> int | None:
    """Record an entry like :func:`record_action`, logging a storage failure.

    For callers whose action already happened: a full disk or a locked file
    must not turn a done retry into an error page. Returns ``None`` on failure.
    """
    try:
        return record_action(store, **entry)
    except (OSError, sqlite3.Error) as exc:
        logger.error(
            "audit entry %s by %s on topic %s was not stored: %s",
            entry.get("action"),
            entry.get("actor"),
            entry.get("topic"),
            exc,
        )
        return None


def audit_page(
    store: TriageStore,
    *,
    limit: int = 50,
    cursor: str | None = None,
    topic: str | None = None,
    action: str | None = None,
) -> AuditPage:
    """Return a page of the audit log, newest first.

    *cursor* is the ``next_cursor`` of a previous page. *topic* and *action*
    keep only matching entries.

    :raises ValueError: if *limit*, *cursor* or *action* is invalid.
    """
    if isinstance(limit, bool) or not 1 <= limit <= MAX_AUDIT_PAGE:
        raise ValueError(f"limit must be from 1 to {MAX_AUDIT_PAGE}, not {limit!r}")
    if action is not None and action not in ACTIONS:
        raise ValueError(f"invalid action {action!r}; use one of: {', '.join(ACTIONS)}")
    clauses: list[str] = []
    arguments: list[object] = []
    if cursor is not None:
        clauses.append("id < ?")
        arguments.append(_parse_cursor(cursor))
    if topic is not None:
        clauses.append("topic = ?")
        arguments.append(topic)
    if action is not None:
        clauses.append("action = ?")
        arguments.append(action)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = store.query(
        "SELECT id, at, actor, action, topic, scope, count, job_ids, detail "
        f"FROM audit {where} ORDER BY id DESC LIMIT ?",
        [*arguments, limit + 1],
    )
    entries = [_entry(row) for row in rows[:limit]]
    next_cursor = str(entries[-1].id) if len(rows) > limit else None
    return AuditPage(entries, next_cursor)


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    entry_id, at, actor, action, topic, scope, count, job_ids, detail = row
    return AuditEntry(
        id=entry_id,
        at=at,
        actor=actor,
        action=action,
        topic=topic,
        scope=scope,
        count=count,
        job_ids=json.loads(job_ids),
        detail={} if detail is None else json.loads(detail),
    )


def _parse_cursor(cursor: str) -> int:
    try:
        value = int(cursor)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_ROW_ID:
        raise ValueError(
            f"invalid audit cursor {cursor!r}; pass the next_cursor of a previous page"
        )
    return value
