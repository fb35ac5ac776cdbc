"""The standalone console app, for ``queuedeck serve`` and gunicorn."""

from __future__ import annotations

import logging
import secrets

from flask import Flask

from queue_core import Settings
from queue_core.backends import Backend

from .extension import init_app
from .settings import ConsoleSettings

logger = logging.getLogger(__name__)


def create_app(
    settings: ConsoleSettings | None = None,
    queue_settings: Settings | None = None,
    backend: Backend | None = None,
) -> Flask:
    """Return a Flask app serving the console at the root URL.

    Settings default to the ``QUEUEDECK_*`` and ``TINA4_QUEUE_*`` environment
    variables. Without ``QUEUEDECK_SECRET_KEY`` a random key signs sessions
    and CSRF tokens, so they end when the process restarts. Processes that
    share no key (gunicorn workers without ``--preload``) reject each
    other's tokens.
    """
    settings = ConsoleSettings.from_env() if settings is None else settings
    app = Flask(__name__, static_folder=None)
    if settings.secret_key is None:
        logger.warning(
            "QUEUEDECK_SECRET_KEY is not set; using a random key for this process"
        )
    app.config.update(
        SECRET_KEY=settings.secret_key or secrets.token_hex(32),
        SESSION_COOKIE_NAME="queuedeck_session",
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
    )
    init_app(
        app,
        url_prefix="",
        settings=settings,
        queue_settings=queue_settings,
        backend=backend,
    )
    return app
