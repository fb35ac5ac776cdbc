"""Retry lineage: failures recorded before retries, and sending to a topic."""

from __future__ import annotations

import re

import pytest
from console_helpers import api_token, page_csrf_token, push_dead

from dashboard import console_state
from dashboard.triage.audit import audit_page
from dashboard.triage.lineage import job_lineage


def fail_again(queue, job_id: str, error: str) -> None:
    job = next(queue.consume(id=job_id, poll_interval=0))
    assert job.fail(error)


def test_retries_record_each_failure(app, client, make_queue):
    queue = make_queue("emails", max_retries=1)
    [job_id] = push_dead(queue, 1, "TimeoutError: first")
    token = api_token(client)
    retry_url = f"/api/topics/emails/jobs/{job_id}/retry"

    client.post(retry_url, headers={"X-CSRFToken": token})
    fail_again(queue, job_id, "ConnectionError: second")
    client.post(retry_url, headers={"X-CSRFToken": token})
    fail_again(queue, job_id, "ValueError: third")

    found = job_lineage(console_state(app).triage, job_id)
    assert [attempt.attempt for attempt in found.attempts] == [1, 2]
    assert [attempt.error for attempt in found.attempts] == [
        "TimeoutError: first",
        "ConnectionError: second",
    ]
    assert [attempt.status for attempt in found.attempts] == ["dead", "dead"]
    html = client.get(f"/topics/emails/jobs/{job_id}").get_data(as_text=True)
    assert 'data-attempt="1"' in html
    assert "TimeoutError: first" in html
    assert "ConnectionError: second" in html
    assert "ValueError: third" in html


def test_failure_recorded_once(app, client, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    token = api_token(client)

    for _ in range(2):
        client.post(
            f"/api/topics/emails/jobs/{job_id}/retry", headers={"X-CSRFToken": token}
        )

    assert len(job_lineage(console_state(app).triage, job_id).attempts) == 1


def test_job_page_without_history(client, make_queue):
    job_id = make_queue("emails").push({"n": 1})

    html = client.get(f"/topics/emails/jobs/{job_id}").get_data(as_text=True)

    assert "No earlier failure recorded" in html


def test_bulk_retry_records_failures(app, client, make_queue):
    ids = push_dead(make_queue("emails"), 3, "KeyError: 'x'")

    client.post(
        "/api/topics/emails/bulk",
        json={"action": "retry", "status": "dead"},
        headers={"X-CSRFToken": api_token(client)},
    )

    store = console_state(app).triage
    for job_id in ids:
        [attempt] = job_lineage(store, job_id).attempts
        assert attempt.error == "KeyError: 'x'"


def test_console_send_links_both_ways(app, client, make_queue):
    queue = make_queue("emails")
    [old_id] = push_dead(queue, 1, "SMTPError: 550")
    token = page_csrf_token(client)

    reply = client.post(
        f"/topics/emails/jobs/{old_id}/send",
        data={"csrf_token": token, "to_topic": "emails-manual"},
    )

    assert reply.status_code == 303
    match = re.fullmatch(r"/topics/emails-manual/jobs/([0-9a-f]+)", reply.location)
    assert match is not None
    new_id = match.group(1)
    new_page = client.get(reply.location).get_data(as_text=True)
    assert f"was sent here as job {new_id}" in new_page
    assert f'href="/topics/emails/jobs/{old_id}">{old_id}</a>' in new_page
    assert "of topic emails" in new_page
    assert "(no longer stored: it was sent here)" in new_page
    assert "SMTPError: 550" in new_page
    old_page = client.get(f"/topics/emails/jobs/{old_id}")
    old_html = old_page.get_data(as_text=True)
    assert old_page.status_code == 200
    assert f'href="/topics/emails-manual/jobs/{new_id}">{new_id}</a>' in old_html
    assert "SMTPError: 550" in old_html
    assert queue.counts()["dead"] == 0
    [entry] = audit_page(console_state(app).triage).entries
    assert entry.action == "send"
    assert entry.job_ids == [old_id, new_id]
    assert entry.detail["to_topic"] == "emails-manual"


def test_unknown_job_still_404(client, make_queue):
    make_queue("emails").push({"n": 1})

    assert client.get(f"/topics/emails/jobs/{'0' * 16}").status_code == 404


def test_console_send_rejects_bad_topic(client, make_queue):
    [old_id] = push_dead(make_queue("emails"), 1)
    token = page_csrf_token(client)

    for target in ("", "bad topic!"):
        reply = client.post(
            f"/topics/emails/jobs/{old_id}/send",
            data={"csrf_token": token, "to_topic": target},
        )
        assert reply.status_code == 400


def test_api_send_and_lineage(client, make_queue):
    queue = make_queue("emails")
    [old_id] = push_dead(queue, 1, "TimeoutError: slow")

    reply = client.post(
        f"/api/topics/emails/jobs/{old_id}/send",
        json={"topic": "emails", "payload": {"to": "fixed@example.com"}},
        headers={"X-CSRFToken": api_token(client)},
    )

    assert reply.status_code == 200
    body = reply.get_json()
    new_id = body["id"]
    assert body["retry_of"] == old_id
    assert queue.get(new_id).payload == {"to": "fixed@example.com"}
    new_lineage = client.get(f"/api/topics/emails/jobs/{new_id}/lineage").get_json()
    assert [link["source_id"] for link in new_lineage["sent_from"]] == [old_id]
    assert [a["error"] for a in new_lineage["attempts"]] == ["TimeoutError: slow"]
    assert new_lineage["sent_as"] is None
    old_lineage = client.get(f"/api/topics/emails/jobs/{old_id}/lineage").get_json()
    assert old_lineage["sent_as"]["job_id"] == new_id
    assert old_lineage["sent_from"] == []


def test_lineage_of_unknown_job_404(client, make_queue):
    make_queue("emails").push({"n": 1})

    reply = client.get(f"/api/topics/emails/jobs/{'0' * 16}/lineage")

    assert reply.status_code == 404


def test_sent_job_under_other_topic_404(client, make_queue):
    queue = make_queue("emails")
    [old_id] = push_dead(queue, 1)
    sent = client.post(
        f"/api/topics/emails/jobs/{old_id}/send",
        json={"topic": "emails-manual"},
        headers={"X-CSRFToken": api_token(client)},
    )
    assert sent.status_code == 200
    new_id = sent.get_json()["id"]

    old_page = client.get(f"/topics/billing/jobs/{old_id}")
    old_lineage = client.get(f"/api/topics/billing/jobs/{old_id}/lineage")
    new_lineage = client.get(f"/api/topics/billing/jobs/{new_id}/lineage")

    assert client.get(f"/api/topics/billing/jobs/{old_id}").status_code == 404
    assert old_page.status_code == 404
    assert old_lineage.status_code == 404
    assert new_lineage.status_code == 404
    assert client.get(f"/topics/emails/jobs/{old_id}").status_code == 200
    assert client.get(f"/api/topics/emails/jobs/{old_id}/lineage").status_code == 200


def test_retried_job_lineage_under_other_topic_404(client, make_queue):
    queue = make_queue("emails", max_retries=3)
    [job_id] = push_dead(queue, 1)
    token = page_csrf_token(client)
    client.post(f"/topics/emails/jobs/{job_id}/retry", data={"csrf_token": token})
    queue.delete(job_id)

    reply = client.get(f"/api/topics/billing/jobs/{job_id}/lineage")

    assert reply.status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "topic must be a topic name string"),
        ({"topic": "bad topic!"}, "invalid target topic"),
        ({"topic": "x", "payload": [1]}, "payload must be a JSON object"),
        ({"topic": "x", "payload": {"n": 2**70}}, "outside the signed 64-bit range"),
    ],
)
def test_api_send_rejects_invalid_body(client, make_queue, body, message):
    queue = make_queue("emails")
    [old_id] = push_dead(queue, 1)

    reply = client.post(
        f"/api/topics/emails/jobs/{old_id}/send",
        json=body,
        headers={"X-CSRFToken": api_token(client)},
    )

    assert reply.status_code == 400
    assert message in reply.get_json()["error"]
    assert queue.counts()["dead"] == 1


def test_api_send_pending_job_rejected(client, make_queue):
    job_id = make_queue("emails").push({"n": 1})

    reply = client.post(
        f"/api/topics/emails/jobs/{job_id}/send",
        json={"topic": "other"},
        headers={"X-CSRFToken": api_token(client)},
    )

    assert reply.status_code == 400
    assert "only failed and dead jobs can be sent" in reply.get_json()["error"]
