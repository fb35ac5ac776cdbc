"""HTML views of the triage tools: the audit log, lineage, edits and runs."""

from __future__ import annotations

import re

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..context import parse_limit
from ..htmx import is_htmx_request
from ..results import remember_result
from ..security import operator_name
from ..state import console_state
from . import operations
from .audit import ACTIONS, audit_page
from .edits import (
    check_editable,
    parse_payload_text,
    payload_diff,
    pretty_json,
    retry_with_payload,
    undo_payload,
)
from .lineage import job_lineage
from .operations import check_target_topic
from .runs import MAX_MIN_SAMPLE, Run, get_run, list_runs
from .runs import control_run as control
from .runs import start_run as start


def register_triage_views(blueprint: Blueprint) -> None:
    """Add the triage pages to the console *blueprint*."""
    blueprint.add_url_rule("/audit", view_func=audit)
    blueprint.add_url_rule(
        "/topics/<topic>/jobs/<job_id>/send", view_func=send_job, methods=["POST"]
    )
    blueprint.add_url_rule(
        "/topics/<topic>/jobs/<job_id>/edit", view_func=edit_preview, methods=["POST"]
    )
    blueprint.add_url_rule(
        "/topics/<topic>/jobs/<job_id>/edit/confirm",
        view_func=edit_confirm,
        methods=["POST"],
    )
    blueprint.add_url_rule("/runs", view_func=runs)
    blueprint.add_url_rule("/runs/<int:run_id>", view_func=run)
    blueprint.add_url_rule("/runs/<int:run_id>/progress", view_func=run_progress)
    blueprint.add_url_rule(
        "/topics/<topic>/runs", view_func=start_run, methods=["POST"]
    )
    blueprint.add_url_rule(
        "/runs/<int:run_id>/<command>", view_func=control_run, methods=["POST"]
    )
    blueprint.add_url_rule(
        "/topics/<topic>/jobs/<job_id>/revisions/<int:revision_id>/undo",
        view_func=undo_preview,
        methods=["POST"],
    )


def audit() -> str:
    """Show a page of the audit log, newest first, optionally filtered."""
    topic = request.args.get("topic") or None
    action = request.args.get("action") or None
    cursor = request.args.get("cursor") or None
    page = audit_page(
        console_state().triage,
        limit=parse_limit(request.args.get("limit")),
        cursor=cursor,
        topic=topic,
        action=action,
    )
    return render_template(
        "queuedeck/audit.html",
        page=page,
        topic=topic,
        action=action,
        cursor=cursor,
        actions=ACTIONS,
    )


def job_gone(topic: str, job_id: str) -> str:
    """Show where a job that was sent to a topic went, or give 404.

    The job view calls this for a job the backend no longer stores.
    """
    lineage = job_lineage(console_state().triage, job_id)
    sent_as = lineage.sent_as
    if sent_as is None or sent_as.source_topic != topic:
        abort(404, description=f"No job {job_id!r} on topic {topic!r}.")
    return render_template(
        "queuedeck/job_sent.html", topic=topic, job_id=job_id, lineage=lineage
    )


def send_job(topic: str, job_id: str) -> ResponseReturnValue:
    """Send a failed or dead job to the topic in the form as a new job."""
    target = request.form.get("to_topic", "").strip()
    if not target:
        raise ValueError("missing topic; enter the topic to send the job to")
    check_target_topic(target)
    state = console_state()
    new_id = operations.send_job(
        state.triage, state.queue(topic), job_id, target, operator_name()
    )
    remember_result(f"Job {job_id} of topic {topic!r} was sent here as job {new_id}.")
    return redirect(url_for(".job", topic=target, job_id=new_id), 303)


def edit_preview(topic: str, job_id: str) -> str:
    """Show the diff of an edited payload, with a button that retries with it."""
    queue = console_state().queue(topic)
    payload = parse_payload_text(request.form.get("payload", ""), queue)
    return _preview(topic, job_id, payload, None)


def undo_preview(topic: str, job_id: str, revision_id: int) -> str:
    """Show the diff that undoing one payload edit makes, with a confirm button."""
    payload = undo_payload(console_state().triage, job_id, revision_id)
    return _preview(topic, job_id, payload, revision_id)


def edit_confirm(topic: str, job_id: str) -> ResponseReturnValue:
    """Retry a failed or dead job with the confirmed payload; record the edit."""
    state = console_state()
    queue = state.queue(topic)
    payload = parse_payload_text(request.form.get("payload", ""), queue)
    undo_of = _form_revision_id("undo_of")
    revision = retry_with_payload(
        state.triage, queue, job_id, payload, operator_name(), undo_of=undo_of
    )
    remember_result(
        f"Job {job_id} moved to pending with the edited payload (edit {revision.id})."
    )
    return redirect(url_for(".job", topic=topic, job_id=job_id), 303)


def _preview(
    topic: str, job_id: str, payload: dict[str, object], undo_of: int | None
) -> str:
    stored = check_editable(console_state().queue(topic), job_id)
    return render_template(
        "queuedeck/edit_preview.html",
        topic=topic,
        job_id=job_id,
        diff=payload_diff(stored, payload),
        payload_text=pretty_json(payload),
        undo_of=undo_of,
    )


def runs() -> str:
    """List the bulk retry runs, newest first."""
    return render_template(
        "queuedeck/runs.html", runs=list_runs(console_state().triage)
    )


def run(run_id: int) -> str:
    """Show one bulk retry run with its progress and controls."""
    return render_template("queuedeck/run.html", run=_find_run(run_id))


def run_progress(run_id: int) -> str:
    """Return a run's progress panel, which htmx polls while the run is active."""
    return render_template("queuedeck/_run.html", run=_find_run(run_id))


def start_run(topic: str) -> ResponseReturnValue:
    """Start a bulk retry run of the status or error group in the form."""
    state = console_state()
    form = request.form
    started = start(
        state.triage,
        state.queue(topic),
        status=form.get("status", ""),
        signature=form.get("signature") or None,
        rate=_form_number("rate"),
        threshold=_form_number("threshold") / 100,
        min_sample=_form_min_sample(),
        actor=operator_name(),
    )
    return redirect(url_for(".run", run_id=started.id), 303)


def control_run(run_id: int, command: str) -> ResponseReturnValue:
    """Pause, resume or cancel a run; htmx gets the updated progress panel."""
    _find_run(run_id)
    changed = control(console_state().triage, run_id, command, operator_name())
    if is_htmx_request():
        return render_template("queuedeck/_run.html", run=changed)
    return redirect(url_for(".run", run_id=run_id), 303)


def _find_run(run_id: int) -> Run:
    try:
        return get_run(console_state().triage, run_id)
    except (LookupError, OverflowError):
        abort(404, description=f"No bulk retry run {run_id}.")


def _form_revision_id(name: str) -> int | None:
    text = request.form.get(name, "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"invalid {name} {text!r}; give a revision id") from None


def _form_min_sample() -> int:
    # Parsed like a JSON integer, so "2.5", "1e30", "inf" and "nan" are
    # rejected. start_run checks the range of the ones that parse.
    text = request.form.get("min_sample", "").strip()
    if re.fullmatch(r"[+-]?[0-9]{1,30}", text) is None:
        raise ValueError(
            f"invalid min_sample {text!r:.80}; enter a whole number from 1 to "
            f"{MAX_MIN_SAMPLE}"
        )
    return int(text)


def _form_number(name: str) -> float:
    text = request.form.get(name, "")
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"invalid {name} {text!r}; enter a number") from None
