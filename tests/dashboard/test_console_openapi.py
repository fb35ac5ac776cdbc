"""The JSON API's OpenAPI description, and schemathesis fuzzing against it.

Schemathesis generates requests from the description and calls the console
app in process. With valid credentials and a CSRF token, no response may be
a server error or break the described schemas. Without credentials, or
without the token, no request may change a job.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis import checks

from dashboard import ConsoleSettings, create_app, init_app
from queue_core import Queue, Settings
from queue_core.backends import open_backend
from tests.dashboard.console_helpers import push_dead

USER = "ops"
PASSWORD = "correct horse"
FUZZ_EXAMPLES = 40
TOPIC = "emails"
# The API's routes besides /openapi.json, and how many of them are POST.
OPERATION_COUNT = 17
WRITE_OPERATION_COUNT = 7


def basic_auth(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Basic {token}"


AUTHORIZED = {"Authorization": basic_auth(USER, PASSWORD)}


@pytest.fixture
def secured_app(tmp_path: Path) -> Iterator[Flask]:
    """Yield a console with a user name and password over a store with jobs."""
    queue_settings = Settings(path=tmp_path / "queue")
    backend = open_backend(queue_settings)
    queue = Queue(TOPIC, max_retries=1, settings=queue_settings, backend=backend)
    push_dead(queue, 3, "ValueError: bad address <b>x</b>")
    queue.push({"to": "a@example.com"})
    completed = queue.push({"to": "b@example.com"})
    job = next(queue.consume(id=completed, poll_interval=0))
    assert job.complete()
    console = ConsoleSettings(
        secret_key="test secret key", username=USER, password=PASSWORD
    )
    app = create_app(console, queue_settings, backend)
    app.config["TESTING"] = True
    yield app
    backend.close()


def store_snapshot(app: Flask) -> dict[str, Any]:
    """Return every job of the topic, by id, as the API shows it."""
    client = app.test_client()
    jobs: dict[str, Any] = {}
    for status in ("pending", "reserved", "completed", "failed", "dead"):
        reply = client.get(
            f"/api/topics/{TOPIC}/jobs?status={status}&limit=100", headers=AUTHORIZED
        )
        assert reply.status_code == 200
        for job in reply.get_json()["jobs"]:
            jobs[job["id"]] = job
    return jobs


def session_headers(app: Flask) -> tuple[dict[str, str], dict[str, str]]:
    """Return headers with credentials and a CSRF token, and its session cookie."""
    client = app.test_client()
    reply = client.get("/api/csrf-token", headers=AUTHORIZED)
    assert reply.status_code == 200
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    assert cookie is not None
    headers = {**AUTHORIZED, "X-CSRFToken": reply.get_json()["csrf_token"]}
    return headers, {name: cookie.value}


FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def fuzz(app: Flask, check: Callable[[Any], None], *, method: str | None = None) -> int:
    """Run *check* on generated cases of every operation (or of one *method*).

    Returns how many operations ran, so a test can tell none were skipped.
    """
    schema = schemathesis.openapi.from_wsgi(
        "/api/openapi.json", app, headers=AUTHORIZED
    )
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if method is not None and operation.method.upper() != method:
            continue

        @given(case=operation.as_strategy())
        @FUZZ_SETTINGS
        def run(case: Any) -> None:
            check(case)

        run()
        operations += 1
    return operations


# The description ------------------------------------------------------------


def test_description_is_valid_openapi(secured_app: Flask) -> None:
    reply = secured_app.test_client().get("/api/openapi.json", headers=AUTHORIZED)

    assert reply.status_code == 200
    document = reply.get_json()
    validate(document)
    assert document["servers"] == [{"url": "/api"}]


def test_description_follows_mount_prefix(tmp_path: Path) -> None:
    queue_settings = Settings(path=tmp_path / "queue")
    host = Flask("host")
    init_app(
        host,
        url_prefix="/ops/queues",
        settings=ConsoleSettings(secret_key="k"),
        queue_settings=queue_settings,
    )

    reply = host.test_client().get("/ops/queues/api/openapi.json")

    assert reply.status_code == 200
    assert reply.get_json()["servers"] == [{"url": "/ops/queues/api"}]


def test_every_route_described(secured_app: Flask) -> None:
    document = (
        secured_app.test_client()
        .get("/api/openapi.json", headers=AUTHORIZED)
        .get_json()
    )
    described = {
        "/api" + path.replace("{", "<").replace("}", ">") for path in document["paths"]
    }
    routes = {
        rule.rule
        for rule in secured_app.url_map.iter_rules()
        if rule.rule.startswith("/api/") and rule.rule != "/api/openapi.json"
    }

    assert routes == described


# Fuzzing ----------------------------------------------------------------------


def test_fuzzed_requests_get_described_replies(secured_app: Flask) -> None:
    headers, cookies = session_headers(secured_app)

    def check(case: Any) -> None:
        # No 5xx, status codes, content types and bodies as described, and
        # invalid input rejected with a 4xx. Valid-looking input may still
        # get a 400, for example a cursor that no page returned.
        case.call_and_validate(
            headers=headers,
            cookies=cookies,
            excluded_checks=[checks.positive_data_acceptance],
        )

    assert fuzz(secured_app, check) == OPERATION_COUNT


def test_fuzzed_requests_without_login_change_nothing(secured_app: Flask) -> None:
    before = store_snapshot(secured_app)

    def check(case: Any) -> None:
        assert case.call().status_code == 401

    assert fuzz(secured_app, check) == OPERATION_COUNT
    assert store_snapshot(secured_app) == before


def test_fuzzed_writes_without_csrf_change_nothing(secured_app: Flask) -> None:
    before = store_snapshot(secured_app)

    def check(case: Any) -> None:
        reply = case.call(headers=AUTHORIZED)
        assert reply.status_code == 400
        assert "CSRF" in reply.json()["error"]

    assert fuzz(secured_app, check, method="POST") == WRITE_OPERATION_COUNT
    assert store_snapshot(secured_app) == before
