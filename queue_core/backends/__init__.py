"""Backend registry: ``TINA4_QUEUE_BACKEND`` names mapped to lazily imported classes.

A backend's driver is imported only when that backend is chosen, so the file
backend needs nothing beyond the standard library and python-dotenv.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from dataclasses import dataclass

from ..errors import ConfigurationError
from ..settings import Settings
from .base import Backend, JobRecord, Outcome, RecordPage, WorkerRecord


@dataclass(frozen=True)
class BackendSpec:
    """The module, class, driver and pip extra of one backend."""

    module: str
    class_name: str
    driver: str | None = None
    extra: str | None = None


BACKENDS: dict[str, BackendSpec] = {
    "file": BackendSpec("queue_core.backends.file", "FileBackend"),
    "rabbitmq": BackendSpec(
        "queue_core.backends.rabbitmq", "RabbitMQBackend", "pika", "rabbitmq"
    ),
    "kafka": BackendSpec(
        "queue_core.backends.kafka", "KafkaBackend", "confluent_kafka", "kafka"
    ),
    "mongodb": BackendSpec(
        "queue_core.backends.mongodb", "MongoDBBackend", "pymongo", "mongodb"
    ),
}


def open_backend(settings: Settings) -> Backend:
    """Return a new backend instance for *settings*.

    :raises ConfigurationError: if the backend name is unknown, its driver is
        not installed, or it needs ``TINA4_QUEUE_URL`` and none is set.
    """
    spec = _spec(settings.backend)
    if importlib.util.find_spec(spec.module) is None:
        # Every registered backend ships with queuedeck, so only an install
        # that lost a module gets here.
        raise ConfigurationError(
            f"TINA4_QUEUE_BACKEND={settings.backend!r} is missing from this "
            f"installation of queuedeck (module {spec.module!r} not found); "
            "reinstall queuedeck"
        )
    if spec.driver is not None:
        try:
            importlib.import_module(spec.driver)
        except ImportError:
            raise ConfigurationError(
                f"TINA4_QUEUE_BACKEND={settings.backend!r} needs the {spec.driver!r} "
                "driver, which is not installed; run: "
                f"pip install 'queuedeck[{spec.extra}]'"
            ) from None

    if settings.backend == "file":
        from .file import FileBackend

        return FileBackend(settings.path, synchronous=settings.file_sync)

    if not settings.url:
        raise ConfigurationError(
            f"TINA4_QUEUE_BACKEND={settings.backend!r} needs the server address in "
            "TINA4_QUEUE_URL"
        )
    module = importlib.import_module(spec.module)
    backend_class: type[Backend] = getattr(module, spec.class_name)
    return backend_class.from_settings(settings)  # type: ignore[attr-defined, no-any-return]


def check_backend_name(name: str) -> None:
    """Raise :class:`ConfigurationError` unless *name* is a known backend."""
    _spec(name)


def _spec(name: str) -> BackendSpec:
    try:
        return BACKENDS[name]
    except KeyError:
        pass
    valid = ", ".join(BACKENDS)
    close = difflib.get_close_matches(name, BACKENDS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigurationError(
        f"unknown TINA4_QUEUE_BACKEND {name!r}; use one of: {valid}.{hint}"
    )


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendSpec",
    "JobRecord",
    "Outcome",
    "RecordPage",
    "WorkerRecord",
    "check_backend_name",
    "open_backend",
]
