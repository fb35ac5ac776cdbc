"""Fixtures for the console tests: an app on a fresh file backend per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dashboard import ConsoleSettings, create_app
from queue_core import Queue, Settings
from queue_core.backends import Backend, open_backend


@pytest.fixture
def queue_settings(tmp_path: Path) -> Settings:
    return Settings(path=tmp_path / "queue", max_payload_bytes=8 * 1024 * 1024)


@pytest.fixture
def backend(queue_settings: Settings) -> Iterator[Backend]:
    opened = open_backend(queue_settings)
    yield opened
    opened.close()


@pytest.fixture
def console_settings() -> ConsoleSettings:
    return ConsoleSettings(secret_key="test secret key")


@pytest.fixture
def app(
    console_settings: ConsoleSettings, queue_settings: Settings, backend: Backend
) -> Flask:
    app = create_app(console_settings, queue_settings, backend)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_queue(queue_settings: Settings, backend: Backend):  # type: ignore[no-untyped-def]
    def make(topic: str, max_retries: int = 1) -> Queue:
        return Queue(
            topic, max_retries=max_retries, settings=queue_settings, backend=backend
        )

    return make
