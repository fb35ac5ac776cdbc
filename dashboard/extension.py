"""The console blueprint and ``init_app``, which mounts it on any Flask app."""

from __future__ import annotations

import sqlite3
import time
from importlib import resources
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    send_from_directory,
)
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.wrappers import Response as BaseResponse

from queue_core import (
    BackendError,
    JobNotFoundError,
    QueueError,
    Settings,
    TopicError,
)
from queue_core.backends import Backend

from . import formatting
from .api import make_api_blueprint
from .htmx import is_htmx_request
from .metrics import metrics
from .results import pop_result
from .security import add_security_headers, check_request, csrf_token
from .settings import ConsoleSettings
from .state import (
    EXTENSION_NAME,
    AuthCheck,
    ConsoleState,
    UserName,
    console_state,
    console_store_failed,
)
from .views import register_views

BLUEPRINT_NAME = "queuedeck"
HTMX_FILE = "htmx.min.js"


def init_app(
    app: Flask,
    *,
    url_prefix: str = "/queues",
    settings: ConsoleSettings | None = None,
    queue_settings: Settings | None = None,
    backend: Backend | None = None,
    auth_check: AuthCheck | None = None,
    user_name: UserName | None = None,
) -> ConsoleState:
    """Mount the console on *app* under *url_prefix* and return its state.

    :param settings: console settings; default :meth:`ConsoleSettings.from_env`.
    :param queue_settings: queue settings; default ``Settings.from_env()``.
    :param backend: an open backend to share, built from *queue_settings*;
        by default one is opened on the first request and shared by all.
    :param auth_check: called before every console request; returning
        ``False`` rejects it with 403. It may also abort or redirect itself.
    :param user_name: returns the current user's name for the audit log, when
        the host app, not HTTP Basic, logs users in.

    The host app's ``SECRET_KEY`` signs the console's CSRF tokens.
    """
    state = ConsoleState(
        settings=ConsoleSettings.from_env() if settings is None else settings,
        queue_settings=Settings.from_env()
        if queue_settings is None
        else queue_settings,
        auth_check=auth_check,
        shared_backend=backend,
        user_name=user_name,
    )
    state.url_prefix = url_prefix.rstrip("/")
    app.extensions[EXTENSION_NAME] = state
    app.register_blueprint(make_blueprint(), url_prefix=url_prefix or None)
    # A URL that matches no route (404) or not with this method (405) never
    # reaches the blueprint's hooks, because Flask finds a request's blueprint
    # through its matched route. These two app hooks act only on paths under the
    # console's prefix, so the host's own pages and errors stay unchanged.
    app.before_request(_handle_routing_error)
    app.after_request(_add_console_headers)
    return state


def make_blueprint() -> Blueprint:
    """Return a new console blueprint with its views, API, assets and hooks."""
    blueprint = Blueprint(
        BLUEPRINT_NAME,
        __name__,
        template_folder=str(_resource_directory("templates")),
        static_folder=str(_resource_directory("static")),
        static_url_path="/static",
    )
    blueprint.before_request(_start_timer)
    blueprint.before_request(check_request)
    blueprint.before_request(_start_sampler)
    blueprint.after_request(add_security_headers)
    blueprint.after_request(_add_server_timing)
    blueprint.context_processor(_template_context)
    # The filter is app-wide in Jinja, so its name carries the console's.
    blueprint.add_app_template_filter(formatting.visible, "queuedeck_visible")
    blueprint.register_error_handler(HTTPException, _http_error)
    blueprint.register_error_handler(QueueError, _queue_error)
    blueprint.register_error_handler(ValueError, _value_error)
    blueprint.register_error_handler(sqlite3.Error, _store_error)

    register_views(blueprint)
    blueprint.add_url_rule("/metrics", view_func=metrics)
    blueprint.add_url_rule(
        "/vendor/htmx.min.js", endpoint="htmx_script", view_func=_htmx_script
    )
    blueprint.register_blueprint(make_api_blueprint(), url_prefix="/api")
    return blueprint


def _resource_directory(name: str) -> Path:
    # A wheel installs templates/ and static/ inside the package; a source
    # checkout keeps them at the top of the repository.
    package = Path(__file__).resolve().parent
    installed = package / name
    return installed if installed.is_dir() else package.parent / name


def _htmx_script() -> Response:
    # htmx comes from the pinned django-js-lib-htmx package, which ships it as
    # plain files and loads no Django unless Django imports it.
    directory = resources.files("js_lib_htmx") / "static" / "htmx"
    return send_from_directory(str(directory), HTMX_FILE, max_age=86400)


def _template_context() -> dict[str, Any]:
    state = console_state()
    return {
        "csrf_token": csrf_token,
        "read_only": state.settings.read_only,
        "utc": formatting.utc_text,
        "age": formatting.age_text,
        "duration": formatting.duration_text,
        "shorten": formatting.shorten,
        "plural": formatting.plural,
        "pop_result": pop_result,
    }


def _start_timer() -> None:
    g.queuedeck_started = time.perf_counter()


def _start_sampler() -> None:
    # `queuedeck serve` and the gunicorn config start the sampler and the
    # bulk retry runner when the server starts. An app that embeds the console
    # may call console_state(app).start_background() itself, and otherwise
    # its first console request starts them here. init_app does not, because
    # a server that forks (gunicorn) copies no threads into its workers. The
    # store's tick claims keep processes from sampling one interval twice,
    # and a run's lease row keeps them from stepping one run twice. A test
    # app starts them only when a test calls ConsoleState.start_sampler or
    # start_runner.
    if not current_app.testing:
        console_state().start_background()


def _add_server_timing(response: Response) -> Response:
    started = g.get("queuedeck_started")
    if started is not None:
        elapsed = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={elapsed:.1f}"
    return response


def _handle_routing_error() -> BaseResponse | None:
    error = request.routing_exception
    state = current_app.extensions.get(EXTENSION_NAME)
    if not isinstance(error, HTTPException) or not isinstance(state, ConsoleState):
        return None
    if not state.owns_path(request.path):
        return None
    if error.code is None or error.code < 400:
        # A redirect such as the one that adds a trailing slash.
        return add_security_headers(error.get_response())

    message = error.description or error.name
    if state.is_api_path(request.path):
        response = jsonify(error=message)
        response.status_code = error.code
    else:
        response = _error_page(error.code, message, _template_context())
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return add_security_headers(response)


def _add_console_headers(response: Response) -> Response:
    state = current_app.extensions.get(EXTENSION_NAME)
    if isinstance(state, ConsoleState) and state.owns_path(request.path):
        add_security_headers(response)
    return response


def _http_error(error: HTTPException) -> Response | HTTPException:
    if error.code is None or error.code < 400:
        return error
    return _error_page(error.code, error.description or error.name)


def _queue_error(error: QueueError) -> Response:
    if isinstance(error, JobNotFoundError | TopicError):
        return _error_page(404, str(error))
    if isinstance(error, BackendError):
        return _error_page(503, str(error))
    return _error_page(400, str(error))


def _value_error(error: ValueError) -> Response:
    return _error_page(400, str(error))


def _store_error(error: sqlite3.Error) -> Response:
    # The file backend wraps its own SQLite errors in StorageError, so this
    # one comes from the console's history or triage store.
    return _error_page(503, console_store_failed(error))


def _error_page(
    code: int, message: str, context: dict[str, Any] | None = None
) -> Response:
    # htmx requests get plain text that the console script shows in its
    # message bar; browsers get a whole page. *context* supplies the
    # template globals when no console route matched, because the
    # blueprint's context processor then does not run.
    if is_htmx_request():
        return Response(message, code, mimetype="text/plain")
    body = render_template(
        "queuedeck/error.html", code=code, message=message, **(context or {})
    )
    return Response(body, code, mimetype="text/html")
