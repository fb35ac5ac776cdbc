"""Soak test: producer and consumer processes on one backend for a fixed time.

Producers push numbered jobs until the time is up; consumers pop and complete
them until the queue stays empty after the producers stop. Then it checks
that every pushed job was completed exactly once (no loss, no duplicate while
leases hold: the lease is longer than the run) and reports throughput and the
memory of one long-running consumer over the run. Consumers write the ids
they complete to a file as they go, so their memory is the library's.

Completed jobs are purged every 30 seconds, as a retention job would, because
the broker backends keep an index of every stored job in each process's
memory; --keep-completed turns that off to show how the index grows.

    python bench/soak.py BACKEND [seconds] [--producers 4] [--consumers 4]
                         [--rate N] [--keep-completed]

BACKEND is file, rabbitmq, kafka or mongodb. Broker URLs come from the
QUEUEDECK_TEST_*_URL variables that ``scripts/services env`` prints. --rate
caps the pushes per second of all producers together, for a test server that
cannot keep up with unbounded producers.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from queue_core import Queue, Settings

TOPIC = "soak"
# Longer than any run, so no lease expires and a duplicate means a bug.
VISIBILITY_TIMEOUT = 3600
IDLE_SECONDS_TO_STOP = 3.0
MEMORY_SAMPLE_SECONDS = 5.0
PURGE_SECONDS = 30.0


def rss_kib() -> int:
    """Return this process's resident set size in KiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS line in /proc/self/status")


def produce(
    settings: Settings, index: int, until: float, rate: float, out: Path
) -> None:
    queue = Queue(TOPIC, settings=settings)
    ids: list[str] = []
    interval = 0.0 if rate <= 0 else 1.0 / rate
    next_at = time.monotonic()
    while time.monotonic() < until:
        if interval:
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        ids.append(queue.push({"producer": index, "n": len(ids)}))
    queue.close()
    out.write_text(json.dumps(ids), encoding="utf-8")


def consume(
    settings: Settings, producers_done: Any, watch_memory: bool, out: Path
) -> None:
    queue = Queue(TOPIC, settings=settings)
    completed = out.with_suffix(".ids").open("w", encoding="ascii")
    memory: list[tuple[float, int]] = []
    started = time.monotonic()
    next_sample = started
    idle_since: float | None = None
    while True:
        now = time.monotonic()
        if watch_memory and now >= next_sample:
            memory.append((round(now - started, 1), rss_kib()))
            next_sample = now + MEMORY_SAMPLE_SECONDS
        job = queue.pop()
        if job is not None:
            idle_since = None
            if job.complete():
                completed.write(job.id + "\n")
            continue
        if producers_done.is_set():
            idle_since = idle_since or now
            if now - idle_since > IDLE_SECONDS_TO_STOP:
                break
        time.sleep(0.01)
    queue.close()
    completed.close()
    out.write_text(json.dumps({"memory": memory}), encoding="utf-8")


def settings_for(backend: str, directory: Path) -> Settings:
    prefix = "soak" + uuid.uuid4().hex[:8]
    if backend == "file":
        return Settings(
            path=directory / "store",
            prefix=prefix,
            visibility_timeout=VISIBILITY_TIMEOUT,
        )
    url = os.environ.get(f"QUEUEDECK_TEST_{backend.upper()}_URL")
    if not url:
        raise SystemExit(
            f"QUEUEDECK_TEST_{backend.upper()}_URL is not set; "
            "run: export $(scripts/services env)"
        )
    if backend == "mongodb":
        from queue_core.backends.mongodb import with_database

        url = with_database(url, prefix)
    return Settings(
        backend=backend, url=url, prefix=prefix, visibility_timeout=VISIBILITY_TIMEOUT
    )


def run(
    backend: str,
    seconds: float,
    producers: int,
    consumers: int,
    rate: float,
    purge_every: float,
) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="queuedeck-soak-"))
    settings = settings_for(backend, directory)
    context = multiprocessing.get_context("spawn")
    producers_done = context.Event()
    started = time.monotonic()
    until = started + seconds
    per_producer = rate / producers if rate > 0 else 0.0
    producer_outputs = [directory / f"producer-{n}.json" for n in range(producers)]
    consumer_outputs = [directory / f"consumer-{n}.json" for n in range(consumers)]
    processes = [
        context.Process(target=produce, args=(settings, n, until, per_producer, out))
        for n, out in enumerate(producer_outputs)
    ]
    workers = [
        context.Process(target=consume, args=(settings, producers_done, n == 0, out))
        for n, out in enumerate(consumer_outputs)
    ]
    try:
        for process in processes + workers:
            process.start()
        operator = Queue(TOPIC, settings=settings)
        purged = 0
        next_purge = time.monotonic() + purge_every
        while any(process.is_alive() for process in processes):
            time.sleep(0.5)
            if purge_every and time.monotonic() >= next_purge:
                purged += operator.purge("completed")
                next_purge += purge_every
        producing = time.monotonic() - started
        producers_done.set()
        for process in workers:
            process.join()
        total = time.monotonic() - started
        if any(process.exitcode != 0 for process in processes + workers):
            raise SystemExit("a producer or consumer process failed; see its traceback")

        pushed = [
            job for out in producer_outputs for job in json.loads(out.read_text())
        ]
        completed = [
            job
            for out in consumer_outputs
            for job in out.with_suffix(".ids").read_text().split()
        ]
        memory = json.loads(consumer_outputs[0].read_text())["memory"]
        counts = operator.counts()
        operator.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    lost = set(pushed) - set(completed)
    return {
        "backend": backend,
        "seconds": round(producing, 1),
        "drain_seconds": round(total - producing, 1),
        "pushed": len(pushed),
        "completed": len(completed),
        "lost": len(lost),
        "duplicates": len(completed) - len(set(completed)),
        "push_rate": round(len(pushed) / producing),
        "complete_rate": round(len(completed) / total),
        "purged_completed": purged,
        "counts": counts,
        "consumer_rss_kib": memory,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backend", choices=["file", "rabbitmq", "kafka", "mongodb"])
    parser.add_argument("seconds", type=float, nargs="?", default=60.0)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--consumers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--keep-completed", action="store_true")
    options = parser.parse_args()
    result = run(
        options.backend,
        options.seconds,
        options.producers,
        options.consumers,
        options.rate,
        0.0 if options.keep_completed else PURGE_SECONDS,
    )
    memory = result.pop("consumer_rss_kib")
    print(json.dumps(result, indent=2))
    if memory:
        # Compare with the first sample after a minute, once imports and
        # caches have settled.
        settled = [kib for at, kib in memory if at >= 60] or [memory[-1][1]]
        peak = max(kib for _, kib in memory)
        print(
            f"consumer RSS: {memory[0][1] / 1024:.1f} MiB at start, "
            f"{settled[0] / 1024:.1f} MiB after a minute, "
            f"{memory[-1][1] / 1024:.1f} MiB at the end, "
            f"{peak / 1024:.1f} MiB at most ({len(memory)} samples)"
        )


if __name__ == "__main__":
    main()
