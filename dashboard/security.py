"""Access checks, CSRF protection and security headers for console requests.

Every console request passes :func:`check_request` before its view runs:
authentication first (HTTP Basic credentials from the environment, or the host
app's own check), then read-only mode, then the CSRF token of every POST. The
token comes from Flask-WTF, bound to the session and signed with the app's
secret key. htmx sends it in the ``X-CSRFToken`` header, and plain forms send
it in a ``csrf_token`` field.
"""

from __future__ import annotations

import hmac
import logging
from typing import TypeVar

from flask import Response, abort, request
from flask_wtf.csrf import (  # type: ignore[import-untyped]
    CSRFError,
    generate_csrf,
    validate_csrf,
)
from werkzeug.wrappers import Response as BaseResponse
from wtforms import ValidationError  # type: ignore[import-untyped]

from .state import ConsoleState, console_state

logger = logging.getLogger(__name__)

ResponseT = TypeVar("ResponseT", bound=BaseResponse)

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRFToken"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

# No inline script or style anywhere: htmx and the console's own script load
# from the console's static files, and htmx's injected indicator style is
# turned off in the page's htmx-config meta tag.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def csrf_token() -> str:
    """Return this session's CSRF token, creating it on first use."""
    token: str = generate_csrf()
    return token


def operator_name() -> str:
    """Return who sent the current request, for the audit log.

    The HTTP Basic user name when the console has credentials, else the host
    app's ``user_name`` hook, else ``anonymous`` with the client address.
    """
    state = console_state()
    auth = request.authorization
    if state.settings.username is not None and auth is not None and auth.username:
        return auth.username
    if state.user_name is not None:
        name = state.user_name()
        if name:
            return name
    return f"anonymous ({request.remote_addr or 'unknown address'})"


def check_request() -> Response | None:
    """Authenticate the request, then reject writes in read-only mode or without CSRF.

    Registered as the console blueprint's ``before_request`` hook; a returned
    response or a raised HTTP error stops the request before its view.
    """
    state = console_state()
    denied = _authenticate(state)
    if denied is not None:
        return denied
    if request.method in SAFE_METHODS:
        return None
    if state.settings.read_only:
        abort(403, description="The console is read-only; actions are turned off.")
    _check_csrf()
    return None


def add_security_headers(response: ResponseT) -> ResponseT:
    """Add the CSP, anti-framing and no-sniff headers to a console response."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.vary.add("HX-Request")
    return response


def _authenticate(state: ConsoleState) -> Response | None:
    if state.auth_check is not None and not state.auth_check():
        abort(403, description="You may not use the queue console.")

    settings = state.settings
    if settings.username is None or settings.password is None:
        return None
    auth = request.authorization
    if (
        auth is not None
        and auth.type == "basic"
        and _equal(auth.username, settings.username)
        and _equal(auth.password, settings.password)
    ):
        return None
    if auth is not None:
        logger.warning("console login failed for user %r", auth.username)
    return Response(
        "Log in with the console's user name and password.\n",
        401,
        {"WWW-Authenticate": 'Basic realm="queuedeck", charset="UTF-8"'},
        mimetype="text/plain",
    )


def _check_csrf() -> None:
    token = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    try:
        validate_csrf(token)
    except ValidationError as exc:
        logger.info("rejected %s %s: %s", request.method, request.path, exc)
        raise CSRFError(str(exc)) from None


def _equal(given: str | None, expected: str) -> bool:
    # A constant-time comparison, so response times do not leak the secret.
    return given is not None and hmac.compare_digest(
        given.encode("utf-8"), expected.encode("utf-8")
    )
