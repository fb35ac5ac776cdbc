"""The topic naming rule shared by every backend.

One rule keeps code portable: a name valid here is a valid RabbitMQ queue name,
Kafka topic name and MongoDB collection name, with room left for the suffixes
the backends add (``.failed``, ``.dead``) and for ``TINA4_QUEUE_PREFIX``.
Kafka is the strictest of the three: it allows only ASCII letters, digits,
``.``, ``_`` and ``-``, at most 249 characters, and not ``.`` or ``..``.
"""

from __future__ import annotations

import re

from .errors import ConfigurationError, TopicError

MAX_TOPIC_LENGTH = 100
MAX_PREFIX_LENGTH = 40

_TOPIC = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# A prefix has no dots, because the prefix and the topic are joined with one:
# prefix "a" with topic "b.c" must never meet prefix "a.b" with topic "c".
_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")

TOPIC_RULE = (
    f"1 to {MAX_TOPIC_LENGTH} characters of ASCII letters, digits, '.', '_' and "
    "'-', starting with a letter or digit"
)
PREFIX_RULE = (
    f"1 to {MAX_PREFIX_LENGTH} characters of ASCII letters, digits, '_' and '-', "
    "starting with a letter or digit"
)


def validate_topic(name: object) -> str:
    """Return *name* if it is a valid topic name.

    :raises TopicError: if *name* breaks the rule; the message states it.
    """
    problem = _name_problem(name, _TOPIC, MAX_TOPIC_LENGTH)
    if problem:
        raise TopicError(f"invalid topic {problem}; use {TOPIC_RULE}")
    return name  # type: ignore[return-value]


def validate_prefix(name: object) -> str:
    """Return *name* if it is a valid ``TINA4_QUEUE_PREFIX``.

    :raises ConfigurationError: if *name* breaks the rule; the message states it.
    """
    problem = _name_problem(name, _PREFIX, MAX_PREFIX_LENGTH)
    if problem:
        raise ConfigurationError(
            f"invalid TINA4_QUEUE_PREFIX {problem}; use {PREFIX_RULE}"
        )
    return name  # type: ignore[return-value]


def _name_problem(name: object, pattern: re.Pattern[str], limit: int) -> str | None:
    if not isinstance(name, str):
        return f"{name!r}: it must be a string, not {type(name).__name__}"
    shown = repr(name if len(name) <= 60 else name[:57] + "...")
    if len(name) > limit:
        return f"{shown}: {len(name)} characters is too long"
    if not pattern.fullmatch(name):
        return shown
    return None
