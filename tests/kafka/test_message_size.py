"""Payloads too large for one Kafka message are rejected before anything is stored."""

from __future__ import annotations

import time

import pytest

from queue_core import JobStatus, PayloadTooLargeError, Queue
from queue_core.backends.base import JobRecord
from queue_core.backends.kafka.connection import (
    MAX_JOB_MESSAGE_BYTES,
    MAX_MESSAGE_BYTES,
)
from queue_core.backends.kafka.core import copy_message, dump_json

from .conftest import MakeQueue, end_offset, kafka_topic


def copy_size(queue: Queue, payload_characters: int) -> int:
    """Return the size of the pending-topic copy of a job with that payload."""
    now = time.time()
    record = JobRecord(
        id="0" * 32,
        topic=queue.full_topic(),
        payload='{"data":"' + "x" * payload_characters + '"}',
        status=JobStatus.PENDING,
        priority=0,
        attempts=0,
        max_retries=queue.max_retries,
        error=None,
        created_at=now,
        updated_at=now,
        available_at=now,
    )
    return len(dump_json(copy_message(record)))


@pytest.mark.timeout(120)
def test_payload_over_message_limit_rejected(
    make_queue: MakeQueue, kafka_url: str
) -> None:
    # TINA4_QUEUE_MAX_PAYLOAD_BYTES has no upper bound, but the backend's
    # producer and topics accept messages of at most MAX_MESSAGE_BYTES.
    queue = make_queue(max_payload_bytes=40 * 1024 * 1024)
    queue.push({"n": 0})
    pending = kafka_topic(queue, "pending")
    assert end_offset(kafka_url, pending, at_least=1) == 1

    with pytest.raises(PayloadTooLargeError, match=str(MAX_JOB_MESSAGE_BYTES)):
        queue.push({"data": "x" * (MAX_MESSAGE_BYTES + 1024 * 1024)})
    queue.close()

    assert queue.counts()["pending"] == 1
    assert end_offset(kafka_url, pending) == 1


@pytest.mark.timeout(180)
def test_rejected_push_leaves_no_copy(make_queue: MakeQueue, kafka_url: str) -> None:
    # Payloads whose copy or state message is within a few hundred bytes of
    # Kafka's message limit, where the copy may fit but the state message,
    # 23 bytes longer, may not. Each is rejected before anything is produced.
    queue = make_queue(max_payload_bytes=40 * 1024 * 1024)
    pending = kafka_topic(queue, "pending")
    base = copy_size(queue, 0)
    # The first push creates the job topics, so their offsets can be read.
    queue.push({"data": ""})
    assert end_offset(kafka_url, pending, at_least=1) == 1

    for margin in (0, 66, 72, 78, 84, 200):
        characters = MAX_MESSAGE_BYTES - margin - base
        with pytest.raises(PayloadTooLargeError):
            queue.push({"data": "x" * characters})
        # close() waits for any copy still in flight.
        queue.close()
        assert end_offset(kafka_url, pending) == 1, f"copy stored ({margin=})"

    assert queue.counts()["pending"] == 1


@pytest.mark.timeout(120)
def test_escaped_payload_over_limit_rejected(make_queue: MakeQueue) -> None:
    # A '"' takes 2 bytes in the payload's JSON and 4 in the job message,
    # which escapes the payload once more. So this payload's JSON is under
    # the limit and its job message is over it.
    queue = make_queue(max_payload_bytes=40 * 1024 * 1024)
    characters = MAX_JOB_MESSAGE_BYTES // 3

    with pytest.raises(PayloadTooLargeError):
        queue.push({"data": '"' * characters})

    assert queue.counts()["pending"] == 0
