"""queue_core: a job queue with one API over a file store and three brokers.

>>> from queue_core import Queue
>>> queue = Queue(topic="emails", max_retries=3)
>>> job_id = queue.push({"to": "alice@example.com"})

The backend is chosen by ``TINA4_QUEUE_BACKEND`` (default ``file``), never by
code, so the same program runs on every backend.
"""

from .backends.base import WorkerRecord
from .errors import (
    BackendError,
    BackendUnavailableError,
    ConfigurationError,
    JobNotFoundError,
    PayloadError,
    PayloadTooLargeError,
    PayloadTypeError,
    QueueError,
    StorageError,
    TopicError,
)
from .job import Job, JobPage
from .queue import Queue
from .retry import Backoff
from .settings import Settings
from .status import JobStatus

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "Backoff",
    "ConfigurationError",
    "Job",
    "JobNotFoundError",
    "JobPage",
    "JobStatus",
    "PayloadError",
    "PayloadTooLargeError",
    "PayloadTypeError",
    "Queue",
    "QueueError",
    "Settings",
    "StorageError",
    "TopicError",
    "WorkerRecord",
]

__version__ = "0.1.0"
