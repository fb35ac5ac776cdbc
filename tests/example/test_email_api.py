"""The example's JSON API in process: validation, counts, dead letters, retry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from app import create_app
from flask.testing import FlaskClient

from queue_core import Queue

GOOD = {"to": "alice@example.com", "subject": "Welcome", "body": "Hello Alice"}


@pytest.fixture
def client() -> Iterator[FlaskClient]:
    # The isolated environment runs each test in its own directory, so the
    # queue lands in data/queue there.
    app = create_app()
    app.config["TESTING"] = True
    with app.test_client() as test_client:
        yield test_client


def make_dead(client: FlaskClient) -> str:
    """Queue one email and fail it once on a queue that allows one attempt."""
    job_id = client.post("/api/emails/send", json=GOOD).get_json()["id"]
    with Queue("emails", max_retries=1) as queue:
        job = next(queue.consume(id=job_id, poll_interval=0))
        assert job.fail("SMTPRecipientsRefused: 550 rejected")
    return str(job_id)


def test_send_queues_email(client: FlaskClient) -> None:
    response = client.post("/api/emails/send", json={**GOOD, "extra": "dropped"})

    assert response.status_code == 201
    job_id = response.get_json()["id"]
    assert response.headers["Location"].endswith(f"/jobs/{job_id}")
    assert response.headers["Location"].startswith("/admin/queues/api/")
    with Queue("emails") as queue:
        job = queue.require(job_id)
    assert job.status.value == "pending"
    assert job.payload == GOOD


def test_send_without_csrf_token(client: FlaskClient) -> None:
    # A machine API: no session, no token, and still accepted.
    response = client.post(
        "/api/emails/send",
        data='{"to": "a@example.com", "subject": "s", "body": "b"}',
        content_type="application/json",
    )

    assert response.status_code == 201


def test_send_missing_fields(client: FlaskClient) -> None:
    response = client.post("/api/emails/send", json={})

    assert response.status_code == 400
    assert response.get_json() == {
        "errors": {
            "to": "to is required",
            "subject": "subject is required",
            "body": "body is required",
        }
    }


def test_send_empty_and_invalid_fields(client: FlaskClient) -> None:
    response = client.post(
        "/api/emails/send", json={"to": " ", "subject": 7, "body": ""}
    )

    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert errors["to"] == "to must not be empty"
    assert errors["subject"] == "subject must be a string"
    assert errors["body"] == "body must not be empty"


@pytest.mark.parametrize(
    "to",
    ["alice", "alice@", "@example.com", "a@b@example.com", "a@example.com, b@x.org"],
)
def test_send_rejects_invalid_address(client: FlaskClient, to: str) -> None:
    response = client.post("/api/emails/send", json={**GOOD, "to": to})

    assert response.status_code == 400
    assert list(response.get_json()["errors"]) == ["to"]


def test_send_rejects_multiline_subject(client: FlaskClient) -> None:
    response = client.post(
        "/api/emails/send", json={**GOOD, "subject": "Hi\r\nBcc: x@example.com"}
    )

    assert response.status_code == 400
    assert response.get_json()["errors"] == {
        "subject": "subject must be a single line without control characters or "
        "line separators; found '\\r' at index 2"
    }


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"text"', ""])
def test_send_non_object_body(client: FlaskClient, body: str) -> None:
    response = client.post(
        "/api/emails/send", data=body, content_type="application/json"
    )

    assert response.status_code == 400
    assert "JSON object" in response.get_json()["error"]


def test_send_too_large_body(client: FlaskClient) -> None:
    response = client.post(
        "/api/emails/send", json={**GOOD, "body": "x" * (2 * 1024 * 1024)}
    )

    assert response.status_code == 413
    assert "error" in response.get_json()


def test_queue_counts_pending(client: FlaskClient) -> None:
    for _ in range(3):
        client.post("/api/emails/send", json=GOOD)

    body = client.get("/api/emails/queue").get_json()

    assert body["pending"] == 3
    assert body["counts"]["pending"] == 3
    assert body["counts"]["dead"] == 0


def test_dead_lists_dead_letters(client: FlaskClient) -> None:
    job_id = make_dead(client)
    client.post("/api/emails/send", json=GOOD)

    body = client.get("/api/emails/dead").get_json()

    assert body["count"] == 1
    [letter] = body["dead"]
    assert letter["id"] == job_id
    assert letter["payload"] == GOOD
    assert letter["error"] == "SMTPRecipientsRefused: 550 rejected"
    assert letter["attempts"] == 1


def test_retry_requeues_dead_letters(client: FlaskClient) -> None:
    job_id = make_dead(client)

    response = client.post("/api/emails/retry", json={})

    assert response.status_code == 200
    assert response.get_json() == {"retried": 1}
    with Queue("emails") as queue:
        assert queue.require(job_id).status.value == "pending"
    empty_body = client.post("/api/emails/retry", content_type="application/json")
    assert empty_body.get_json() == {"retried": 0}


def test_console_post_needs_csrf_token(client: FlaskClient) -> None:
    job_id = make_dead(client)

    response = client.post(f"/admin/queues/api/topics/emails/jobs/{job_id}/retry")

    assert response.status_code == 400
    with Queue("emails") as queue:
        assert queue.require(job_id).status.value == "dead"


def test_home_redirects_to_console(client: FlaskClient) -> None:
    response = client.get("/")

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/queues/"
