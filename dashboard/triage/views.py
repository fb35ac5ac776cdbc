"""HTML views of the triage tools: the audit log, lineage, edits and runs."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from ..context import parse_limit
from ..state import console_state
from .audit import ACTIONS, audit_page


def register_triage_views(blueprint: Blueprint) -> None:
    """Add the triage pages to the console *blueprint*."""
    blueprint.add_url_rule("/audit", view_func=audit)


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
