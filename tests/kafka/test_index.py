"""The job index folds state-topic messages like a compare-and-set log."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from queue_core import JobStatus
from queue_core.backends.base import JobRecord
from queue_core.backends.kafka.index import JobIndex, record_to_json


def make_record(job_id: str = "job-1") -> JobRecord:
    return JobRecord(
        id=job_id,
        topic="p.jobs",
        payload="{}",
        status=JobStatus.PENDING,
        priority=0,
        attempts=0,
        max_retries=3,
        error=None,
        created_at=1.0,
        updated_at=1.0,
        available_at=1.0,
    )


def change(record: JobRecord, expected: int, new: int) -> dict[str, Any]:
    return {
        "if": {"version": expected},
        "version": new,
        "record": record_to_json(record),
    }


def claimed(record: JobRecord, token: str) -> JobRecord:
    return replace(record, status=JobStatus.RESERVED, lease_token=token)


def test_first_racing_claim_wins() -> None:
    index = JobIndex()
    record = make_record()
    index.apply(record.id, {"version": 0, "record": record_to_json(record)}, 0)
    index.expect("a")
    index.expect("b")

    index.apply(record.id, {**change(claimed(record, "A"), 0, 1), "event": "a"}, 1)
    index.apply(record.id, {**change(claimed(record, "B"), 0, 1), "event": "b"}, 2)

    assert index.take_outcome("a") is True
    assert index.take_outcome("b") is False
    snapshot = index.snapshot(record.id)
    assert snapshot is not None
    assert snapshot.record.lease_token == "A"
    assert snapshot.version == 1
    assert index.next_offset == 3


def test_compacted_replay_matches_live() -> None:
    record = make_record()
    winner = claimed(record, "A")
    messages = [
        {"version": 0, "record": record_to_json(record)},
        change(winner, 0, 1),
        change(claimed(record, "B"), 0, 1),
        # The loser's rewrite of the current state, under its version.
        change(winner, 1, 1),
    ]
    live = JobIndex()
    for offset, value in enumerate(messages):
        live.apply(record.id, value, offset)

    # Compaction keeps only the newest message of the key.
    compacted = JobIndex()
    compacted.apply(record.id, messages[-1], 3)

    live_snapshot = live.snapshot(record.id)
    compacted_snapshot = compacted.snapshot(record.id)
    assert live_snapshot is not None
    assert compacted_snapshot is not None
    assert compacted_snapshot == live_snapshot
    assert compacted_snapshot.record.lease_token == "A"


def test_deleted_job_stays_deleted() -> None:
    index = JobIndex()
    record = make_record()
    index.apply(record.id, {"version": 0, "record": record_to_json(record)}, 0)
    index.expect("late")

    index.apply(record.id, {"op": "delete", "if": {"version": 0}}, 1)
    index.apply(record.id, {**change(claimed(record, "A"), 0, 1), "event": "late"}, 2)
    index.apply(record.id, None, 3)

    assert index.take_outcome("late") is False
    assert index.snapshot(record.id) is None
    assert index.counts("p.jobs")[JobStatus.PENDING] == 0
    assert index.topics() == []


def test_worker_heartbeat_and_tombstone() -> None:
    index = JobIndex()
    worker = {
        "id": "w1",
        "topic": "p.jobs",
        "hostname": "host",
        "pid": 1,
        "started_at": 1.0,
        "last_seen": 5.0,
        "current_job": None,
        "processed": 0,
        "failed": 0,
    }

    index.apply("worker:w1", {"worker": worker}, 0)
    assert [w.id for w in index.live_workers(seen_after=4.0)] == ["w1"]
    assert index.live_workers(seen_after=5.0) == []

    index.apply("worker:w1", None, 1)
    assert index.live_workers(seen_after=0.0) == []
