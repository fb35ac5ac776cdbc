"""The console against hostile or careless input, in HTML and in the JSON API."""

from __future__ import annotations

import importlib
import json

import pytest
from console_helpers import HTMX, page_csrf_token, push_dead
from flask import Flask

from dashboard import ConsoleSettings, create_app, init_app

PREFIX = "/admin/queues"


def api_post(client, path, body, token):
    return client.post(
        path,
        data=body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )


# JSON bodies ---------------------------------------------------------------


def test_api_deep_nesting_is_400(client):
    token = page_csrf_token(client)

    response = api_post(client, "/api/topics/emails/bulk", "[" * 100_000, token)

    assert response.status_code == 400
    assert "nested too deeply" in response.get_json()["error"]


def test_api_huge_integer_is_400(client):
    token = page_csrf_token(client)
    body = '{"action": "purge", "status": "dead", "n": %s}' % ("9" * 5000)

    response = api_post(client, "/api/topics/emails/bulk", body, token)

    assert response.status_code == 400
    assert "too large" in response.get_json()["error"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ids", 5),
        ("ids", "abc"),
        ("ids", {"a": 1}),
        ("ids", [None, "1"]),
        ("ids", [1]),
        ("dry_run", "false"),
        ("dry_run", 1),
        ("action", ["purge"]),
        ("status", 3),
    ],
)
def test_api_bulk_rejects_wrong_types(client, make_queue, field, value):
    queue = make_queue("emails")
    push_dead(queue, 2)
    token = page_csrf_token(client)
    body = {"action": "purge", "status": "dead", field: value}

    response = api_post(client, "/api/topics/emails/bulk", body, token)

    assert response.status_code == 400
    assert response.get_json()["error"].startswith(f"{field} must be")
    assert queue.counts()["dead"] == 2


def test_api_bulk_empty_ids_rejected(client, make_queue):
    queue = make_queue("emails")
    push_dead(queue, 2)
    token = page_csrf_token(client)
    body = {"action": "purge", "status": "dead", "ids": []}

    response = api_post(client, "/api/topics/emails/bulk", body, token)

    assert response.status_code == 400
    assert "select at least one job" in response.get_json()["error"]
    assert queue.counts()["dead"] == 2


def test_api_bulk_selected_counts_agree(client, make_queue):
    queue = make_queue("emails")
    dead = push_dead(queue, 2)
    pending = [queue.push({"n": n}) for n in range(2)]
    token = page_csrf_token(client)
    body = {"action": "retry", "status": "dead", "ids": dead + pending}

    preview = api_post(
        client, "/api/topics/emails/bulk", {**body, "dry_run": True}, token
    )
    result = api_post(client, "/api/topics/emails/bulk", body, token)

    assert preview.get_json()["count"] == 2
    assert preview.get_json()["description"].startswith("2 of 4 selected jobs")
    assert result.get_json()["moved"] == 2
    assert result.get_json()["description"].startswith("2 of 4 selected jobs")


# Bulk actions in HTML ------------------------------------------------------


@pytest.mark.parametrize("action", ["retry", "purge"])
def test_empty_selection_preview_rejected(client, make_queue, action):
    push_dead(make_queue("emails"), 3)

    response = client.get(
        "/topics/emails/bulk",
        query_string={"action": action, "status": "dead", "scope": "selected"},
        headers=HTMX,
    )

    assert response.status_code == 400
    assert "select at least one job" in response.get_data(as_text=True)


def test_empty_selection_run_changes_nothing(client, make_queue):
    queue = make_queue("emails")
    push_dead(queue, 3)
    token = page_csrf_token(client)

    response = client.post(
        "/topics/emails/bulk",
        data={"action": "purge", "status": "dead", "scope": "selected"},
        headers={**HTMX, "X-CSRFToken": token},
    )

    assert response.status_code == 400
    assert queue.counts()["dead"] == 3


def test_selection_form_marks_scope(client, make_queue):
    push_dead(make_queue("emails"), 1)

    html = client.get("/topics/emails?status=dead").get_data(as_text=True)

    assert '<input type="hidden" name="scope" value="selected">' in html


def test_selected_preview_counts_matching_jobs(client, make_queue):
    queue = make_queue("emails")
    dead = push_dead(queue, 2)
    pending = [queue.push({"n": n}) for n in range(2)]
    token = page_csrf_token(client)
    ids = dead + pending

    preview = client.get(
        "/topics/emails/bulk",
        query_string=[("action", "retry"), ("status", "dead"), ("scope", "selected")]
        + [("ids", job_id) for job_id in ids],
        headers=HTMX,
    ).get_data(as_text=True)
    result = client.post(
        "/topics/emails/bulk",
        data={"action": "retry", "status": "dead", "scope": "selected", "ids": ids},
        headers={**HTMX, "X-CSRFToken": token},
    ).get_data(as_text=True)

    assert "Retry 2 jobs?" in preview
    assert "2 of 4 selected jobs of topic &#39;emails&#39; are dead" in preview
    assert "will be retried" in preview
    assert "Retried 2 jobs" in result
    assert "2 of 4 selected jobs of topic &#39;emails&#39; were dead" in result


def test_singular_wording(client, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)

    preview = client.get(
        "/topics/emails/bulk",
        query_string={"action": "purge", "status": "dead", "ids": job_id},
        headers=HTMX,
    ).get_data(as_text=True)
    groups = client.get("/topics/emails/errors").get_data(as_text=True)

    assert "Purge 1 job?" in preview
    assert "1 of 1 selected job of topic &#39;emails&#39; is dead" in preview
    assert "1 job in 1 error group." in groups


def test_search_labels_all_buttons_plainly(client, make_queue):
    push_dead(make_queue("emails"), 2)

    html = client.get("/topics/emails?status=dead&q=n").get_data(as_text=True)
    preview = client.get(
        "/topics/emails/bulk",
        query_string={"action": "purge", "status": "dead", "q": "zzz"},
        headers=HTMX,
    ).get_data(as_text=True)

    assert "Purge every dead job, not only matches…" in html
    assert "Retry every dead job, not only matches…" in html
    assert "Purge all dead…" not in html
    assert "The search <code>zzz</code> does not narrow this action" in preview
    assert 'data-count="2"' in preview


def test_read_only_preview_is_403(queue_settings, backend, make_queue):
    push_dead(make_queue("emails"), 2)
    settings = ConsoleSettings(secret_key="k", read_only=True)
    client = create_app(settings, queue_settings, backend).test_client()

    response = client.get("/topics/emails/bulk?action=purge&status=dead")

    assert response.status_code == 403
    assert "Confirm" not in response.get_data(as_text=True)


# Single-job actions without htmx -------------------------------------------


def test_plain_delete_redirects_to_topic_with_message(client, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    token = page_csrf_token(client)

    response = client.post(
        f"/topics/emails/jobs/{job_id}/delete", data={"csrf_token": token}
    )
    page = client.get(response.headers["Location"])
    html = page.get_data(as_text=True)

    assert response.status_code == 303
    assert response.headers["Location"] == "/topics/emails?status=dead"
    assert page.status_code == 200
    assert f"Job {job_id} deleted." in html
    assert queue.get(job_id) is None
    again = client.get("/topics/emails?status=dead").get_data(as_text=True)
    assert f"Job {job_id} deleted." not in again


def test_plain_retry_shows_message_after_redirect(client, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    token = page_csrf_token(client)

    response = client.post(
        f"/topics/emails/jobs/{job_id}/retry", data={"csrf_token": token}
    )
    html = client.get(response.headers["Location"]).get_data(as_text=True)

    assert f"Job {job_id} moved to pending." in html


# Limits ---------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["abc", "0", "101", "1.5"])
def test_invalid_limit_is_400(client, make_queue, limit):
    make_queue("emails").push({"n": 1})

    page = client.get(f"/topics/emails?limit={limit}")
    api = client.get(f"/api/topics/emails/jobs?limit={limit}")

    assert page.status_code == 400
    assert api.status_code == 400
    assert "limit" in api.get_json()["error"]


# Routing errors --------------------------------------------------------------


def test_standalone_404_and_405_have_headers(client):
    page = client.get("/no/such/page")
    api = client.get("/api/no/such")
    wrong_method = client.get("/topics/emails/jobs/abc/retry")
    api_wrong_method = client.get("/api/topics/emails/bulk")

    for response in (page, api, wrong_method, api_wrong_method):
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "Content-Security-Policy" in response.headers
    assert page.status_code == 404
    assert page.mimetype == "text/html"
    assert api.status_code == 404
    assert "error" in api.get_json()
    assert wrong_method.status_code == 405
    assert "POST" in wrong_method.headers["Allow"]
    assert api_wrong_method.status_code == 405
    assert "error" in api_wrong_method.get_json()


def test_mounted_404_has_headers_host_404_unchanged(queue_settings, backend):
    host = Flask("host")
    host.config.update(SECRET_KEY="host secret", TESTING=True)
    init_app(
        host,
        url_prefix=PREFIX,
        settings=ConsoleSettings(),
        queue_settings=queue_settings,
        backend=backend,
    )
    client = host.test_client()

    console_page = client.get(f"{PREFIX}/no/such")
    console_api = client.get(f"{PREFIX}/api/no/such")
    host_page = client.get("/no/such")

    assert console_page.status_code == 404
    assert "Content-Security-Policy" in console_page.headers
    assert console_api.get_json()["error"]
    assert host_page.status_code == 404
    assert "Content-Security-Policy" not in host_page.headers
    assert "queuedeck" not in host_page.get_data(as_text=True)


# Control and bidi characters ---------------------------------------------------


def test_controls_shown_as_escapes(client, make_queue):
    queue = make_queue("emails")
    error = "rtl \u202eevil\u202c gpj.exe \x00\x1b[31m"
    [job_id] = push_dead(queue, 1, error=error)

    job_page = client.get(f"/topics/emails/jobs/{job_id}").get_data(as_text=True)
    rows = client.get("/topics/emails?status=dead").get_data(as_text=True)
    api = client.get(f"/api/topics/emails/jobs/{job_id}").get_json()

    for html in (job_page, rows):
        assert "\u202e" not in html
        assert "\x00" not in html
        assert "\x1b" not in html
        assert (
            '<span class="ctrl" title="U+202E RIGHT-TO-LEFT OVERRIDE">\\u202e</span>'
            in html
        )
        assert "\\x00</span>" in html
        assert "\\x1b</span>" in html
    assert api["error"] == error


def test_gunicorn_config_disables_control_socket():
    config = importlib.import_module("dashboard.gunicorn_config")

    assert config.control_socket_disable is True
