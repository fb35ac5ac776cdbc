"""The console mounted in a host app under /admin/queues, also behind a proxy."""

from __future__ import annotations

import re

import pytest
from console_helpers import HTMX, page_csrf_token, push_dead
from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from dashboard import ConsoleSettings, init_app

PREFIX = "/admin/queues"


@pytest.fixture
def host_app(queue_settings, backend):
    host = Flask("host")
    host.config.update(SECRET_KEY="host secret", TESTING=True)

    @host.get("/")
    def home() -> str:
        return "host home"

    @host.post("/contact")
    def contact() -> str:
        return "sent"

    init_app(
        host,
        url_prefix=PREFIX,
        settings=ConsoleSettings(),
        queue_settings=queue_settings,
        backend=backend,
        auth_check=lambda: request.headers.get("X-Role") == "admin",
    )
    return host


ADMIN = {"X-Role": "admin"}


def test_console_served_under_prefix(host_app, make_queue):
    make_queue("emails").push({"n": 1})
    client = host_app.test_client()

    html = client.get(f"{PREFIX}/", headers=ADMIN).get_data(as_text=True)

    assert 'data-topic="emails"' in html
    assert f'href="{PREFIX}/static/console.css"' in html
    assert f'src="{PREFIX}/vendor/htmx.min.js"' in html
    assert f'href="{PREFIX}/topics/emails"' in html
    assert f'hx-get="{PREFIX}/"' in html
    assert client.get(f"{PREFIX}/static/console.js", headers=ADMIN).status_code == 200


def test_host_auth_check_rejects_others(host_app):
    client = host_app.test_client()

    response = client.get(f"{PREFIX}/")
    metrics = client.get(f"{PREFIX}/metrics")

    assert response.status_code == 403
    assert metrics.status_code == 403


def test_host_routes_keep_working(host_app):
    client = host_app.test_client()

    assert client.get("/").get_data(as_text=True) == "host home"
    assert client.post("/contact").status_code == 200


def test_actions_under_prefix(host_app, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    client = host_app.test_client()
    client.environ_base.update({"HTTP_X_ROLE": "admin"})
    token = page_csrf_token(client, f"{PREFIX}/topics/emails?status=dead")

    response = client.post(
        f"{PREFIX}/topics/emails/jobs/{job_id}/retry",
        headers={**HTMX, "X-CSRFToken": token},
    )

    assert response.status_code == 200
    assert f'href="{PREFIX}/topics/emails/jobs/{job_id}"' in response.get_data(
        as_text=True
    )
    assert queue.counts()["pending"] == 1


def test_links_behind_reverse_proxy(host_app, make_queue):
    [job_id] = push_dead(make_queue("emails"), 1)
    host_app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
        host_app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1
    )
    client = host_app.test_client()
    forwarded = {
        **ADMIN,
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "ops.example.com",
        "X-Forwarded-Prefix": "/internal",
    }

    page = client.get(f"{PREFIX}/topics/emails?status=dead", headers=forwarded)
    html = page.get_data(as_text=True)
    retried = client.post(
        f"{PREFIX}/topics/emails/jobs/{job_id}/retry",
        data={"csrf_token": _token(html)},
        headers=forwarded,
    )

    full = f"/internal{PREFIX}"
    assert page.status_code == 200
    assert f'href="{full}/static/console.css"' in html
    assert f'hx-post="{full}/topics/emails/jobs/{job_id}/retry"' in html
    assert f'hx-get="{full}/topics/emails/counts?status=dead"' in html
    assert retried.status_code == 303
    assert retried.headers["Location"] == f"{full}/topics/emails/jobs/{job_id}"


def _token(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match is not None
    return match.group(1)
