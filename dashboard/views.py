"""HTML views: every URL renders a whole page, or its partial for htmx.

A view builds its context once with a builder from :mod:`dashboard.context`.
The page template includes the partial, and an htmx request gets the partial
alone, rendered from the same context.
"""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_htmx import make_response as htmx_response  # type: ignore[import-untyped]
from werkzeug.datastructures import MultiDict

from . import actions
from .context import (
    charts_context,
    counts_context,
    error_groups_context,
    job_context,
    overview_context,
    parse_limit,
    parse_search,
    topic_context,
)
from .htmx import is_htmx_request
from .results import remember_result
from .security import operator_name
from .state import console_state
from .triage import operations
from .triage.views import job_gone, register_triage_views

# Events sent in the HX-Trigger header after an action: the tab counts and
# the job list listen for them and reload themselves.
COUNTS_CHANGED = "counts-changed"
ROWS_CHANGED = "rows-changed"


def register_views(blueprint: Blueprint) -> None:
    """Add the console's HTML routes to *blueprint*."""
    blueprint.add_url_rule("/", view_func=overview)
    blueprint.add_url_rule("/charts", view_func=overall_charts)
    blueprint.add_url_rule("/topics/<topic>", view_func=topic)
    blueprint.add_url_rule("/topics/<topic>/charts", view_func=topic_charts)
    blueprint.add_url_rule("/topics/<topic>/counts", view_func=topic_counts)
    blueprint.add_url_rule("/topics/<topic>/errors", view_func=error_groups)
    blueprint.add_url_rule("/topics/<topic>/jobs/<job_id>", view_func=job)
    blueprint.add_url_rule(
        "/topics/<topic>/jobs/<job_id>/retry", view_func=retry_job, methods=["POST"]
    )
    blueprint.add_url_rule(
        "/topics/<topic>/jobs/<job_id>/delete", view_func=delete_job, methods=["POST"]
    )
    blueprint.add_url_rule("/topics/<topic>/bulk", view_func=bulk_preview)
    blueprint.add_url_rule(
        "/topics/<topic>/bulk",
        view_func=bulk_run,
        methods=["POST"],
        endpoint="bulk_run",
    )
    register_triage_views(blueprint)


def overview() -> str:
    """Show every topic's counts, workers and alerts."""
    context = overview_context(console_state())
    return _render("overview.html", "_overview.html", context)


def overall_charts() -> str:
    """Show the history charts of every topic added up (``?range=hour|day``)."""
    context = charts_context(console_state(), None, request.args.get("range"))
    return _render("charts.html", "_charts.html", context)


def topic_charts(topic: str) -> str:
    """Show the history charts of *topic* (``?range=hour|day``)."""
    context = charts_context(console_state(), topic, request.args.get("range"))
    return _render("charts.html", "_charts.html", context)


def topic(topic: str) -> str:
    """Show *topic*'s charts of the last hour and one status tab of its jobs."""
    context = topic_context(
        console_state(),
        topic,
        status=request.args.get("status", "pending"),
        cursor=request.args.get("cursor") or None,
        text=parse_search(request.args.get("q")),
        signature=_signature(request.args),
        limit=parse_limit(request.args.get("limit")),
    )
    if not is_htmx_request():
        context.update(charts_context(console_state(), topic))
    return _render("topic.html", "_jobs.html", context)


def topic_counts(topic: str) -> ResponseReturnValue:
    """Return the status tabs of *topic*; browsers without htmx get the topic page."""
    if not is_htmx_request():
        return redirect(url_for(".topic", topic=topic), 303)
    context = counts_context(console_state(), topic)
    context["status"] = request.args.get("status", "pending")
    return render_template("queuedeck/_tabs.html", **context)


def error_groups(topic: str) -> str:
    """Show *topic*'s dead (or failed) jobs grouped by error signature."""
    status = request.args.get("status", "dead")
    context = error_groups_context(console_state(), topic, status=status)
    return _render("errors.html", "_error_groups.html", context)


def job(topic: str, job_id: str) -> str:
    """Show one job: payload, error, attempts and timestamps."""
    context = job_context(console_state(), topic, job_id)
    if context is None:
        return job_gone(topic, job_id)
    return render_template("queuedeck/job.html", **context)


def retry_job(topic: str, job_id: str) -> ResponseReturnValue:
    """Move one failed or dead job back to pending."""
    state = console_state()
    moved = operations.retry_job(
        state.triage, state.queue(topic), job_id, operator_name()
    )
    message = "moved to pending" if moved else "was not failed or dead; unchanged"
    if is_htmx_request():
        return _row_result(topic, job_id, message)
    remember_result(f"Job {job_id} {message}.")
    return redirect(url_for(".job", topic=topic, job_id=job_id), 303)


def delete_job(topic: str, job_id: str) -> ResponseReturnValue:
    """Delete one job unless a worker reserved it.

    A plain form POST redirects to the job's status tab once the job is gone,
    and back to the job page when it is still there.
    """
    state = console_state()
    queue = state.queue(topic)
    job = queue.get(job_id)
    deleted = operations.delete_job(state.triage, queue, job_id, operator_name())
    message = (
        "deleted"
        if deleted
        else "not deleted: a worker reserved it, or it no longer exists"
    )
    if is_htmx_request():
        return _row_result(topic, job_id, message)

    remember_result(f"Job {job_id} {message}.")
    if job is not None and not deleted:
        return redirect(url_for(".job", topic=topic, job_id=job_id), 303)
    status = job.status.value if job is not None else None
    return redirect(url_for(".topic", topic=topic, status=status), 303)


def bulk_preview(topic: str) -> str:
    """Show what a bulk retry or purge would do, with a confirmation form.

    In read-only mode the preview is rejected with 403 like the action
    itself, so no page offers a button that cannot work.
    """
    if console_state().settings.read_only:
        abort(403, description="The console is read-only; actions are turned off.")
    scope = _bulk_scope(topic, request.args)
    preview = actions.preview(console_state().queue(topic), scope)
    context = {
        "topic": topic,
        "preview": preview,
        "scope": scope,
        "search": parse_search(request.args.get("q")),
    }
    return _render("bulk.html", "_bulk_preview.html", context)


def bulk_run(topic: str) -> str | Response:
    """Run a confirmed bulk retry or purge and report how many jobs it moved."""
    scope = _bulk_scope(topic, request.form)
    state = console_state()
    moved = operations.run_bulk(
        state.triage, state.queue(topic), scope, operator_name()
    )
    expected = request.form.get("expected", type=int)
    context = {"topic": topic, "scope": scope, "moved": moved, "expected": expected}
    if not is_htmx_request():
        return render_template("queuedeck/bulk.html", **context)
    body = render_template("queuedeck/_bulk_result.html", **context)
    return _changed(body, rows=True)


def _signature(values: MultiDict[str, str]) -> str | None:
    """Return the error signature in *values*, from ``signature_json`` if set.

    The console's forms send the signature JSON-encoded in ``signature_json``,
    because an HTML attribute cannot carry NUL and turns CR into LF, and an
    error text may contain both. Links send it plainly in ``signature``.

    :raises ValueError: if ``signature_json`` is not a JSON string.
    """
    encoded = values.get("signature_json")
    if encoded is None:
        return values.get("signature") or None
    try:
        signature = json.loads(encoded)
    except ValueError:
        signature = None
    if not isinstance(signature, str):
        raise ValueError(f"signature_json must be a JSON string, not {encoded!r:.80}")
    return signature or None


def _bulk_scope(topic: str, values: MultiDict[str, str]) -> actions.BulkScope:
    # The selection form sends scope=selected, so an empty selection is an
    # error instead of falling back to every job of the status.
    if "signature_json" in values:
        values = MultiDict(values)
        values.setlist("signature", [_signature(values) or ""])
    ids = values.getlist("ids")
    selected = values.get("scope") == "selected" or bool(ids)
    return actions.BulkScope.parse(topic, values, ids if selected else None)


def _render(page: str, partial: str, context: dict[str, Any]) -> str:
    name = partial if is_htmx_request() else page
    return render_template(f"queuedeck/{name}", **context)


def _row_result(topic: str, job_id: str, message: str) -> Response:
    body = render_template(
        "queuedeck/_row_result.html", topic=topic, job_id=job_id, message=message
    )
    return _changed(body, rows=False)


def _changed(body: str, *, rows: bool) -> Response:
    events = [COUNTS_CHANGED, ROWS_CHANGED] if rows else [COUNTS_CHANGED]
    response: Response = htmx_response(body, trigger=", ".join(events))
    return response
