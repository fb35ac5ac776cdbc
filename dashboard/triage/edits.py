"""Payload edits: retry a failed or dead job with a changed payload, and undo it.

An edit is applied by :meth:`queue_core.Queue.retry` with ``payload=``, which
replaces the stored payload in the same change that moves the job to
pending. The triage store keeps every edit as a revision (who, when, the
payload before and after), so an edit can be reviewed and undone: undoing
retries the job again with the revision's earlier payload, as a new
revision that names the one it undoes.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from queue_core import JobStatus, PayloadError, Queue
from queue_core.payload import decode_payload, encode_payload

from ..formatting import escape_invisible_json
from .audit import try_record_action
from .operations import remember_failure
from .store import MAX_ROW_ID, TriageStore


@dataclass(frozen=True)
class Revision:
    """One applied payload edit of a job."""

    id: int
    job_id: str
    topic: str
    at: float
    actor: str
    before: dict[str, Any]
    after: dict[str, Any]
    undo_of: int | None

    @property
    def diff(self) -> list[str]:
        """The edit as unified diff lines of the indented JSON."""
        return payload_diff(self.before, self.after)

    def to_dict(self) -> dict[str, Any]:
        """Return the revision as JSON-ready values."""
        return {
            "id": self.id,
            "job_id": self.job_id,
            "topic": self.topic,
            "at": self.at,
            "actor": self.actor,
            "before": self.before,
            "after": self.after,
            "undo_of": self.undo_of,
            "diff": self.diff,
        }


def pretty_json(payload: dict[str, Any]) -> str:
    """Return *payload* as indented JSON, the form edits are shown and diffed in.

    Control and bidi characters appear as escapes, so an edit form or diff
    cannot hide or reorder text.
    """
    return escape_invisible_json(json.dumps(payload, indent=2, ensure_ascii=False))


def payload_diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Return unified diff lines from *before* to *after*; empty when equal."""
    return list(
        difflib.unified_diff(
            pretty_json(before).splitlines(),
            pretty_json(after).splitlines(),
            fromfile="stored payload",
            tofile="edited payload",
            lineterm="",
        )
    )


def parse_payload_text(text: str, queue: Queue) -> dict[str, Any]:
    """Parse the JSON *text* of an edit form and check it as a payload.

    :raises PayloadError: if *text* is not a JSON object that the queue can
        store; the message names the problem.
    """
    try:
        value = json.loads(text)
    except RecursionError:
        raise PayloadError("the payload is nested too deeply to parse") from None
    except ValueError as exc:
        raise PayloadError(f"the payload is not valid JSON: {exc}") from None
    return check_payload(value, queue)


def check_payload(payload: object, queue: Queue) -> dict[str, Any]:
    """Check that *queue* can store *payload*, and return it.

    :raises PayloadError: if *payload* is not a JSON object, contains a value
        such as NaN that JSON cannot carry, or is over the size limit.
    """
    encode_payload(payload, max_bytes=queue.settings.max_payload_bytes)
    assert isinstance(payload, dict)
    return payload


def check_editable(queue: Queue, job_id: str) -> dict[str, Any]:
    """Return the stored payload of job *job_id* if its payload may be edited.

    :raises JobNotFoundError: if the topic has no such job.
    :raises ValueError: unless the job is failed or dead.
    """
    job = queue.require(job_id)
    if job.status not in (JobStatus.FAILED, JobStatus.DEAD):
        raise ValueError(
            f"job {job_id} is {job.status.value}; only a failed or dead job's "
            "payload can be edited, because a retry applies the edit"
        )
    return job.payload


def retry_with_payload(
    store: TriageStore,
    queue: Queue,
    job_id: str,
    payload: dict[str, Any],
    actor: str,
    *,
    undo_of: int | None = None,
) -> Revision:
    """Retry a failed or dead job with *payload* and record the revision.

    With *undo_of*, the revision is recorded as undoing that earlier edit,
    which must be an edit of this job whose earlier payload is *payload*.

    :raises ValueError: unless the job is failed or dead, if it left that
        status before the retry, or if *undo_of* does not match. Nothing
        changes then.
    """
    if undo_of is not None and payload != undo_payload(store, job_id, undo_of):
        raise ValueError(
            f"the payload is not the one revision {undo_of} replaced; "
            "open the undo preview again"
        )
    before = check_editable(queue, job_id)
    remember_failure(store, queue, job_id)
    if not queue.retry(job_id, payload=payload):
        raise ValueError(
            f"job {job_id} left the failed and dead statuses meanwhile; "
            "its payload was not changed"
        )
    cursor = store.execute(
        "INSERT INTO revisions (job_id, topic, at, actor, before, after, undo_of) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            job_id,
            queue.topic,
            store.clock(),
            actor,
            _compact_json(before),
            _compact_json(payload),
            undo_of,
        ),
    )
    revision_id = cursor.lastrowid
    assert revision_id is not None
    try_record_action(
        store,
        actor=actor,
        action="edit-retry" if undo_of is None else "undo-edit",
        topic=queue.topic,
        scope=f"job {job_id}"
        + ("" if undo_of is None else f", undoing revision {undo_of}"),
        count=1,
        job_ids=[job_id],
        detail={"revision": revision_id, "undo_of": undo_of},
    )
    return revision(store, revision_id)


def revision(store: TriageStore, revision_id: int) -> Revision:
    """Return the revision *revision_id*.

    :raises LookupError: if there is none.
    """
    if not 0 < revision_id <= MAX_ROW_ID:
        raise LookupError(f"no payload revision {revision_id}")
    rows = store.query(f"SELECT {_COLUMNS} FROM revisions WHERE id = ?", (revision_id,))
    if not rows:
        raise LookupError(f"no payload revision {revision_id}")
    return _revision(rows[0])


def job_revisions(
    store: TriageStore, job_id: str, *, topic: str | None = None
) -> list[Revision]:
    """Return every revision of job *job_id*, newest first.

    With *topic*, only revisions of the job on that topic are returned.
    """
    if topic is None:
        rows = store.query(
            f"SELECT {_COLUMNS} FROM revisions WHERE job_id = ? ORDER BY id DESC",
            (job_id,),
        )
    else:
        rows = store.query(
            f"SELECT {_COLUMNS} FROM revisions WHERE job_id = ? AND topic = ? "
            "ORDER BY id DESC",
            (job_id, topic),
        )
    return [_revision(row) for row in rows]


def undo_payload(store: TriageStore, job_id: str, revision_id: int) -> dict[str, Any]:
    """Return the payload that undoing revision *revision_id* of *job_id* restores.

    :raises ValueError: if the job has no such revision.
    """
    try:
        found = revision(store, revision_id)
    except LookupError:
        found = None
    if found is None or found.job_id != job_id:
        raise ValueError(f"job {job_id} has no payload revision {revision_id!r}")
    return found.before


def _compact_json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


_COLUMNS = "id, job_id, topic, at, actor, before, after, undo_of"


def _revision(row: tuple[Any, ...]) -> Revision:
    revision_id, job_id, topic, at, actor, before, after, undo_of = row
    return Revision(
        revision_id,
        job_id,
        topic,
        at,
        actor,
        decode_payload(before),
        decode_payload(after),
        undo_of,
    )
