"""The Kafka backend (``TINA4_QUEUE_BACKEND=kafka``), on confluent-kafka.

Supports every queue operation. ``TINA4_QUEUE_URL`` is the bootstrap list,
``host:port[,host:port]``, or ``kafka://[user:password@]host:port?options``
where ``partitions=N`` sets the partitions of each job topic and any other
option goes to librdkafka. The password and secret options are never logged.

Storage, per ``TINA4_QUEUE_PREFIX`` and per topic:

- ``queuedeck-<prefix>-state``: a compacted topic keyed by job id. Every
  message carries a job's whole record, so the topic contains the state of
  every live job. Each process reads it into a :class:`JobIndex` and follows it, and
  that index answers claims, counts, pages, lookups and error groups.
- ``queuedeck-<queue>-pending``: every pushed job, in push order, for tools
  that read the topic. ``<queue>`` is ``<prefix>-<topic>``, or ``<topic>``
  without a prefix (see ``connection.queue_name``). The consumer group
  ``queuedeck-<queue>-workers`` commits, per partition, the offset after the
  longest run of settled jobs.
- ``queuedeck-<queue>-failed`` and ``queuedeck-<queue>-dead``: a copy of each
  job that failed or died.

See ``docs/backends/kafka.md`` for the design. The backend's parts: ``core``
(clients, leases, the write path), ``work`` (claims and settles) and
``operations`` (operator changes and reads), over ``connection``, ``index``
(the job index) and ``offsets`` (the settled-offset commits).
"""

from __future__ import annotations

from ...settings import Settings
from .core import BackendCore
from .operations import Operations
from .work import Work


class KafkaBackend(Work, Operations):
    """Jobs on Kafka topics, their state in a compacted topic."""

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaBackend:
        """Return a backend for ``settings.url`` and ``settings.prefix``."""
        assert settings.url is not None
        return cls(settings.url, prefix=settings.prefix)


__all__ = ["BackendCore", "KafkaBackend"]
