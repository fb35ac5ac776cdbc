"""The audit log: entries from console, API and CLI actions, its page and API."""

from __future__ import annotations

import base64
import re

import pytest
from console_helpers import HTMX, api_token, page_csrf_token, push_dead

from dashboard import ConsoleSettings, create_app
from dashboard.triage.audit import audit_page, record_action
from dashboard.triage.store import TriageStore, triage_path
from queue_core import Settings


def entries(app) -> list[dict]:
    from dashboard import console_state

    page = audit_page(console_state(app).triage, limit=100)
    return [entry.to_dict() for entry in page.entries]


def test_console_retry_records_entry(app, client, make_queue):
    [job_id] = push_dead(make_queue("emails"), 1)
    token = page_csrf_token(client)

    client.post(
        f"/topics/emails/jobs/{job_id}/retry", headers={**HTMX, "X-CSRFToken": token}
    )

    [entry] = entries(app)
    assert entry["action"] == "retry"
    assert entry["topic"] == "emails"
    assert entry["scope"] == f"job {job_id}"
    assert entry["count"] == 1
    assert entry["job_ids"] == [job_id]
    assert entry["actor"] == "anonymous (127.0.0.1)"


def test_retry_of_pending_job_counts_zero(app, client, make_queue):
    job_id = make_queue("emails").push({"n": 1})

    client.post(
        f"/api/topics/emails/jobs/{job_id}/retry",
        headers={"X-CSRFToken": api_token(client)},
    )

    [entry] = entries(app)
    assert entry["action"] == "retry"
    assert entry["count"] == 0


def test_api_delete_and_bulk_purge_recorded(app, client, make_queue):
    queue = make_queue("emails")
    ids = push_dead(queue, 3, "ValueError: bad")
    token = api_token(client)

    client.post(
        f"/api/topics/emails/jobs/{ids[0]}/delete", headers={"X-CSRFToken": token}
    )
    client.post(
        "/api/topics/emails/bulk",
        json={"action": "purge", "status": "dead"},
        headers={"X-CSRFToken": token},
    )

    purge, delete = entries(app)
    assert delete["action"] == "delete"
    assert delete["count"] == 1
    assert delete["job_ids"] == [ids[0]]
    assert purge["action"] == "bulk-purge"
    assert purge["count"] == 2
    assert purge["job_ids"] == []
    assert purge["scope"] == "every dead job of topic 'emails'"
    assert purge["detail"] == {"status": "dead", "signature": None}


def test_bulk_preview_records_nothing(app, client, make_queue):
    push_dead(make_queue("emails"), 2)

    reply = client.post(
        "/api/topics/emails/bulk",
        json={"action": "retry", "status": "dead", "dry_run": True},
        headers={"X-CSRFToken": api_token(client)},
    )

    assert reply.status_code == 200
    assert entries(app) == []


def test_basic_user_is_actor(tmp_path, make_queue):
    queue_settings = Settings(path=tmp_path / "secured")
    app = create_app(
        ConsoleSettings(secret_key="k", username="ops", password="pw"), queue_settings
    )
    app.config["TESTING"] = True
    client = app.test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(b"ops:pw").decode()}
    token = client.get("/api/csrf-token", headers=auth).get_json()["csrf_token"]
    from queue_core import Queue

    queue = Queue("emails", max_retries=1, settings=queue_settings)
    [job_id] = push_dead(queue, 1)

    client.post(
        f"/api/topics/emails/jobs/{job_id}/retry",
        headers={**auth, "X-CSRFToken": token},
    )

    assert [entry["actor"] for entry in entries(app)] == ["ops"]
    queue.close()


def test_host_user_name_hook_is_actor(tmp_path):
    from flask import Flask

    import dashboard
    from queue_core import Queue

    queue_settings = Settings(path=tmp_path / "host")
    host = Flask("host")
    host.config.update(SECRET_KEY="k", TESTING=True)
    dashboard.init_app(
        host,
        url_prefix="/q",
        settings=ConsoleSettings(sample_seconds=0),
        queue_settings=queue_settings,
        user_name=lambda: "alice",
    )
    queue = Queue("emails", max_retries=1, settings=queue_settings)
    [job_id] = push_dead(queue, 1)
    client = host.test_client()
    token = client.get("/q/api/csrf-token").get_json()["csrf_token"]

    client.post(
        f"/q/api/topics/emails/jobs/{job_id}/retry", headers={"X-CSRFToken": token}
    )

    assert [entry["actor"] for entry in entries(host)] == ["alice"]
    queue.close()


def test_audit_page_lists_and_pages(app, client):
    from dashboard import console_state

    store = console_state(app).triage
    for n in range(3):
        record_action(
            store,
            actor=f"user{n}",
            action="purge",
            topic="emails",
            scope=f"scope <b>{n}</b>",
            count=n,
        )

    first = client.get("/audit?limit=2").get_data(as_text=True)
    older = re.search(r'rel="next" href="([^"]+)"', first)

    assert "user2" in first
    assert "user1" in first
    assert "user0" not in first
    assert "scope &lt;b&gt;2&lt;/b&gt;" in first
    assert older is not None
    second = client.get(older.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert "user0" in second
    assert "user1" not in second


def test_audit_page_filters_by_action(app, client):
    from dashboard import console_state

    store = console_state(app).triage
    record_action(store, actor="a", action="purge", topic="t", scope="s", count=1)
    record_action(store, actor="b", action="send", topic="t", scope="s", count=1)

    html = client.get("/audit?action=send").get_data(as_text=True)

    assert 'data-action="send"' in html
    assert 'data-action="purge"' not in html


def test_audit_api_pages(app, client):
    from dashboard import console_state

    store = console_state(app).triage
    for n in range(3):
        record_action(store, actor="a", action="delete", topic="t", scope="s", count=n)

    first = client.get("/api/audit?limit=2").get_json()
    second = client.get(f"/api/audit?limit=2&cursor={first['next_cursor']}").get_json()

    assert [entry["count"] for entry in first["entries"]] == [2, 1]
    assert [entry["count"] for entry in second["entries"]] == [0]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    "query", ["cursor=abc", "cursor=-3", "action=explode", "limit=0"]
)
def test_audit_api_rejects_invalid_query(client, query):
    reply = client.get(f"/api/audit?{query}")

    assert reply.status_code == 400
    assert "error" in reply.get_json()


def test_audit_api_huge_cursor_is_400(client):
    # Larger than SQLite's largest INTEGER (2**63 - 1).
    reply = client.get("/api/audit?cursor=99999999999999999999999")

    assert reply.status_code == 400
    assert "invalid audit cursor" in reply.get_json()["error"]


def test_audit_page_huge_cursor_is_400(client):
    reply = client.get("/audit?cursor=99999999999999999999999")

    assert reply.status_code == 400
    assert "invalid audit cursor" in reply.get_data(as_text=True)


def test_record_rejects_unknown_action(tmp_path):
    store = TriageStore(tmp_path / "triage.sqlite3")

    with pytest.raises(ValueError, match="invalid audit action 'launch'"):
        record_action(store, actor="a", action="launch", topic=None, scope="s", count=0)
    store.close()


def test_stored_ids_are_capped_count_is_exact(tmp_path):
    store = TriageStore(tmp_path / "triage.sqlite3")
    ids = [f"{n:016x}" for n in range(250)]

    record_action(
        store,
        actor="a",
        action="bulk-retry",
        topic="t",
        scope="s",
        count=250,
        job_ids=ids,
    )

    [entry] = audit_page(store).entries
    assert entry.count == 250
    assert entry.job_ids == ids[:100]
    store.close()


def test_triage_path_beside_queue_data(tmp_path):
    file_settings = Settings(path=tmp_path / "queue", prefix="staging")
    broker_settings = Settings(backend="kafka", url="127.0.0.1:9092")

    assert triage_path(file_settings) == tmp_path / "queue-triage-staging.sqlite3"
    assert triage_path(broker_settings).name == "queuedeck-triage-kafka.sqlite3"
