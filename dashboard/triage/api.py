"""JSON API routes of the triage tools, nested in the console's API blueprint."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from ..context import parse_limit
from ..state import console_state
from .audit import audit_page


def register_triage_api(api: Blueprint) -> None:
    """Add the triage routes to the JSON API blueprint *api*."""
    api.add_url_rule("/audit", view_func=audit, endpoint="audit")


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
