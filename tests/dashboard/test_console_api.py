"""The JSON API and the Prometheus /metrics endpoint."""

from __future__ import annotations

import re

from console_helpers import push_dead


def api_token(client) -> str:
    token: str = client.get("/api/csrf-token").get_json()["csrf_token"]
    return token


def test_topics_lists_counts_and_alerts(client, make_queue):
    make_queue("emails").push({"n": 1})
    push_dead(make_queue("reports"), 2)

    body = client.get("/api/topics").get_json()

    by_name = {topic["topic"]: topic for topic in body["topics"]}
    assert by_name["emails"]["counts"]["pending"] == 1
    assert by_name["emails"]["idle_alert"] is True
    assert by_name["emails"]["oldest_pending_age"] >= 0
    assert by_name["reports"]["counts"]["dead"] == 2
    assert body["totals"]["dead"] == 2
    assert body["workers"] == []


def test_jobs_pages_with_cursor(client, make_queue):
    ids = push_dead(make_queue("bulk"), 53)

    seen: list[str] = []
    cursor = None
    while True:
        query = {"status": "dead", "limit": 20}
        if cursor:
            query["cursor"] = cursor
        body = client.get("/api/topics/bulk/jobs", query_string=query).get_json()
        seen.extend(job["id"] for job in body["jobs"])
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == 53
    assert sorted(seen) == sorted(ids)


def test_jobs_rejects_bad_limit_and_cursor(client, make_queue):
    make_queue("emails").push({"n": 1})

    limit = client.get("/api/topics/emails/jobs?limit=0")
    cursor = client.get("/api/topics/emails/jobs?cursor=abc")
    huge = client.get("/api/topics/emails/jobs?cursor=99999999999999999999999")

    assert limit.status_code == 400
    assert "limit" in limit.get_json()["error"]
    assert cursor.status_code == 400
    assert "cursor" in cursor.get_json()["error"]
    assert huge.status_code == 400
    assert "invalid page cursor" in huge.get_json()["error"]


def test_job_returns_whole_payload(client, make_queue):
    job_id = make_queue("emails").push({"to": "a@example.com", "n": 7})

    body = client.get(f"/api/topics/emails/jobs/{job_id}").get_json()

    assert body["payload"] == {"to": "a@example.com", "n": 7}
    assert body["status"] == "pending"


def test_missing_job_is_json_404(client, make_queue):
    make_queue("emails").push({"n": 1})

    response = client.get("/api/topics/emails/jobs/0123456789abcdef")

    assert response.status_code == 404
    assert "no job" in response.get_json()["error"]


def test_error_groups(client, make_queue):
    queue = make_queue("emails")
    push_dead(queue, 3, "TimeoutError: after 5 s")

    body = client.get("/api/topics/emails/errors").get_json()

    assert body["groups"][0]["signature"] == "TimeoutError: after <n> s"
    assert body["groups"][0]["count"] == 3
    assert body["groups"][0]["first_seen"] <= body["groups"][0]["last_seen"]


def test_retry_and_delete(client, make_queue):
    queue = make_queue("emails")
    first, second = push_dead(queue, 2)
    token = api_token(client)

    retried = client.post(
        f"/api/topics/emails/jobs/{first}/retry", headers={"X-CSRFToken": token}
    )
    deleted = client.post(
        f"/api/topics/emails/jobs/{second}/delete", headers={"X-CSRFToken": token}
    )

    assert retried.get_json() == {"moved": True}
    assert deleted.get_json() == {"deleted": True}
    assert queue.counts()["pending"] == 1
    assert queue.counts()["dead"] == 0


def test_bulk_dry_run_then_run(client, make_queue):
    queue = make_queue("emails")
    push_dead(queue, 9)
    token = api_token(client)
    request = {"action": "retry", "status": "dead"}

    preview = client.post(
        "/api/topics/emails/bulk",
        json={**request, "dry_run": True},
        headers={"X-CSRFToken": token},
    ).get_json()
    dead_after_preview = queue.counts()["dead"]
    result = client.post(
        "/api/topics/emails/bulk", json=request, headers={"X-CSRFToken": token}
    ).get_json()

    assert preview["count"] == 9
    assert len(preview["sample"]) == 5
    assert preview["scope"]["description"] == "every dead job of topic 'emails'"
    assert dead_after_preview == 9
    assert result["moved"] == 9
    assert queue.counts()["pending"] == 9


def test_api_post_without_token_is_rejected(client, make_queue):
    queue = make_queue("emails")
    push_dead(queue, 1)
    client.get("/api/csrf-token")

    response = client.post(
        "/api/topics/emails/bulk", json={"action": "purge", "status": "dead"}
    )

    assert response.status_code == 400
    assert "CSRF" in response.get_json()["error"]
    assert queue.counts()["dead"] == 1


def test_bulk_rejects_non_object_body(client):
    token = api_token(client)

    response = client.post(
        "/api/topics/emails/bulk", json=["purge"], headers={"X-CSRFToken": token}
    )

    assert response.status_code == 400
    assert "JSON object" in response.get_json()["error"]


def test_metrics_in_prometheus_format(client, make_queue):
    make_queue("emails").push({"n": 1})
    push_dead(make_queue("reports"), 2)

    response = client.get("/metrics")
    text = response.get_data(as_text=True)

    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "# TYPE queuedeck_jobs gauge" in text
    assert 'queuedeck_jobs{topic="emails",status="pending"} 1' in text
    assert 'queuedeck_jobs{topic="reports",status="dead"} 2' in text
    assert 'queuedeck_workers{topic="emails"} 0' in text
    sample = re.compile(r"^queuedeck_\w+\{[^}]*\} [0-9.]+$")
    for line in text.splitlines():
        assert line.startswith("# ") or sample.match(line), line
