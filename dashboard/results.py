"""One-shot result messages, shown on the next page after a plain form POST.

htmx requests show an action's result in place. A browser without htmx
follows a redirect instead, so the message waits in the session until the
next whole page renders it. The console's own session key keeps it apart from
a host app's ``flash()`` messages.
"""

from __future__ import annotations

from flask import session

SESSION_KEY = "queuedeck_result"


def remember_result(message: str) -> None:
    """Store *message* for the next whole page of the console."""
    session[SESSION_KEY] = message


def pop_result() -> str | None:
    """Return the stored result message and forget it, or ``None``."""
    message = session.pop(SESSION_KEY, None)
    return message if isinstance(message, str) else None
