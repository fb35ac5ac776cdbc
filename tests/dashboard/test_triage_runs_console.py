"""Bulk retry runs in the console pages, the JSON API and the CLI."""

from __future__ import annotations

import importlib
import logging
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from console_helpers import HTMX, api_token, page_csrf_token, push_dead
from flask import Flask

from dashboard import ConsoleSettings, console_state, create_app
from dashboard.triage.audit import audit_page
from dashboard.triage.runs import MAX_MIN_SAMPLE, get_run, start_run
from dashboard.triage.store import TriageStore
from queue_core import Queue, Settings


def test_preview_offers_run_form(client, make_queue):
    push_dead(make_queue("emails"), 2)

    html = client.get("/topics/emails/bulk?action=retry&status=dead").get_data(
        as_text=True
    )

    assert 'action="/topics/emails/runs"' in html
    assert "Start a bulk retry run" in html
    assert f'name="min_sample" value="20" min="1" max="{MAX_MIN_SAMPLE}"' in html


def test_start_run_from_form(app, client, make_queue):
    push_dead(make_queue("emails"), 2)
    token = page_csrf_token(client)

    reply = client.post(
        "/topics/emails/runs",
        data={
            "csrf_token": token,
            "status": "dead",
            "rate": "3",
            "threshold": "25",
            "min_sample": "4",
        },
    )

    assert reply.status_code == 303
    run_id = int(re.fullmatch(r"/runs/(\d+)", reply.location).group(1))
    run = get_run(console_state(app).triage, run_id)
    assert run.rate == 3
    assert run.threshold == 0.25
    assert run.min_sample == 4
    assert run.total == 2
    html = client.get(reply.location).get_data(as_text=True)
    assert '<progress id="run-progress" value="0" max="2">' in html
    assert f'hx-get="/runs/{run_id}/progress" hx-trigger="every 1s"' in html


def test_start_run_rejects_bad_number(client, make_queue):
    push_dead(make_queue("emails"), 1)
    token = page_csrf_token(client)

    reply = client.post(
        "/topics/emails/runs",
        data={"csrf_token": token, "status": "dead", "rate": "fast"},
    )

    assert reply.status_code == 400
    assert "invalid rate &#39;fast&#39;" in reply.get_data(as_text=True)


@pytest.mark.parametrize(
    ("min_sample", "message"),
    [
        ("2.5", "invalid min_sample &#39;2.5&#39;; enter a whole number from 1 to"),
        ("nan", "invalid min_sample &#39;nan&#39;; enter a whole number from 1 to"),
        ("inf", "invalid min_sample &#39;inf&#39;; enter a whole number from 1 to"),
        ("1e30", "invalid min_sample &#39;1e30&#39;; enter a whole number from 1"),
        ("", "invalid min_sample &#39;&#39;; enter a whole number from 1 to"),
        ("0", "min_sample must be at least 1 and at most 1000000"),
        ("1000001", "min_sample must be at least 1 and at most 1000000"),
        ("99999999999999999999999", "min_sample must be at least 1 and at most"),
    ],
)
def test_form_rejects_invalid_min_sample(app, client, make_queue, min_sample, message):
    push_dead(make_queue("emails"), 1)
    token = page_csrf_token(client)

    reply = client.post(
        "/topics/emails/runs",
        data={
            "csrf_token": token,
            "status": "dead",
            "rate": "5",
            "threshold": "50",
            "min_sample": min_sample,
        },
    )

    assert reply.status_code == 400
    assert message in reply.get_data(as_text=True)
    assert audit_page(console_state(app).triage).entries == []


def test_control_with_htmx_returns_panel(app, client, make_queue):
    push_dead(make_queue("emails"), 1)
    token = api_token(client)
    run = client.post(
        "/api/topics/emails/runs",
        json={"status": "dead", "rate": 1},
        headers={"X-CSRFToken": token},
    ).get_json()

    reply = client.post(
        f"/runs/{run['id']}/pause", headers={**HTMX, "X-CSRFToken": token}
    )
    cancelled = client.post(
        f"/runs/{run['id']}/cancel", headers={**HTMX, "X-CSRFToken": token}
    ).get_data(as_text=True)

    assert 'data-state="paused"' in reply.get_data(as_text=True)
    assert 'data-state="cancelled"' in cancelled
    assert "hx-trigger" not in cancelled
    assert client.get("/runs").status_code == 200
    assert f'data-run-id="{run["id"]}"' in client.get("/runs").get_data(as_text=True)


def test_unknown_run_is_404(client):
    assert client.get("/runs/7").status_code == 404
    assert client.get(f"/runs/{2**70}").status_code == 404
    assert client.get("/api/runs/7").status_code == 404
    assert client.get("/api/runs/abc").status_code == 404
    assert client.get(f"/api/runs/{2**70}").status_code == 404


def test_api_runs_lifecycle(app, client, make_queue):
    queue = make_queue("emails")
    push_dead(queue, 2)
    token = api_token(client)

    started = client.post(
        "/api/topics/emails/runs",
        json={"status": "dead", "rate": 10, "threshold": 0.3, "min_sample": 5},
        headers={"X-CSRFToken": token},
    ).get_json()
    runner = console_state(app).runner
    runner.run_once()
    shown = client.get(f"/api/runs/{started['id']}").get_json()
    paused = client.post(
        f"/api/runs/{started['id']}/pause", headers={"X-CSRFToken": token}
    )
    again = client.post(
        f"/api/runs/{started['id']}/pause", headers={"X-CSRFToken": token}
    )

    assert started["state"] == "running"
    assert started["description"] == "every dead job of topic 'emails'"
    assert shown["retried"] == 1
    assert paused.get_json()["state"] == "paused"
    assert again.status_code == 400
    assert "cannot pause run" in again.get_json()["error"]
    listed = client.get("/api/runs").get_json()["runs"]
    assert [each["id"] for each in listed] == [started["id"]]


def test_api_start_rejects_invalid_body(client, make_queue):
    push_dead(make_queue("emails"), 1)
    token = api_token(client)

    for body, message in [
        ({"rate": 1}, "status must be 'failed' or 'dead'"),
        ({"status": "dead"}, "rate must be above 0"),
        ({"status": "dead", "rate": 1, "min_sample": 0}, "at least 1"),
        ({"status": "dead", "rate": 1, "min_sample": 2.5}, "must be a whole number"),
        (
            {"status": "dead", "rate": 1, "min_sample": MAX_MIN_SAMPLE + 1},
            f"min_sample must be at least 1 and at most {MAX_MIN_SAMPLE}",
        ),
        ({"status": "dead", "rate": 1, "signature": 5}, "signature must be a string"),
    ]:
        reply = client.post(
            "/api/topics/emails/runs", json=body, headers={"X-CSRFToken": token}
        )
        assert reply.status_code == 400
        assert message in reply.get_json()["error"]


def test_api_start_rejects_huge_min_sample(client, make_queue):
    push_dead(make_queue("emails"), 1)

    # Larger than SQLite's largest INTEGER (2**63 - 1).
    reply = client.post(
        "/api/topics/emails/runs",
        data='{"status": "dead", "rate": 5, "min_sample": 99999999999999999999999}',
        headers={"X-CSRFToken": api_token(client), "Content-Type": "application/json"},
    )

    assert reply.status_code == 400
    assert "min_sample must be at least 1 and at most" in reply.get_json()["error"]


# Background threads at server start ---------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_listener(port: int, timeout: float) -> None:
    # A TCP connect with no HTTP request, so that no Flask request hook runs.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"console not listening on port {port} after {timeout} s")


def _server_command(server: str, port: int) -> list[str]:
    if server == "serve":
        return [sys.executable, "-m", "queue_core.cli", "serve", "--port", str(port)]
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:dashboard.gunicorn_config",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "dashboard:create_app()",
    ]


@pytest.mark.parametrize("server", ["serve", "gunicorn"])
def test_server_resumes_run_without_request(tmp_path: Path, server: str):
    queue_path = tmp_path / "queue"
    triage_path = tmp_path / "triage.sqlite3"
    settings = Settings(path=queue_path)
    with Queue("emails", max_retries=1, settings=settings) as queue:
        push_dead(queue, 5)
        store = TriageStore(triage_path)
        run = start_run(
            store,
            queue,
            status="dead",
            signature=None,
            rate=10.0,
            threshold=0.5,
            min_sample=20,
            actor="ops",
        )
        store.close()
    port = _free_port()
    environment = {
        **os.environ,
        "TINA4_QUEUE_BACKEND": "file",
        "TINA4_QUEUE_PATH": str(queue_path),
        "QUEUEDECK_TRIAGE_PATH": str(triage_path),
        "QUEUEDECK_SECRET_KEY": "test secret key",
    }
    process = subprocess.Popen(
        _server_command(server, port),
        env=environment,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_listener(port, timeout=15)
        # Five jobs at 10 a second take about 0.5 s once the runner steps.
        time.sleep(3)
    finally:
        process.terminate()
        process.wait(timeout=15)

    store = TriageStore(triage_path)
    resumed = get_run(store, run.id)
    store.close()
    assert resumed.retried == 5
    assert resumed.state == "finished"


def _gunicorn_worker(app: object) -> SimpleNamespace:
    return SimpleNamespace(wsgi=app, log=logging.getLogger("test.gunicorn"))


def test_gunicorn_hook_skips_test_app(app):
    config = importlib.import_module("dashboard.gunicorn_config")

    config.post_worker_init(_gunicorn_worker(app))

    assert console_state(app).runner.running is False
    assert console_state(app).sampler.running is False


def test_gunicorn_hook_starts_console_threads(tmp_path, queue_settings, backend):
    config = importlib.import_module("dashboard.gunicorn_config")
    settings = ConsoleSettings(
        secret_key="test secret key",
        triage_path=tmp_path / "triage.sqlite3",
        history_path=tmp_path / "history.sqlite3",
    )
    console_app = create_app(settings, queue_settings, backend)

    config.post_worker_init(_gunicorn_worker(console_app))

    state = console_state(console_app)
    try:
        assert state.runner.running is True
        assert state.sampler.running is True
    finally:
        state.runner.stop()
        state.sampler.stop()


def test_gunicorn_hook_skips_app_without_console(caplog):
    config = importlib.import_module("dashboard.gunicorn_config")

    with caplog.at_level(logging.INFO, logger="test.gunicorn"):
        config.post_worker_init(_gunicorn_worker(Flask("host")))

    assert "no console found on the app" in caplog.text
