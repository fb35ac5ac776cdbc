"""The topic naming rule shared by every backend.

One rule keeps code portable: a name valid here is a valid RabbitMQ queue name,
Kafka topic name and MongoDB collection name, with room left for the suffixes
the backends add (``.failed``, ``.dead``) and for ``TINA4_QUEUE_PREFIX``.
Kafka is the strictest of the three: it allows only ASCII letters, digits,
``.``, ``_`` and ``-``, at most 249 characters, and not ``.`` or ``..``.
"""

from __future__ import annotations

import re

from .errors import TopicError

MAX_TOPIC_LENGTH = 100
MAX_PREFIX_LENGTH = 40

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

TOPIC_RULE = (
    "1 to {max} characters of ASCII letters, digits, '.', '_' and '-', "
    "starting with a letter or digit"
)


def validate_topic(name: object, *, what: str = "topic") -> str:
    """Return *name* if it is a valid topic name.

    :param what: the word used in the error message (``"topic"`` or
        ``"TINA4_QUEUE_PREFIX"``).
    :raises TopicError: if *name* breaks the rule; the message states it.
    """
    limit = MAX_PREFIX_LENGTH if what != "topic" else MAX_TOPIC_LENGTH
    rule = TOPIC_RULE.format(max=limit)
    if not isinstance(name, str):
        raise TopicError(
            f"{what} must be a string, not {type(name).__name__}; use {rule}"
        )

    shown = name if len(name) <= 60 else name[:57] + "..."
    if len(name) > limit:
        raise TopicError(
            f"invalid {what} {shown!r}: {len(name)} characters is too long; use {rule}"
        )
    if not _NAME.fullmatch(name):
        raise TopicError(f"invalid {what} {shown!r}; use {rule}")
    return name
