"""The JSON API: the console's reads and actions for scripts and other tools.

Reads are GET; actions are POST with a JSON or form body and the CSRF token
from ``GET /api/csrf-token`` in the ``X-CSRFToken`` header, sent with the
session cookie that request set. Errors come back as ``{"error": message}``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from queue_core import BackendError, JobNotFoundError, QueueError, TopicError

from . import actions, security
from .context import ERROR_STATUSES, MAX_PAGE_SIZE, PAGE_SIZE, overview_context
from .state import console_state


def make_api_blueprint() -> Blueprint:
    """Return the API blueprint, to be nested under the console blueprint."""
    api = Blueprint("api", __name__)
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
    api.register_error_handler(HTTPException, _http_error)
    api.register_error_handler(QueueError, _queue_error)
    api.register_error_handler(ValueError, _value_error)
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
    limit = request.args.get("limit", PAGE_SIZE, type=int)
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be from 1 to {MAX_PAGE_SIZE}, not {limit}")
    page = (
        console_state()
        .queue(topic)
        .search(
            request.args.get("q") or None,
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
    return jsonify(moved=console_state().queue(topic).retry(job_id))


def delete_job(topic: str, job_id: str) -> Response:
    """Delete one job unless a worker reserved it; ``deleted`` is the outcome."""
    return jsonify(deleted=console_state().queue(topic).delete(job_id))


def bulk(topic: str) -> Response:
    """Preview or run a bulk retry or purge.

    The body contains ``action`` (retry or purge), ``status``, and optionally
    ``signature`` or a list of ``ids``. With ``"dry_run": true`` nothing
    changes and the reply gives the count and a sample.
    """
    body = _body()
    values: dict[str, str] = {
        key: str(body[key]) for key in ("action", "status") if key in body
    }
    if body.get("signature"):
        values["signature"] = str(body["signature"])
    ids = [str(job_id) for job_id in body.get("ids") or []]
    scope = actions.BulkScope.parse(topic, values, ids)
    queue = console_state().queue(topic)

    if body.get("dry_run"):
        preview = actions.preview(queue, scope)
        return jsonify(
            scope=scope.to_dict(),
            count=preview.count,
            sample=[job.id for job in preview.sample],
        )
    return jsonify(scope=scope.to_dict(), moved=actions.execute(queue, scope))


def _body() -> dict[str, Any]:
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ValueError("the request body must be a JSON object")
        return body
    form: dict[str, Any] = request.form.to_dict()
    form["ids"] = request.form.getlist("ids")
    form["dry_run"] = request.form.get("dry_run", "") in ("1", "true")
    return form


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
