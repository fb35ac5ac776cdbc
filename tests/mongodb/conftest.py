"""Fixtures for the MongoDB-specific tests: a server URL and a fresh database.

The server comes from ``QUEUEDECK_TEST_MONGODB_URL`` (``scripts/services``
sets it). Without it the tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from queue_core import Queue, Settings
from queue_core.backends.mongodb import MongoDBBackend, with_database
from tests.servers import server_url

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"

MakeQueue = Callable[..., Queue]


@pytest.fixture
def mongodb_url() -> str:
    return server_url("mongodb")


@pytest.fixture
def environ(
    mongodb_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Yield the variables of a fresh database on the test server.

    The database is dropped after the test.
    """
    name = "m" + uuid.uuid4().hex[:12]
    variables = {
        "TINA4_QUEUE_BACKEND": "mongodb",
        "TINA4_QUEUE_URL": with_database(mongodb_url, name),
        "TINA4_QUEUE_PREFIX": name,
    }
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    yield variables
    backend = MongoDBBackend(variables["TINA4_QUEUE_URL"])
    try:
        backend.drop_database()
    finally:
        backend.close()


@pytest.fixture
def make_queue(environ: dict[str, str]) -> Iterator[MakeQueue]:
    queues: list[Queue] = []

    def make(topic: str = "jobs", max_retries: int = 3, **overrides: object) -> Queue:
        variables = dict(environ)
        for name, value in overrides.items():
            variables[f"TINA4_QUEUE_{name.upper()}"] = str(value)
        queue = Queue(
            topic, max_retries, settings=Settings.from_env(variables, env_file=None)
        )
        queues.append(queue)
        return queue

    yield make
    for queue in queues:
        queue.close()


def restart_server(down_seconds: float = 0.0) -> None:
    """Restart the test server on its data; skip when the server is not ours.

    The server stays stopped for *down_seconds*.
    """
    sys.path.insert(0, str(SCRIPTS))
    try:
        from servicekit import mongodb as service  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(SCRIPTS))
    if service.external():
        pytest.skip(
            "the server comes from QUEUEDECK_TEST_MONGODB_URL; not ours to restart"
        )
    service.restart(down_seconds)
