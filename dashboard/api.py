"""The JSON API: the console's reads and actions for scripts and other tools.

Reads are GET; actions are POST with a JSON or form body and the CSRF token
from ``GET /api/csrf-token`` in the ``X-CSRFToken`` header, sent with the
session cookie that request set. Errors come back as ``{"error": message}``.
``GET /api/openapi.json`` describes every route in OpenAPI 3.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from queue_core import BackendError, JobNotFoundError, QueueError, TopicError

from . import actions, security
from .context import ERROR_STATUSES, overview_context, parse_limit, parse_search
from .jsonbody import read_json_object
from .openapi import openapi
from .security import operator_name
from .state import console_state, console_store_failed
from .triage import operations
from .triage.api import register_triage_api


def make_api_blueprint() -> Blueprint:
    """Return the API blueprint, to be nested under the console blueprint."""
    api = Blueprint("api", __name__)
    api.add_url_rule("/openapi.json", view_func=openapi)
    api.add_url_rule("/csrf-token", view_func=csrf_token)
    api.add_url_rule("/topics", view_func=topics)
    api.add_url_rule("/topics/<topic>/jobs", view_func=jobs)
    api.add_url_rule("/topics/<topic>/jobs/<job_id>", view_func=job)
    api.add_url_rule("/topics/<topic>/errors", view_func=error_groups)
    api.add_url_rule(
        "/topics/<topic>/jobs/<job_id>/retry", view_func=retry_job, methods=["POST"]
    )
    api.add_url_rule(
        "/topics/<topic>/jobs/<job_id>/delete", view_func=delete_job, methods=["POST"]
    )
    api.add_url_rule("/topics/<topic>/bulk", view_func=bulk, methods=["POST"])
    register_triage_api(api)
    api.register_error_handler(HTTPException, _http_error)
    api.register_error_handler(QueueError, _queue_error)
    api.register_error_handler(ValueError, _value_error)
    api.register_error_handler(sqlite3.Error, _store_error)
    return api


def csrf_token() -> Response:
    """Return a CSRF token for this session's POST requests."""
    return jsonify(csrf_token=security.csrf_token())


def topics() -> Response:
    """Return every topic's counts, oldest pending age, workers and alerts."""
    overview = overview_context(console_state())["overview"]
    return jsonify(
        topics=[
            {
                "topic": summary.name,
                "counts": summary.counts,
                "oldest_pending_age": summary.oldest_pending_age,
                "workers": summary.workers,
                "dead_alert": summary.dead_alert,
                "idle_alert": summary.idle_alert,
            }
            for summary in overview.topics
        ],
        totals=overview.totals,
        workers=[_worker(worker) for worker in overview.workers],
    )


def jobs(topic: str) -> Response:
    """Return a page of *topic*'s jobs in one status, newest first.

    Query parameters: ``status`` (default pending), ``limit`` (1 to 100),
    ``cursor`` (the previous page's ``next_cursor``), ``q`` (text in the
    payload or error) and ``signature`` (one error group).
    """
    limit = parse_limit(request.args.get("limit"))
    page = (
        console_state()
        .queue(topic)
        .search(
            parse_search(request.args.get("q")),
            status=request.args.get("status", "pending"),
            limit=limit,
            cursor=request.args.get("cursor") or None,
            signature=request.args.get("signature") or None,
        )
    )
    return jsonify(
        jobs=[job.to_dict() for job in page.jobs], next_cursor=page.next_cursor
    )


def job(topic: str, job_id: str) -> Response:
    """Return one job with its whole payload."""
    return jsonify(console_state().queue(topic).require(job_id).to_dict())


def error_groups(topic: str) -> Response:
    """Return *topic*'s dead (``?status=failed``: failed) jobs by error signature."""
    status = request.args.get("status", "dead")
    if status not in ERROR_STATUSES:
        raise ValueError(
            f"invalid status {status!r} for error groups; use dead or failed"
        )
    groups = console_state().queue(topic).error_groups(status)
    return jsonify(
        status=status,
        groups=[
            {
                "signature": group.signature,
                "count": group.count,
                "first_seen": group.first_seen,
                "last_seen": group.last_seen,
            }
            for group in groups
        ],
    )


def retry_job(topic: str, job_id: str) -> Response:
    """Move one failed or dead job back to pending; ``moved`` is the outcome."""
    state = console_state()
    queue = state.queue(topic)
    return jsonify(
        moved=operations.retry_job(state.triage, queue, job_id, operator_name())
    )


def delete_job(topic: str, job_id: str) -> Response:
    """Delete one job unless a worker reserved it; ``deleted`` is the outcome."""
    state = console_state()
    queue = state.queue(topic)
    return jsonify(
        deleted=operations.delete_job(state.triage, queue, job_id, operator_name())
    )


def bulk(topic: str) -> Response:
    """Preview or run a bulk retry or purge.

    The body contains ``action`` (retry or purge), ``status``, and optionally
    ``signature`` or a list of ``ids``. With ``"dry_run": true`` nothing
    changes and the reply gives the count and a sample.
    """
    if request.is_json:
        values, ids, dry_run = _json_bulk_request(read_json_object())
    else:
        values, ids, dry_run = _form_bulk_request()
    scope = actions.BulkScope.parse(topic, values, ids)
    queue = console_state().queue(topic)

    if dry_run:
        preview = actions.preview(queue, scope)
        return jsonify(
            scope=scope.to_dict(),
            count=preview.count,
            sample=[job.id for job in preview.sample],
            description=scope.describe_count(preview.count),
        )
    moved = operations.run_bulk(console_state().triage, queue, scope, operator_name())
    return jsonify(
        scope=scope.to_dict(),
        moved=moved,
        description=scope.describe_count(moved, done=True),
    )


BulkRequest = tuple[dict[str, str], list[str] | None, bool]


def _json_bulk_request(body: dict[str, Any]) -> BulkRequest:
    # Each field is checked for its JSON type, because str() would turn
    # "ids": "abc" into three ids and "dry_run": "false" into a dry run.
    values: dict[str, str] = {}
    for key in ("action", "status", "signature"):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValueError(f"{key} must be a string, not {value!r}")
        values[key] = value

    ids = body.get("ids")
    if ids is not None and not (
        isinstance(ids, list) and all(isinstance(job_id, str) for job_id in ids)
    ):
        raise ValueError(f"ids must be a list of job id strings, not {ids!r:.80}")

    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise ValueError(f"dry_run must be true or false, not {dry_run!r:.80}")
    return values, ids, dry_run


def _form_bulk_request() -> BulkRequest:
    form = request.form
    values = {
        key: form[key] for key in ("action", "status", "signature") if key in form
    }
    ids = form.getlist("ids")
    selected = form.get("scope") == "selected" or bool(ids)
    dry_run = form.get("dry_run", "") in ("1", "true")
    return values, ids if selected else None, dry_run


def _worker(worker: Any) -> dict[str, Any]:
    return {
        "id": worker.id,
        "topic": worker.topic,
        "hostname": worker.hostname,
        "pid": worker.pid,
        "started_at": worker.started_at,
        "last_seen": worker.last_seen,
        "current_job": worker.current_job,
        "processed": worker.processed,
        "failed": worker.failed,
    }


def _http_error(error: HTTPException) -> tuple[Response, int]:
    return jsonify(error=error.description), error.code or 500


def _queue_error(error: QueueError) -> tuple[Response, int]:
    if isinstance(error, JobNotFoundError | TopicError):
        return jsonify(error=str(error)), 404
    if isinstance(error, BackendError):
        return jsonify(error=str(error)), 503
    return jsonify(error=str(error)), 400


def _value_error(error: ValueError) -> tuple[Response, int]:
    return jsonify(error=str(error)), 400


def _store_error(error: sqlite3.Error) -> tuple[Response, int]:
    return jsonify(error=console_store_failed(error)), 503
