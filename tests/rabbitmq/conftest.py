"""Fixtures for the RabbitMQ-specific tests: a broker URL and a fresh prefix.

The broker comes from ``QUEUEDECK_TEST_RABBITMQ_URL`` (``scripts/services``
sets it). Without it the tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from queue_core import Queue, Settings
from queue_core.backends.rabbitmq import RabbitMQBackend
from tests.servers import server_url

SERVICES = Path(__file__).resolve().parents[2] / "scripts" / "services"


@pytest.fixture
def rabbitmq_url() -> str:
    return server_url("rabbitmq")


@pytest.fixture
def environ(
    rabbitmq_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Yield the variables of a fresh prefix on the test broker.

    The prefix's queues are deleted after the test.
    """
    prefix = "r" + uuid.uuid4().hex[:12]
    variables = {
        "TINA4_QUEUE_BACKEND": "rabbitmq",
        "TINA4_QUEUE_URL": rabbitmq_url,
        "TINA4_QUEUE_PREFIX": prefix,
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    yield variables
    backend = RabbitMQBackend(rabbitmq_url)
    try:
        backend.delete_queues(prefix)
    finally:
        backend.close()


@pytest.fixture
def make_queue(environ: dict[str, str]) -> Iterator[object]:
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


def rabbitmqctl(*args: str) -> None:
    """Run rabbitmqctl on the test node; skip when the broker is not ours."""
    result = subprocess.run(
        [str(SERVICES), "rabbitmqctl", *args], capture_output=True, text=True
    )
    if result.returncode == 3:
        pytest.skip(
            "the broker comes from QUEUEDECK_TEST_RABBITMQ_URL; not ours to restart"
        )
    assert result.returncode == 0, result.stderr
