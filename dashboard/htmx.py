"""Typed access to the htmx request headers through Flask-HTMX."""

from __future__ import annotations

from flask_htmx import HTMX  # type: ignore[import-untyped]

# HTMX reads the headers of the current request; used without init_app it
# registers nothing on the app, so a host app keeps its own context.
_htmx = HTMX()


def is_htmx_request() -> bool:
    """Return whether htmx sent the current request (and it is no history restore).

    A history-restore request needs the whole page, so it counts as a plain
    browser request.
    """
    return bool(_htmx) and not _htmx.history_restore_request
