"""Bad input is rejected before anything is stored."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pytest

from queue_core import PayloadError, Queue, TopicError

from .conftest import QueueFactory

EMPTY_COUNTS = {"pending": 0, "reserved": 0, "completed": 0, "failed": 0, "dead": 0}

# (payload, expected exception type, text the message must contain)
BAD_PAYLOADS: dict[str, tuple[Any, type[Exception], str]] = {
    "bytes": ({"blob": b"\x00\x01"}, TypeError, "'blob'"),
    "datetime": ({"when": datetime(2024, 1, 1)}, TypeError, "'when'"),
    "set": ({"tags": {"a", "b"}}, TypeError, "'tags'"),
    "nan": ({"ratio": math.nan}, ValueError, "'ratio'"),
    "infinity": ({"limit": math.inf}, ValueError, "'limit'"),
    "negative-infinity": ({"floor": -math.inf}, ValueError, "'floor'"),
    "lone-surrogate": ({"name": "abc\ud800"}, ValueError, "'name'"),
    "surrogate-key": ({"bad\udc00key": 1}, ValueError, "bad"),
    "top-level-list": ([1, 2, 3], TypeError, "list"),
    "top-level-string": ("hello", TypeError, "str"),
    "non-string-key": ({1: "one"}, TypeError, "1"),
    "int-beyond-64-bits": ({"big": 2**64}, ValueError, "'big'"),
    "nested-bytes": ({"outer": {"inner": [1, b"x"]}}, TypeError, "'inner'"),
    "object": ({"thing": object()}, TypeError, "'thing'"),
}


@pytest.mark.parametrize(
    ("payload", "error_type", "named"),
    list(BAD_PAYLOADS.values()),
    ids=list(BAD_PAYLOADS),
)
def test_bad_payload_stores_nothing(
    queue_factory: QueueFactory,
    payload: Any,
    error_type: type[Exception],
    named: str,
) -> None:
    queue = queue_factory()
    kept = queue.push({"n": "before"})

    with pytest.raises(error_type) as error:
        queue.push(payload)
    assert isinstance(error.value, PayloadError)
    assert named in str(error.value)

    with pytest.raises(error_type):
        queue.produce("invoices", payload)

    assert queue.counts() == {**EMPTY_COUNTS, "pending": 1}
    assert queue.topics() == ["emails"]
    assert [job.id for job in queue.jobs("pending")] == [kept]


def test_circular_payload_rejected(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    items: list[Any] = []
    items.append(items)

    with pytest.raises(ValueError):
        queue.push({"items": items})
    assert queue.counts() == EMPTY_COUNTS


def test_oversized_payload_rejected(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_payload_bytes=1024)
    # {"t":"..."} encodes to 8 bytes plus the text.
    exact = queue.push({"t": "x" * 1016})

    with pytest.raises(ValueError) as error:
        queue.push({"t": "x" * 1017})
    assert "1025 bytes" in str(error.value)
    assert "1024" in str(error.value)

    # The limit counts UTF-8 bytes, not characters: 600 'é' are 1200 bytes.
    with pytest.raises(PayloadError):
        queue.push({"t": "é" * 600})

    assert queue.counts() == {**EMPTY_COUNTS, "pending": 1}
    assert [job.id for job in queue.jobs("pending")] == [exact]


def test_default_limit_is_one_mebibyte(queue_factory: QueueFactory) -> None:
    queue = queue_factory()

    with pytest.raises(PayloadError, match="1048576"):
        queue.push({"t": "x" * (1024 * 1024)})
    assert queue.counts() == EMPTY_COUNTS


BAD_PUSH_OPTIONS: list[tuple[str, Any]] = [
    ("priority", 10),
    ("priority", -1),
    ("priority", 1.5),
    ("priority", 0.0),
    ("priority", True),
    ("delay", -1),
    ("delay", math.nan),
    ("delay", math.inf),
    ("delay", "5"),
]


@pytest.mark.parametrize(
    ("option", "value"),
    BAD_PUSH_OPTIONS,
    ids=[f"{option}={value!r}" for option, value in BAD_PUSH_OPTIONS],
)
def test_bad_push_options_rejected(
    queue_factory: QueueFactory, option: str, value: Any
) -> None:
    queue = queue_factory()

    with pytest.raises(ValueError, match=option):
        queue.push({"n": 1}, **{option: value})
    assert queue.counts() == EMPTY_COUNTS


INVALID_TOPICS = {
    "parent-path": "../x",
    "slash": "a/b",
    "dot-dot": "..",
    "dot": ".",
    "empty": "",
    "300-characters": "a" * 300,
    "101-characters": "a" * 101,
    "space": "a b",
    "leading-dash": "-emails",
    "non-ascii": "émails",
    "newline": "emails\n",
}
TOPIC_RULE = "ASCII letters, digits, '.', '_' and '-'"


@pytest.mark.parametrize(
    "topic", list(INVALID_TOPICS.values()), ids=list(INVALID_TOPICS)
)
def test_invalid_topic_rejected(queue_factory: QueueFactory, topic: str) -> None:
    queue = queue_factory("emails")

    with pytest.raises(TopicError) as error:
        queue_factory(topic)
    assert TOPIC_RULE in str(error.value)
    assert isinstance(error.value, ValueError)

    with pytest.raises(TopicError, match="ASCII letters"):
        queue.produce(topic, {"n": 1})
    with pytest.raises(TopicError, match="ASCII letters"):
        next(queue.consume(topic, poll_interval=0))

    assert queue.topics() == []


def test_topic_must_be_string(queue_factory: QueueFactory) -> None:
    with pytest.raises(TopicError, match="must be a string"):
        Queue(42, settings=queue_factory.settings())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "topic",
    ["emails", "a.b-c_d", "x" * 100, "0day", "UPPER.case"],
    ids=["emails", "dots-dashes-underscores", "100-characters", "digit", "upper"],
)
def test_valid_topic_accepted(queue_factory: QueueFactory, topic: str) -> None:
    queue = queue_factory(topic)
    job_id = queue.push({"n": 1})

    assert queue.topics() == [topic]
    job = queue.pop()
    assert job is not None
    assert job.id == job_id
    assert job.topic == topic


@pytest.mark.parametrize("max_retries", [-1, 1.5, True, "3"])
def test_bad_max_retries_rejected(
    queue_factory: QueueFactory, max_retries: object
) -> None:
    with pytest.raises(ValueError, match="max_retries"):
        queue_factory(max_retries=max_retries)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "job_id", [{"$ne": None}, 7, ["a"]], ids=["operator", "int", "list"]
)
def test_non_string_job_id_rejected(queue_factory: QueueFactory, job_id: Any) -> None:
    # A dict id must not reach a query, where it would select other jobs.
    queue = queue_factory(max_retries=1)
    dead = queue.push({"n": 1})
    job = queue.pop()
    assert job is not None
    assert job.fail("boom")
    queue.push({"n": 2})

    for call in (
        lambda: queue.get(job_id),
        lambda: queue.retry(job_id),
        lambda: queue.delete(job_id),
        lambda: list(queue.consume(id=job_id, poll_interval=0)),
    ):
        with pytest.raises(TypeError, match="job id must be a string"):
            call()

    assert queue.counts() == {**EMPTY_COUNTS, "pending": 1, "dead": 1}
    stored = queue.get(dead)
    assert stored is not None
    assert stored.status == "dead"


def test_non_string_cursor_rejected(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    queue.push({"n": 1})

    with pytest.raises(ValueError, match="invalid page cursor 5"):
        queue.jobs("pending", cursor=5)  # type: ignore[arg-type]
