"""The RabbitMQ backend (``TINA4_QUEUE_BACKEND=rabbitmq``), on pika.

Supports every queue operation. ``TINA4_QUEUE_URL`` is an AMQP URL,
``amqp://user:password@host:5672/vhost``, with pika's query options such as
``?heartbeat=30``. The password is never logged.

Storage, per topic and for the whole broker:

- ``queuedeck/<topic>``: the pending queue, classic and durable, with
  priorities 0 to 9. Workers take jobs from it with manual acks.
- ``queuedeck/<topic>/failed`` and ``queuedeck/<topic>/dead``: durable queues
  that hold a copy of each failed and dead job, for tools that read queues.
- ``queuedeck/events``: a stream queue with every change to every job. Each
  process replays it into a :class:`JobIndex` and follows it, and that index
  answers counts, pages, search, lookups by id and error groups. A read first
  publishes a marker and waits until it is read back, so it sees every change
  any process had confirmed before the call.

Every message is persistent; pushes and operator changes wait for the
publisher confirm. See ``docs/backends/rabbitmq.md`` for the design.

The backend's parts: ``core`` (connection, leases, the write path),
``claims``, ``settling`` and ``operations`` (operator changes and reads),
over ``connection`` (the shared pika connection), ``index`` (the job index)
and ``snapshots`` (index snapshots for fast start-up).
"""

from __future__ import annotations

from ...settings import Settings
from .claims import Claims
from .core import ATTEMPTS_HEADER, BackendCore
from .operations import Operations
from .settling import Settling

__all__ = ["ATTEMPTS_HEADER", "BackendCore", "RabbitMQBackend"]


class RabbitMQBackend(Claims, Settling, Operations):
    """Jobs on RabbitMQ queues, their state in an events stream."""

    @classmethod
    def from_settings(cls, settings: Settings) -> RabbitMQBackend:
        """Return a backend for ``settings.url``."""
        assert settings.url is not None
        return cls(settings.url)
