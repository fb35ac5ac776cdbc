"""CSRF, read-only mode, credentials, escaping and security headers."""

from __future__ import annotations

import click
import pytest
from console_helpers import HTMX, page_csrf_token, push_dead

from dashboard import ConsoleSettings, create_app
from dashboard.cli import check_bind
from dashboard.settings import is_loopback

XSS_PAYLOADS = ("<img src=x onerror=alert(1)>", "<script>alert(1)</script>")


def test_post_without_csrf_token_is_rejected(client, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    client.get("/")

    with_htmx = client.post(f"/topics/emails/jobs/{job_id}/retry", headers=HTMX)
    plain = client.post(
        "/topics/emails/bulk", data={"action": "purge", "status": "dead"}
    )

    assert with_htmx.status_code == 400
    assert plain.status_code == 400
    assert "CSRF token is missing" in with_htmx.get_data(as_text=True)
    assert queue.counts()["dead"] == 1


def test_post_with_forged_csrf_token_is_rejected(client, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    client.get("/")

    response = client.post(
        f"/topics/emails/jobs/{job_id}/delete",
        headers={**HTMX, "X-CSRFToken": "forged.token.value"},
    )

    assert response.status_code == 400
    assert queue.get(job_id) is not None


def test_csrf_token_from_other_session_is_rejected(app, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    token = page_csrf_token(app.test_client())

    response = app.test_client().post(
        f"/topics/emails/jobs/{job_id}/delete", headers={"X-CSRFToken": token}
    )

    assert response.status_code == 400
    assert queue.get(job_id) is not None


def test_get_never_changes_state(client, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)

    retry = client.get(f"/topics/emails/jobs/{job_id}/retry")
    preview = client.get("/topics/emails/bulk?action=purge&status=dead")

    assert retry.status_code == 405
    assert preview.status_code == 200
    assert queue.counts()["dead"] == 1


@pytest.fixture
def read_only_client(queue_settings, backend):
    settings = ConsoleSettings(secret_key="k", read_only=True)
    return create_app(settings, queue_settings, backend).test_client()


def test_read_only_hides_actions(read_only_client, make_queue):
    push_dead(make_queue("emails"), 2)

    topic = read_only_client.get("/topics/emails?status=dead").get_data(as_text=True)
    groups = read_only_client.get("/topics/emails/errors").get_data(as_text=True)

    assert "read-only" in topic
    assert "Retry" not in topic
    assert "Purge" not in topic
    assert 'type="checkbox"' not in topic
    assert "Retry group" not in groups


def test_read_only_rejects_post_with_valid_token(read_only_client, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    token = page_csrf_token(read_only_client)

    response = read_only_client.post(
        f"/topics/emails/jobs/{job_id}/retry", headers={"X-CSRFToken": token}
    )
    api = read_only_client.post(
        "/api/topics/emails/bulk",
        json={"action": "purge", "status": "dead"},
        headers={"X-CSRFToken": token},
    )

    assert response.status_code == 403
    assert api.status_code == 403
    assert api.get_json()["error"].startswith("The console is read-only")
    assert queue.counts()["dead"] == 1


@pytest.fixture
def login_client(queue_settings, backend):
    settings = ConsoleSettings(secret_key="k", username="ops", password="s3cret")
    return create_app(settings, queue_settings, backend).test_client()


def test_credentials_required(login_client):
    anonymous = login_client.get("/")
    wrong = login_client.get("/", auth=("ops", "guess"))
    metrics = login_client.get("/metrics")
    right = login_client.get("/", auth=("ops", "s3cret"))

    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    assert wrong.status_code == 401
    assert metrics.status_code == 401
    assert right.status_code == 200


def test_security_headers_on_pages_and_fragments(client):
    for headers in ({}, HTMX):
        response = client.get("/", headers=headers)
        policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_have_no_inline_script(client, make_queue):
    [job_id] = push_dead(make_queue("emails"), 1)

    for url in (
        "/",
        "/topics/emails?status=dead",
        "/topics/emails/errors",
        f"/topics/emails/jobs/{job_id}",
        "/topics/emails/bulk?action=retry&status=dead",
    ):
        html = client.get(url).get_data(as_text=True)
        assert html.count("<script") == 2, url
        assert html.count('<script src="') == 2, url
        assert " on" + "click=" not in html, url


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_payload_and_error_are_escaped_everywhere(client, make_queue, payload):
    queue = make_queue("xss")
    queue.push({"html": payload})
    [job_id] = push_dead(queue, 1, f"ValueError: {payload}")

    urls = [
        "/topics/xss?status=pending",
        "/topics/xss?status=dead",
        "/topics/xss/errors",
        f"/topics/xss/jobs/{job_id}",
        "/topics/xss/bulk?action=retry&status=dead",
    ]
    for url in urls:
        for headers in ({}, HTMX):
            html = client.get(url, headers=headers).get_data(as_text=True)
            assert payload not in html, (url, headers)
            assert "<img" not in html, (url, headers)
            assert "<script>" not in html, (url, headers)
    job_page = client.get(f"/topics/xss/jobs/{job_id}").get_data(as_text=True)
    assert "ValueError: &lt;" in job_page


def test_xss_in_search_text_is_escaped(client, make_queue):
    make_queue("xss").push({"n": 1})

    html = client.get("/topics/xss", query_string={"q": XSS_PAYLOADS[0]}).get_data(
        as_text=True
    )

    assert XSS_PAYLOADS[0] not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_cli_rejects_public_bind_without_credentials():
    with pytest.raises(click.BadParameter, match="QUEUEDECK_USERNAME"):
        check_bind("0.0.0.0", ConsoleSettings())


def test_cli_allows_loopback_or_credentials():
    check_bind("127.0.0.1", ConsoleSettings())
    check_bind("::1", ConsoleSettings())
    check_bind("0.0.0.0", ConsoleSettings(username="ops", password="pw"))


def test_is_loopback():
    assert is_loopback("localhost")
    assert is_loopback("127.0.0.5")
    assert is_loopback("[::1]")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("192.0.2.10")
    assert not is_loopback("example.com")


def test_settings_from_env():
    settings = ConsoleSettings.from_env(
        {
            "QUEUEDECK_USERNAME": "ops",
            "QUEUEDECK_PASSWORD": "pw",
            "QUEUEDECK_READ_ONLY": "yes",
            "QUEUEDECK_DEAD_LETTER_THRESHOLD": "50",
        }
    )

    assert settings.has_credentials
    assert settings.read_only
    assert settings.dead_letter_threshold == 50
    assert "pw" not in repr(settings)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"QUEUEDECK_USERNAME": "ops"}, "set both"),
        ({"QUEUEDECK_READ_ONLY": "maybe"}, "QUEUEDECK_READ_ONLY"),
        ({"QUEUEDECK_REFRESH_SECONDS": "-1"}, "QUEUEDECK_REFRESH_SECONDS"),
    ],
)
def test_settings_reject_invalid_values(environ, message):
    with pytest.raises(ValueError, match=message):
        ConsoleSettings.from_env(environ)
