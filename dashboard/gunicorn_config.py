"""gunicorn settings for the console: ``gunicorn -c python:dashboard.gunicorn_config``.

Listens on ``QUEUEDECK_BIND`` (default ``127.0.0.1:$PORT``, port 7145 when
``PORT`` is unset) with ``QUEUEDECK_WORKERS`` processes (default 2). The app
loads before the workers fork, so without ``QUEUEDECK_SECRET_KEY`` they still
share one random key and accept each other's CSRF tokens. Like
``queuedeck serve``, it refuses a non-loopback address without credentials,
and each worker starts the console's sampler and bulk retry runner as soon as
it has loaded the app.
"""

from __future__ import annotations

import os
from typing import Any

from .settings import ConsoleSettings, is_loopback

bind = [os.environ.get("QUEUEDECK_BIND") or f"127.0.0.1:{os.environ.get('PORT', 7145)}"]
workers = int(os.environ.get("QUEUEDECK_WORKERS", "2"))
preload_app = True
accesslog = "-"
# gunicorn 25.1 and later open a control socket at ~/.gunicorn/gunicorn.ctl by
# default, one path that every instance of the same user would share.
control_socket_disable = True


def on_starting(server: Any) -> None:
    """Stop gunicorn before it binds a public address with no credentials."""
    settings = ConsoleSettings.from_env()
    for address in server.cfg.bind:
        host = address.rsplit(":", 1)[0] if ":" in address else address
        if address.startswith("unix:") or is_loopback(host.strip("[]")):
            continue
        if not settings.has_credentials:
            raise SystemExit(
                f"queuedeck: refusing to listen on {address!r} without credentials; "
                "set QUEUEDECK_USERNAME and QUEUEDECK_PASSWORD (and "
                "QUEUEDECK_SECRET_KEY), or bind to 127.0.0.1"
            )


def post_worker_init(worker: Any) -> None:
    """Start the console's sampler and bulk retry runner in this worker.

    A fork copies no threads, so each worker starts its own, after the fork
    and after loading the app (for a gevent worker, also after gunicorn
    monkey-patched it). The stores' claims and leases keep workers from sampling
    one interval or stepping one run twice. An app that is not a Flask app
    with the console on it, such as one wrapped in WSGI middleware, starts
    them on its first console request instead.
    """
    from flask import Flask

    from .state import EXTENSION_NAME, ConsoleState

    app = worker.wsgi
    state = app.extensions.get(EXTENSION_NAME) if isinstance(app, Flask) else None
    if not isinstance(state, ConsoleState):
        worker.log.info(
            "queuedeck: no console found on the app; its background threads "
            "start on the first console request"
        )
        return
    if app.testing:
        return
    state.start_background()
