"""The example's web app: a JSON API that queues emails, and the console.

Run it with gunicorn from this directory, as the Procfile does::

    gunicorn --bind 127.0.0.1:7145 'app:create_app()'

The console is mounted at ``/admin/queues``. Its CSRF check is a hook on its
own blueprint, so it covers the console's buttons and leaves the routes under
``/api/emails`` alone: they are a machine API that curl calls without a token.
Instead, every POST under ``/api/emails`` must be sent with
``Content-Type: application/json``. A browser sends that content type across
origins only after a CORS preflight, which this app never approves, so
another web page cannot queue or retry emails with a plain HTML form.
"""

from __future__ import annotations

import logging
import secrets

from api_input import EMAIL_FIELDS, encoded_size, validate_email
from config import TOPIC, make_queue
from flask import Blueprint, Flask, jsonify, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import (
    HTTPException,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)

import dashboard
from dashboard.jsonbody import read_json_object
from queue_core import PayloadError, Queue, QueueError
from queue_core.errors import BackendError

logger = logging.getLogger(__name__)

CONSOLE_PREFIX = "/admin/queues"
API_PREFIX = "/api/emails"
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
    app.register_blueprint(make_email_api(queue), url_prefix=API_PREFIX)
    # A 404 or 405 under /api/emails matches no route of the blueprint, so the
    # blueprint's handler never runs for it. This app-wide handler returns
    # JSON there and leaves the error pages of every other path unchanged.
    app.register_error_handler(HTTPException, _api_routing_error)
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

    @api.before_request
    def require_json() -> None:
        if request.method == "POST" and not request.is_json:
            raise UnsupportedMediaType(
                "send the request body as JSON with the header "
                "Content-Type: application/json"
            )

    @api.post("/send")
    def send() -> ResponseReturnValue:
        # validate_email() names the field that contains a lone surrogate.
        data = read_json_object(allow_surrogates=True)
        errors = validate_email(data)
        if errors:
            return jsonify(errors=errors), 400

        payload = {name: data[name] for name in EMAIL_FIELDS}
        limit = queue.settings.max_payload_bytes
        size = encoded_size(payload)
        if size > limit:
            return _error(
                f"the email is {size} bytes as JSON, over the queue's limit of "
                f"{_byte_text(limit)}; shorten the body",
                413,
            )
        job_id = queue.push(payload)
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
        # The body may be empty or {}; only the JSON content type is required.
        if request.get_data(cache=True).strip():
            read_json_object()
        # With automatic retry on, a failed job goes straight back to pending,
        # so the jobs waiting for an operator are the dead letters.
        # retry_all("failed") moves failed and dead jobs alike.
        return jsonify(retried=queue.retry_all("failed"))

    api.register_error_handler(HTTPException, _http_error)
    api.register_error_handler(PayloadError, _payload_error)
    api.register_error_handler(BackendError, _backend_error)
    api.register_error_handler(QueueError, _queue_error)
    return api


def _error(message: str, status: int = 400) -> ResponseReturnValue:
    return jsonify(error=message), status


def _byte_text(count: int) -> str:
    mebibytes, remainder = divmod(count, 1024 * 1024)
    if mebibytes and not remainder:
        return f"{mebibytes} MiB ({count} bytes)"
    return f"{count} bytes"


def _http_error(error: HTTPException) -> ResponseReturnValue:
    if isinstance(error, RequestEntityTooLarge):
        return _error(
            f"the request body is over the limit of {_byte_text(MAX_REQUEST_BYTES)}",
            413,
        )
    response = jsonify(error=error.description or error.name)
    response.status_code = error.code or 500
    # Keeps headers such as the Allow list of a 405.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _api_routing_error(error: HTTPException) -> ResponseReturnValue:
    if request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"):
        return _http_error(error)
    return error


def _payload_error(error: PayloadError) -> ResponseReturnValue:
    # send() checks the size before the push and returns 413 itself, so a
    # PayloadError here means a value the queue cannot store.
    return _error(str(error), 400)


def _backend_error(error: BackendError) -> ResponseReturnValue:
    logger.error("%s %s failed: %s", request.method, request.path, error)
    return _error(str(error), 503)


def _queue_error(error: QueueError) -> ResponseReturnValue:
    logger.error("%s %s failed: %s", request.method, request.path, error)
    return _error(str(error), 500)
