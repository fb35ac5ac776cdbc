"""HTML views of the triage tools: the audit log, lineage, edits and runs."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..context import parse_limit
from ..results import remember_result
from ..security import operator_name
from ..state import console_state
from . import operations
from .audit import ACTIONS, audit_page
from .lineage import job_lineage
from .operations import check_target_topic


def register_triage_views(blueprint: Blueprint) -> None:
    """Add the triage pages to the console *blueprint*."""
    blueprint.add_url_rule("/audit", view_func=audit)
    blueprint.add_url_rule(
        "/topics/<topic>/jobs/<job_id>/send", view_func=send_job, methods=["POST"]
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
    if sent_as is None:
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
