"""The example's web app: a JSON API that queues emails, and the console.

Run it with gunicorn from this directory, as the Procfile does::

    gunicorn --bind 127.0.0.1:7145 'app:create_app()'

The console is mounted at ``/admin/queues``. Its CSRF check is a hook on its
own blueprint, so it covers the console's buttons and leaves the routes under
``/api/emails`` alone: they are a machine API that curl calls without a token.
"""

from __future__ import annotations

import logging
import secrets

from config import TOPIC, make_queue
from flask import Blueprint, Flask, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

import dashboard
from queue_core import PayloadError, Queue, QueueError
from queue_core.errors import BackendError

logger = logging.getLogger(__name__)

CONSOLE_PREFIX = "/admin/queues"
EMAIL_FIELDS = ("to", "subject", "body")
MAX_REQUEST_BYTES = 1024 * 1024


def create_app() -> Flask:
    """Build the app with the queue and console settings of the environment."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    console_settings = dashboard.ConsoleSettings.from_env()
    # The key signs the console's CSRF tokens. A random one works for the one
    # gunicorn process of the Procfile. Several processes need one shared
    # QUEUEDECK_SECRET_KEY.
    app.config["SECRET_KEY"] = console_settings.secret_key or secrets.token_hex(32)

    queue = make_queue()
    app.register_blueprint(make_email_api(queue), url_prefix="/api/emails")
    dashboard.init_app(
        app,
        url_prefix=CONSOLE_PREFIX,
        settings=console_settings,
        queue_settings=queue.settings,
        backend=queue.backend,
    )

    @app.get("/")
    def home() -> ResponseReturnValue:
        return redirect(url_for("queuedeck.overview"))

    return app


def make_email_api(queue: Queue) -> Blueprint:
    """Return the blueprint of the ``/api/emails`` routes over *queue*."""
    api = Blueprint("emails", __name__)

    @api.post("/send")
    def send() -> ResponseReturnValue:
        data = request.get_json(force=True, silent=True)
        if not isinstance(data, dict):
            return _error(
                "the request body must be a JSON object with to, subject and body"
            )
        errors = validate_email(data)
        if errors:
            return jsonify(errors=errors), 400
        job_id = queue.push({name: data[name] for name in EMAIL_FIELDS})
        location = url_for("queuedeck.api.job", topic=TOPIC, job_id=job_id)
        return jsonify(id=job_id, status="pending"), 201, {"Location": location}

    @api.get("/queue")
    def pending() -> ResponseReturnValue:
        counts = queue.counts()
        return jsonify(topic=TOPIC, pending=counts["pending"], counts=counts)

    @api.get("/dead")
    def dead() -> ResponseReturnValue:
        letters = [
            {
                "id": job.id,
                "payload": job.payload,
                "error": job.error,
                "attempts": job.attempts,
            }
            for job in queue.dead_letters()
        ]
        return jsonify(count=len(letters), dead=letters)

    @api.post("/retry")
    def retry() -> ResponseReturnValue:
        # With automatic retry on, a failed job goes straight back to pending,
        # so the jobs waiting for an operator are the dead letters.
        # retry_all("failed") moves failed and dead jobs alike.
        return jsonify(retried=queue.retry_all("failed"))

    api.register_error_handler(HTTPException, _http_error)
    api.register_error_handler(PayloadError, _payload_error)
    api.register_error_handler(BackendError, _backend_error)
    api.register_error_handler(QueueError, _queue_error)
    return api


def validate_email(data: dict[str, object]) -> dict[str, str]:
    """Return one error message per invalid field of *data*, or an empty dict."""
    errors: dict[str, str] = {}
    for name in EMAIL_FIELDS:
        value = data.get(name)
        if value is None:
            errors[name] = f"{name} is required"
        elif not isinstance(value, str):
            errors[name] = f"{name} must be a string"
        elif not value.strip():
            errors[name] = f"{name} must not be empty"

    to = data.get("to")
    if "to" not in errors and not _is_address(str(to)):
        errors["to"] = (
            f"to must be a single email address such as alice@example.com, not {to!r}"
        )
    subject = data.get("subject")
    if "subject" not in errors and any(c in str(subject) for c in "\r\n"):
        errors["subject"] = "subject must be a single line"
    return errors


def _is_address(text: str) -> bool:
    # One plain address: the SMTP server judges whether it exists. Spaces,
    # commas and line breaks would make it several addresses or a header.
    local, at, domain = text.partition("@")
    forbidden = set(" \t\r\n,;<>\"'")
    return (
        bool(local and at and domain)
        and "@" not in domain
        and not (forbidden & set(text))
    )


def _error(message: str, status: int = 400) -> ResponseReturnValue:
    return jsonify(error=message), status


def _http_error(error: HTTPException) -> ResponseReturnValue:
    return _error(error.description or error.name, error.code or 500)


def _payload_error(error: PayloadError) -> ResponseReturnValue:
    return _error(str(error), 413)


def _backend_error(error: BackendError) -> ResponseReturnValue:
    logger.error("%s %s failed: %s", request.method, request.path, error)
    return _error(str(error), 503)


def _queue_error(error: QueueError) -> ResponseReturnValue:
    logger.error("%s %s failed: %s", request.method, request.path, error)
    return _error(str(error), 500)
