"""Exceptions raised by queue_core.

Every error derives from :class:`QueueError`, so a caller can catch the whole
family in one clause::

    QueueError
    ├── ConfigurationError   bad TINA4_QUEUE_* setting or missing driver
    ├── PayloadError         payload is not a JSON object or is too large
    │   ├── PayloadTypeError     a value of a type JSON cannot carry
    │   └── PayloadTooLargeError over TINA4_QUEUE_MAX_PAYLOAD_BYTES
    ├── TopicError           topic name breaks the portable naming rule
    ├── JobNotFoundError     no job with that id on the topic
    └── BackendError         the storage or broker failed
        ├── StorageError     the file store cannot be read or written
        └── BackendUnavailableError   the server cannot be reached

``PayloadError`` and ``TopicError`` are also ``ValueError`` subclasses, and
``ConfigurationError`` is a ``ValueError`` too, so code that expects the
built-in types keeps working.
"""

from __future__ import annotations


class QueueError(Exception):
    """Base class of every error raised by queue_core."""


class ConfigurationError(QueueError, ValueError):
    """Raised when a setting is invalid or a backend's driver is missing."""


class PayloadError(QueueError, ValueError):
    """Raised when a payload cannot be stored as a JSON object."""


class PayloadTypeError(PayloadError, TypeError):
    """Raised when a payload contains a value of a type JSON cannot carry."""


class PayloadTooLargeError(PayloadError):
    """Raised when an encoded payload is over the size limit."""


class TopicError(QueueError, ValueError):
    """Raised when a topic name breaks the portable naming rule."""


class JobNotFoundError(QueueError, LookupError):
    """Raised when no job with the given id exists on the topic."""


class BackendError(QueueError):
    """Raised when the storage or broker behind a queue fails."""


class StorageError(BackendError):
    """Raised when the file store cannot be opened, read or written."""


class BackendUnavailableError(BackendError):
    """Raised when the queue's server cannot be reached."""
