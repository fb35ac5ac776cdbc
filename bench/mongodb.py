"""MongoDB backend throughput beside raw pymongo doing the same work.

Both sides store the same job documents in a collection with the same indexes.
A push is one ``insert_one``. A pop + complete is one ``find_one_and_update``
that reserves the next pending job by priority, due time and id, then one
``update_one`` guarded by the lease token: the work behind ``push()`` and
``pop()`` + ``complete()``.

    QUEUEDECK_TEST_MONGODB_URL=mongodb://... python bench/mongodb.py [count] [rounds]

Prints a Markdown table of each side's median rate over the rounds. Each side
uses a fresh database on the server, dropped afterwards.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from typing import Any

import pymongo
from pymongo import ReturnDocument
from pymongo.collection import Collection

from queue_core import Queue, Settings
from queue_core.backends.mongodb import MongoDBBackend, with_database
from queue_core.backends.mongodb.documents import JOB_INDEXES

CLAIM_SORT = [("priority", -1), ("available_at", 1), ("_id", 1)]


def raw_push(jobs: Collection[dict[str, Any]], n: int) -> None:
    """Insert one pending job document, as ``push()`` stores it."""
    now = time.time()
    jobs.insert_one(
        {
            "_id": f"{int(now * 1000):012x}{os.urandom(10).hex()}",
            "topic": "emails",
            "payload": json.dumps({"n": n, "to": "alice@example.com"}),
            "status": "pending",
            "priority": 0,
            "attempts": 0,
            "max_retries": 3,
            "error": None,
            "created_at": now,
            "updated_at": now,
            "available_at": now,
            "lease_token": None,
            "lease_expires_at": None,
            "retry_of": None,
            "signature": None,
        }
    )


def raw_pop_complete(jobs: Collection[dict[str, Any]]) -> bool:
    """Reserve and complete the next job; return ``False`` if there was none."""
    now = time.time()
    token = os.urandom(16).hex()
    job = jobs.find_one_and_update(
        {"topic": "emails", "status": "pending", "available_at": {"$lte": now}},
        {
            "$set": {
                "status": "reserved",
                "lease_token": token,
                "lease_expires_at": now + 300,
                "updated_at": now,
            }
        },
        sort=CLAIM_SORT,
        return_document=ReturnDocument.AFTER,
    )
    if job is None:
        return False
    json.loads(job["payload"])
    jobs.update_one(
        {"_id": job["_id"], "lease_token": token, "status": "reserved"},
        {
            "$set": {
                "status": "completed",
                "updated_at": time.time(),
                "lease_token": None,
                "lease_expires_at": None,
            }
        },
    )
    return True


def raw_pymongo(url: str, count: int) -> tuple[float, float]:
    """Return (push/s, pop+complete/s) for raw pymongo."""
    database = f"benchraw{uuid.uuid4().hex[:8]}"
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(url)
    jobs = client[database]["jobs"]
    jobs.create_indexes(JOB_INDEXES)
    # One untimed job first, so that creating the collection's files on the
    # server is not timed.
    raw_push(jobs, -1)
    assert raw_pop_complete(jobs)

    started = time.perf_counter()
    for n in range(count):
        raw_push(jobs, n)
    push_rate = count / (time.perf_counter() - started)

    started = time.perf_counter()
    done = 0
    while raw_pop_complete(jobs):
        done += 1
    pop_rate = done / (time.perf_counter() - started)
    assert done == count, f"raw pymongo took {done} of {count} jobs"

    client.drop_database(database)
    client.close()
    return push_rate, pop_rate


def queuedeck(url: str, count: int) -> tuple[float, float]:
    """Return (push/s, pop+complete/s) for the queuedeck MongoDB backend."""
    database_url = with_database(url, f"benchqd{uuid.uuid4().hex[:8]}")
    settings = Settings(backend="mongodb", url=database_url)
    queue = Queue("emails", settings=settings)
    # One untimed job first, as on the raw side: it connects, creates the
    # indexes and the topic registry.
    queue.push({"n": -1, "to": "alice@example.com"})
    first = queue.pop()
    assert first is not None
    first.complete()

    started = time.perf_counter()
    for n in range(count):
        queue.push({"n": n, "to": "alice@example.com"})
    push_rate = count / (time.perf_counter() - started)

    started = time.perf_counter()
    done = 0
    while (job := queue.pop()) is not None:
        job.complete()
        done += 1
    pop_rate = done / (time.perf_counter() - started)
    assert done == count, f"queuedeck took {done} of {count} jobs"

    queue.close()
    cleanup = MongoDBBackend(database_url)
    cleanup.drop_database()
    cleanup.close()
    return push_rate, pop_rate


def main() -> None:
    url = os.environ.get("QUEUEDECK_TEST_MONGODB_URL")
    if not url:
        sys.exit(
            "set QUEUEDECK_TEST_MONGODB_URL, for example with: "
            "scripts/services start mongodb; export $(scripts/services env)"
        )
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    # The sides take turns going first, because a server that slows down as
    # it fills would otherwise favour whichever side always runs first.
    raw: list[tuple[float, float]] = []
    ours: list[tuple[float, float]] = []
    for round_number in range(rounds):
        if round_number % 2 == 0:
            raw.append(raw_pymongo(url, count))
            ours.append(queuedeck(url, count))
        else:
            ours.append(queuedeck(url, count))
            raw.append(raw_pymongo(url, count))
    raw_push = statistics.median(rate for rate, _ in raw)
    raw_pop = statistics.median(rate for _, rate in raw)
    our_push = statistics.median(rate for rate, _ in ours)
    our_pop = statistics.median(rate for _, rate in ours)

    print(f"{count} jobs, one process, median of {rounds} rounds\n")
    print("| operation | raw pymongo (/s) | queuedeck (/s) | ratio |")
    print("|---|---:|---:|---:|")
    print(
        f"| push (insert_one) | {raw_push:,.0f} | {our_push:,.0f} "
        f"| {our_push / raw_push:.2f}x |"
    )
    print(
        "| pop + complete (find_one_and_update, update_one) "
        f"| {raw_pop:,.0f} | {our_pop:,.0f} | {our_pop / raw_pop:.2f}x |"
    )


if __name__ == "__main__":
    main()
