"""The console's JSON API returns hostile text exactly as stored, on every backend."""

from __future__ import annotations

import pytest

from dashboard import ConsoleSettings, create_app
from tests.hostile_text import HOSTILE_TEXTS, MEGABYTE_TEXT, fail_once, hostile_payload

from .conftest import QueueFactory


@pytest.fixture
def client(queue_factory: QueueFactory):  # type: ignore[no-untyped-def]
    queue = queue_factory("hostile", max_retries=1)
    app = create_app(ConsoleSettings(secret_key="k"), queue.settings, queue.backend)
    app.config["TESTING"] = True
    return queue, app.test_client()


def test_api_returns_hostile_text_exactly(client):
    queue, api = client
    texts = {**HOSTILE_TEXTS, "megabyte": MEGABYTE_TEXT}
    payloads = {
        name: hostile_payload(name, text) for name, text in HOSTILE_TEXTS.items()
    }
    payloads["megabyte"] = {"big": MEGABYTE_TEXT}
    ids = {
        name: fail_once(queue, payloads[name], f"ValueError: {text}")
        for name, text in texts.items()
    }

    for name, text in texts.items():
        job = api.get(f"/api/topics/hostile/jobs/{ids[name]}").get_json()
        assert job["payload"] == payloads[name], name
        assert job["error"].startswith(f"ValueError: {text}"[:65536]), name
    listed = api.get("/api/topics/hostile/jobs?status=dead&limit=100").get_json()
    found = api.get(
        "/api/topics/hostile/jobs", query_string={"status": "dead", "q": "__xss"}
    ).get_json()
    groups = api.get("/api/topics/hostile/errors").get_json()["groups"]

    assert len(listed["jobs"]) == len(texts)
    assert {job["id"] for job in found["jobs"]} == {
        ids[name] for name, text in texts.items() if "__xss" in text
    }
    assert sum(group["count"] for group in groups) == len(texts)
