"""The backends the contract suite runs on, each with a fresh isolated store.

A backend joins the suite with one entry in ``STORES``. The entry is a context
manager that takes the test's ``tmp_path`` and a unique namespace name. It
yields the ``TINA4_QUEUE_*`` variables of a store that no other test uses and
removes what it created on exit. A broker backend yields its
``TINA4_QUEUE_URL`` with the namespace as ``TINA4_QUEUE_PREFIX`` and deletes
that prefix's queues on exit.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from queue_core import Backoff, Queue, Settings
from tests.servers import server_url


@contextlib.contextmanager
def file_store(tmp_path: Path, namespace: str) -> Iterator[dict[str, str]]:
    # The directory goes away with tmp_path, so there is nothing to clean up.
    yield {
        "TINA4_QUEUE_BACKEND": "file",
        "TINA4_QUEUE_PATH": str(tmp_path / "store"),
        "TINA4_QUEUE_PREFIX": namespace,
    }


Store = Callable[[Path, str], contextlib.AbstractContextManager[dict[str, str]]]


@contextlib.contextmanager
def rabbitmq_store(tmp_path: Path, namespace: str) -> Iterator[dict[str, str]]:
    # The namespace prefixes every topic, so this test's queues are its own;
    # they are deleted after it. The shared events stream keeps their history.
    url = server_url("rabbitmq")
    from queue_core.backends.rabbitmq import RabbitMQBackend

    yield {
        "TINA4_QUEUE_BACKEND": "rabbitmq",
        "TINA4_QUEUE_URL": url,
        "TINA4_QUEUE_PREFIX": namespace,
    }
    backend = RabbitMQBackend(url)
    try:
        backend.delete_queues(namespace)
    finally:
        backend.close()


@contextlib.contextmanager
def kafka_store(tmp_path: Path, namespace: str) -> Iterator[dict[str, str]]:
    # The namespace is the prefix, and each prefix has its own state topic,
    # so this test's topics are its own; they are deleted after it.
    url = server_url("kafka")
    from queue_core.backends.kafka import KafkaBackend

    yield {
        "TINA4_QUEUE_BACKEND": "kafka",
        "TINA4_QUEUE_URL": url,
        "TINA4_QUEUE_PREFIX": namespace,
    }
    for prefix in (namespace, f"{namespace}-alpha", f"{namespace}-beta"):
        KafkaBackend(url, prefix=prefix).delete_topics()


@contextlib.contextmanager
def mongodb_store(tmp_path: Path, namespace: str) -> Iterator[dict[str, str]]:
    # Each test gets its own database, named after the namespace, and drops
    # it after. The test server scans whole collections, so small
    # collections keep the suite fast.
    url = server_url("mongodb")
    from queue_core.backends.mongodb import MongoDBBackend, with_database

    database_url = with_database(url, namespace)
    yield {
        "TINA4_QUEUE_BACKEND": "mongodb",
        "TINA4_QUEUE_URL": database_url,
        "TINA4_QUEUE_PREFIX": namespace,
    }
    backend = MongoDBBackend(database_url)
    try:
        backend.drop_database()
    finally:
        backend.close()


STORES: dict[str, Store] = {
    "file": file_store,
    "rabbitmq": rabbitmq_store,
    "mongodb": mongodb_store,
    "kafka": kafka_store,
}


@dataclass
class QueueFactory:
    """Builds queues on one backend's isolated store and closes them after."""

    backend: str
    environ: dict[str, str]
    queues: list[Queue] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        """The ``TINA4_QUEUE_PREFIX`` that isolates this test's jobs."""
        return self.environ["TINA4_QUEUE_PREFIX"]

    def env(self, **overrides: object) -> dict[str, str]:
        """Return the store's variables with *overrides* applied.

        ``visibility_timeout=1`` sets ``TINA4_QUEUE_VISIBILITY_TIMEOUT=1``.
        """
        environ = dict(self.environ)
        for name, value in overrides.items():
            environ[f"TINA4_QUEUE_{name.upper()}"] = str(value)
        return environ

    def settings(self, **overrides: object) -> Settings:
        """Build settings from :meth:`env`, ignoring any ``.env`` file."""
        return Settings.from_env(self.env(**overrides), env_file=None)

    def __call__(
        self,
        topic: str = "emails",
        max_retries: int = 3,
        *,
        retry_backoff: Backoff | None = None,
        **overrides: object,
    ) -> Queue:
        queue = Queue(
            topic,
            max_retries,
            retry_backoff=retry_backoff,
            settings=self.settings(**overrides),
        )
        self.queues.append(queue)
        return queue

    def close(self) -> None:
        for queue in self.queues:
            queue.close()


@pytest.fixture(params=list(STORES))
def queue_factory(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[QueueFactory]:
    """Yield a :class:`QueueFactory` for each backend in ``STORES``.

    The store's variables are also set in ``os.environ``, so subprocesses and
    a plain ``Queue()`` see the same store.
    """
    namespace = "t" + uuid.uuid4().hex[:12]
    with STORES[request.param](tmp_path, namespace) as environ:
        for name, value in environ.items():
            monkeypatch.setenv(name, value)
        factory = QueueFactory(request.param, environ)
        try:
            yield factory
        finally:
            factory.close()
