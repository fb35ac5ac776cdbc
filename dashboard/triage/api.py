"""JSON API routes of the triage tools, nested in the console's API blueprint."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from queue_core import JobNotFoundError

from ..context import parse_limit
from ..jsonbody import read_json_object
from ..security import operator_name
from ..state import console_state
from . import operations
from .audit import audit_page
from .edits import (
    check_editable,
    check_payload,
    job_revisions,
    payload_diff,
    retry_with_payload,
    undo_payload,
)
from .lineage import job_lineage
from .operations import check_target_topic
from .runs import Run, control_run, get_run, list_runs, start_run


def register_triage_api(api: Blueprint) -> None:
    """Add the triage routes to the JSON API blueprint *api*."""
    api.add_url_rule("/audit", view_func=audit, endpoint="audit")
    api.add_url_rule("/topics/<topic>/jobs/<job_id>/lineage", view_func=lineage)
    api.add_url_rule(
        "/topics/<topic>/jobs/<job_id>/send", view_func=send_job, methods=["POST"]
    )
    api.add_url_rule(
        "/topics/<topic>/jobs/<job_id>/edit",
        view_func=edit_job,
        methods=["POST"],
        endpoint="edit_job",
    )
    api.add_url_rule("/topics/<topic>/jobs/<job_id>/revisions", view_func=revisions)
    api.add_url_rule("/runs", view_func=runs, endpoint="runs")
    api.add_url_rule(
        "/topics/<topic>/runs", view_func=start, methods=["POST"], endpoint="start_run"
    )
    api.add_url_rule("/runs/<run_id>", view_func=run, endpoint="run")
    api.add_url_rule(
        "/runs/<run_id>/<command>",
        view_func=control,
        methods=["POST"],
        endpoint="control_run",
    )


def audit() -> Response:
    """Return a page of the audit log, newest first.

    Query parameters: ``limit`` (1 to 100), ``cursor`` (the previous page's
    ``next_cursor``), ``topic`` and ``action``.
    """
    page = audit_page(
        console_state().triage,
        limit=parse_limit(request.args.get("limit")),
        cursor=request.args.get("cursor") or None,
        topic=request.args.get("topic") or None,
        action=request.args.get("action") or None,
    )
    return jsonify(
        entries=[entry.to_dict() for entry in page.entries],
        next_cursor=page.next_cursor,
    )


def lineage(topic: str, job_id: str) -> Response:
    """Return the recorded failed attempts of a job and its send links.

    Works for a job that was sent on and deleted, too. Returns 404 when the
    backend has no such job on *topic* and the triage store has no record
    of it there.
    """
    found = job_lineage(console_state().triage, job_id)
    if (
        not found.is_on_topic(topic)
        and console_state().queue(topic).get(job_id) is None
    ):
        raise JobNotFoundError(f"no job {job_id!r} on topic {topic!r}")
    return jsonify(found.to_dict())


def send_job(topic: str, job_id: str) -> Response:
    """Send a failed or dead job to ``topic`` of the body as a new pending job.

    The body contains ``topic`` and optionally ``payload``, a JSON object that
    replaces the job's payload. The reply gives the new job's id and topic.
    """
    body = read_json_object()
    target = body.get("topic")
    if not isinstance(target, str):
        raise ValueError(f"topic must be a topic name string, not {target!r:.80}")
    payload = _optional_payload(body)
    check_target_topic(target)
    state = console_state()
    new_id = operations.send_job(
        state.triage,
        state.queue(topic),
        job_id,
        target,
        operator_name(),
        payload=payload,
    )
    return jsonify(id=new_id, topic=target, retry_of=job_id)


def _optional_payload(body: dict[str, Any]) -> dict[str, Any] | None:
    payload = body.get("payload")
    if payload is not None and not isinstance(payload, dict):
        raise ValueError(f"payload must be a JSON object, not {payload!r:.80}")
    return payload


def edit_job(topic: str, job_id: str) -> Response:
    """Retry a failed or dead job with an edited payload, or preview the diff.

    The body contains ``payload`` (a JSON object), or ``undo_of`` (a revision
    id) to restore the payload from before that edit, and optionally
    ``"dry_run": true`` to get the diff without changing anything.
    """
    body = read_json_object()
    state = console_state()
    queue = state.queue(topic)
    undo_of = body.get("undo_of")
    if undo_of is not None and (
        not isinstance(undo_of, int) or isinstance(undo_of, bool)
    ):
        raise ValueError(f"undo_of must be a revision id, not {undo_of!r:.80}")
    payload = _optional_payload(body)
    if (payload is None) == (undo_of is None):
        raise ValueError("send either payload (a JSON object) or undo_of")
    if undo_of is not None:
        payload = undo_payload(state.triage, job_id, undo_of)
    assert payload is not None
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ValueError(f"dry_run must be true or false, not {dry_run!r:.80}")

    if dry_run:
        stored = check_editable(queue, job_id)
        check_payload(payload, queue)
        return jsonify(diff=payload_diff(stored, payload), moved=False)
    revision = retry_with_payload(
        state.triage, queue, job_id, payload, operator_name(), undo_of=undo_of
    )
    return jsonify(diff=revision.diff, moved=True, revision=revision.to_dict())


def revisions(topic: str, job_id: str) -> Response:
    """Return every payload edit of a job, newest first."""
    found = job_revisions(console_state().triage, job_id, topic=topic)
    if not found:
        console_state().queue(topic).require(job_id)
    return jsonify(revisions=[revision.to_dict() for revision in found])


def runs() -> Response:
    """Return the newest 50 bulk retry runs with their progress."""
    return jsonify(
        runs=[found.to_dict() for found in list_runs(console_state().triage)]
    )


def start(topic: str) -> Response:
    """Start a rate-limited bulk retry run of a status or error group.

    The body contains ``status`` (failed or dead), ``rate`` (jobs a second),
    and optionally ``signature``, ``threshold`` (a fraction, default 0.5) and
    ``min_sample`` (default 20).
    """
    body = read_json_object()
    status = body.get("status")
    signature = body.get("signature")
    if not isinstance(status, str):
        raise ValueError(f"status must be 'failed' or 'dead', not {status!r:.80}")
    if signature is not None and not isinstance(signature, str):
        raise ValueError(f"signature must be a string, not {signature!r:.80}")
    state = console_state()
    started = start_run(
        state.triage,
        state.queue(topic),
        status=status,
        signature=signature,
        rate=body.get("rate"),  # type: ignore[arg-type]
        threshold=body.get("threshold", 0.5),
        min_sample=body.get("min_sample", 20),
        actor=operator_name(),
    )
    return jsonify(started.to_dict())


def run(run_id: str) -> Response:
    """Return one bulk retry run with its progress."""
    return jsonify(_find_run(run_id).to_dict())


def control(run_id: str, command: str) -> Response:
    """Pause, resume or cancel a bulk retry run."""
    found = _find_run(run_id)
    changed = control_run(console_state().triage, found.id, command, operator_name())
    return jsonify(changed.to_dict())


def _find_run(run_id: str) -> Run:
    # The id is matched as text, so that "abc" gets 404 as in the other routes.
    try:
        return get_run(console_state().triage, int(run_id))
    except (LookupError, ValueError, OverflowError):
        abort(404, description=f"no bulk retry run {run_id!r}")
