"""The example's API against hostile input: content types, bodies and fields."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from app import create_app
from flask.testing import FlaskClient

from queue_core import Queue

GOOD = {"to": "alice@example.com", "subject": "Welcome", "body": "Hello Alice"}


@pytest.fixture
def client() -> Iterator[FlaskClient]:
    app = create_app()
    app.config["TESTING"] = True
    with app.test_client() as test_client:
        yield test_client


def queued() -> int:
    with Queue("emails") as queue:
        return queue.counts()["pending"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "multipart/form-data"])
def test_send_rejects_non_json_content_type(
    client: FlaskClient, content_type: str | None
) -> None:
    # A cross-site <form enctype="text/plain"> sends exactly this kind of body.
    response = client.post(
        "/api/emails/send",
        data='{"to": "alice@example.com", "subject": "s", "body": "b"}',
        content_type=content_type,
    )

    assert response.status_code == 415
    assert "Content-Type: application/json" in response.get_json()["error"]
    assert queued() == 0


def test_retry_rejects_non_json_content_type(client: FlaskClient) -> None:
    response = client.post("/api/emails/retry")

    assert response.status_code == 415
    assert "Content-Type: application/json" in response.get_json()["error"]


def test_retry_rejects_non_object_body(client: FlaskClient) -> None:
    response = client.post("/api/emails/retry", json=[1])

    assert response.status_code == 400
    assert "JSON object" in response.get_json()["error"]


@pytest.mark.parametrize("path", ["/api/emails/send", "/api/emails/retry"])
def test_deep_nesting_is_400(client: FlaskClient, path: str) -> None:
    response = client.post(path, data="[" * 100_000, content_type="application/json")

    assert response.status_code == 400
    assert "nested too deeply" in response.get_json()["error"]


def test_huge_integer_is_400_naming_size(client: FlaskClient) -> None:
    body = '{"to": "alice@example.com", "subject": "s", "body": "b", "n": %s}' % (
        "9" * 5000
    )

    response = client.post(
        "/api/emails/send", data=body, content_type="application/json"
    )

    assert response.status_code == 400
    message = response.get_json()["error"]
    assert "5000 digits" in message
    assert "too large" in message
    assert "JSON object" not in message


def test_invalid_utf8_is_400(client: FlaskClient) -> None:
    response = client.post(
        "/api/emails/send", data=b'{"to": "\xff"}', content_type="application/json"
    )

    assert response.status_code == 400
    assert "UTF-8" in response.get_json()["error"]


@pytest.mark.parametrize("field", ["to", "subject", "body"])
def test_lone_surrogate_is_400_not_413(client: FlaskClient, field: str) -> None:
    fields = {**GOOD, field: "x\\ud800y"}
    body = "{" + ", ".join(f'"{k}": "{v}"' for k, v in fields.items()) + "}"

    response = client.post(
        "/api/emails/send", data=body, content_type="application/json"
    )

    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert list(errors) == [field]
    assert errors[field].startswith(f"{field} ")


@pytest.mark.parametrize(
    "character", ["\x00", "\x0b", "\t", "\x1b", "\x85", "\u2028", "\u2029", "\n"]
)
@pytest.mark.parametrize("field", ["to", "subject"])
def test_control_characters_rejected(
    client: FlaskClient, field: str, character: str
) -> None:
    value = f"ali{character}ce@example.com" if field == "to" else f"Hi{character}x"

    response = client.post("/api/emails/send", json={**GOOD, field: value})

    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert list(errors) == [field]
    assert errors[field].startswith(f"{field} ")
    assert queued() == 0


def test_body_keeps_newlines_but_not_nul(client: FlaskClient) -> None:
    lines = client.post("/api/emails/send", json={**GOOD, "body": "one\r\ntwo\n"})
    nul = client.post("/api/emails/send", json={**GOOD, "body": "one\x00two"})

    assert lines.status_code == 201
    assert nul.status_code == 400
    assert "NUL" in nul.get_json()["errors"]["body"]


@pytest.mark.parametrize(
    "to",
    [
        "jörg@example.com",
        "alice@exämple.com",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
        "Alice <alice@example.com>",
        "alice(comment)@example.com",
        " alice@example.com",
        "alice@example..com",
    ],
)
def test_send_rejects_unsendable_address(client: FlaskClient, to: str) -> None:
    response = client.post("/api/emails/send", json={**GOOD, "to": to})

    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert list(errors) == ["to"]
    assert errors["to"].startswith("to ")


@pytest.mark.parametrize(
    "to", ["alice@example.com", "x" * 64 + "@example.com", '"a b"@example.com']
)
def test_send_accepts_plain_addresses(client: FlaskClient, to: str) -> None:
    response = client.post("/api/emails/send", json={**GOOD, "to": to})

    assert response.status_code == 201


def test_request_over_limit_is_413_naming_limit(client: FlaskClient) -> None:
    response = client.post(
        "/api/emails/send", json={**GOOD, "body": "x" * (2 * 1024 * 1024)}
    )

    assert response.status_code == 413
    message = response.get_json()["error"]
    assert "1 MiB" in message
    assert "capacity" not in message


def test_payload_over_queue_limit_is_413_naming_limit(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TINA4_QUEUE_MAX_PAYLOAD_BYTES", "1000")
    app = create_app()
    small_client = app.test_client()

    response = small_client.post("/api/emails/send", json={**GOOD, "body": "x" * 2000})

    assert response.status_code == 413
    assert "limit of 1000 bytes" in response.get_json()["error"]


def test_api_405_is_json(client: FlaskClient) -> None:
    response = client.get("/api/emails/send")

    assert response.status_code == 405
    assert response.is_json
    assert "error" in response.get_json()
    assert "POST" in response.headers["Allow"]


def test_api_404_is_json(client: FlaskClient) -> None:
    response = client.get("/api/emails/nothing")

    assert response.status_code == 404
    assert "error" in response.get_json()


def test_host_404_outside_api_unchanged(client: FlaskClient) -> None:
    response = client.get("/nothing-here")

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Content-Security-Policy" not in response.headers


def test_console_404_under_prefix_has_headers(client: FlaskClient) -> None:
    page = client.get("/admin/queues/no/such/page")
    api = client.get("/admin/queues/api/no/such")
    wrong_method = client.get("/admin/queues/api/topics/emails/bulk")

    assert page.status_code == 404
    assert "Content-Security-Policy" in page.headers
    assert api.status_code == 404
    assert "error" in api.get_json()
    assert api.headers["X-Frame-Options"] == "DENY"
    assert wrong_method.status_code == 405
    assert "error" in wrong_method.get_json()
    assert "Content-Security-Policy" in wrong_method.headers
