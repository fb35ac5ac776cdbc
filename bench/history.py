"""Benchmark the console's history: the sampler's cost and the overview's speed.

Two measurements on the file backend:

* **sampler cost**: a worker (``Worker.run(burst=True)``, a handler that
  returns at once) drains a backlog with and without a console sampler
  running in another process at the default 10 s interval, taking turns in
  the same run. The sampler process also times each of its samples, so the
  report shows both the throughput difference and the sampler's own time per
  interval.
* **overview render**: a queue with 100 topics and a history store filled
  with a day of samples (8,640 ticks of 100 topics through the store's own
  ``record``, with an injected clock), then the overview, its htmx fragment,
  a topic page and the day charts, timed around Flask's test client. "cold"
  clears the chart cache before each request; "warm" is a refresh of a page
  whose samples have not changed, which is what the overview's polling does.

Run: ``.venv/bin/python bench/history.py`` (about 4 minutes), or ``--quick``.
Results are printed and written to ``bench/results/history-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path and its own name
# would hide the dashboard package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

from dashboard import ConsoleSettings, create_app
from dashboard.charts import clear_cache
from dashboard.history import HistoryStore
from dashboard.sampler import Sampler
from queue_core import Job, Queue, Settings
from queue_core.rates import TopicSnapshot, take_snapshot
from queue_core.worker import Worker

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_INTERVAL = 10.0
BACKGROUND_TOPICS = 9
BACKGROUND_JOBS = 1_000


def sampler_process(
    path: str, interval: float, ready: Any, stop: Any, report: Any
) -> None:
    """Sample the queue at *path* every *interval* s until *stop* is set."""
    settings = Settings(path=Path(path))
    queue = Queue("default", settings=settings)
    durations: list[float] = []

    def timed_snapshot() -> dict[str, TopicSnapshot]:
        started = time.perf_counter()
        snapshot = take_snapshot(queue)
        durations.append(time.perf_counter() - started)
        return snapshot

    store = HistoryStore(Path(path + "-history.sqlite3"), interval=interval)
    sampler = Sampler(store, timed_snapshot)
    sampler.start()
    ready.set()
    stop.wait()
    sampler.stop()
    store.close()
    queue.close()
    report.put(durations)


def drain(settings: Settings, jobs: int) -> float:
    """Push *jobs* jobs, drain them with a burst worker, return jobs per second."""
    queue = Queue("work", settings=settings)
    for n in range(jobs):
        queue.push({"n": n})
    started = time.perf_counter()
    Worker(queue, _complete, heartbeat_interval=5).run(burst=True)
    elapsed = time.perf_counter() - started
    remaining = queue.size("pending")
    queue.close()
    if remaining:
        raise RuntimeError(f"the worker left {remaining} jobs pending")
    return jobs / elapsed


def _complete(job: Job) -> None:
    return None


def measure_sampler_cost(directory: Path, rounds: int, jobs: int) -> dict[str, Any]:
    settings = Settings(path=directory / "queue")
    for index in range(BACKGROUND_TOPICS):
        queue = Queue(f"background-{index}", settings=settings)
        for n in range(BACKGROUND_JOBS):
            queue.push({"n": n})
        queue.close()

    context = multiprocessing.get_context("spawn")
    rates: dict[str, list[float]] = {"off": [], "on": []}
    sample_seconds: list[float] = []
    for round_index in range(rounds):
        order = ("off", "on") if round_index % 2 == 0 else ("on", "off")
        for mode in order:
            if mode == "off":
                rates["off"].append(drain(settings, jobs))
                continue
            ready = context.Event()
            stop = context.Event()
            report = context.Queue()
            process = context.Process(
                target=sampler_process,
                args=(str(settings.path), DEFAULT_INTERVAL, ready, stop, report),
            )
            process.start()
            # The drain starts once the sampler process has imported and
            # started, so its start-up is not counted as sampling cost.
            if not ready.wait(timeout=60):
                raise RuntimeError("the sampler process did not start")
            try:
                rates["on"].append(drain(settings, jobs))
            finally:
                stop.set()
                sample_seconds.extend(report.get(timeout=60))
                process.join(timeout=30)
        print(
            f"round {round_index + 1}: off {rates['off'][-1]:.0f} jobs/s, "
            f"on {rates['on'][-1]:.0f} jobs/s",
            file=sys.stderr,
        )

    off = statistics.median(rates["off"])
    on = statistics.median(rates["on"])
    per_sample = statistics.median(sample_seconds) if sample_seconds else 0.0
    return {
        "jobs_per_run": jobs,
        "rounds": rounds,
        "rates_off": rates["off"],
        "rates_on": rates["on"],
        "median_off": off,
        "median_on": on,
        "throughput_change_percent": (on - off) / off * 100,
        "samples_taken": len(sample_seconds),
        "sample_seconds_median": per_sample,
        "sample_seconds_max": max(sample_seconds, default=0.0),
        "sampler_busy_percent_of_interval": per_sample / DEFAULT_INTERVAL * 100,
    }


def fill_history(path: Path, topics: list[str], now: float) -> float:
    """Record a day of 10 s samples for *topics*, ending at *now*."""
    clock = [now - 86400.0]
    store = HistoryStore(path, interval=10, clock=lambda: clock[0])
    started = time.perf_counter()
    tick = 0
    while clock[0] <= now:
        at = store.slot(clock[0])
        store.claim(at)
        snapshot = {
            name: TopicSnapshot(
                {
                    "pending": (tick + index) % 50,
                    "reserved": 1,
                    "completed": tick * (index % 7 + 1),
                    "failed": tick // 20,
                    "dead": tick // 100,
                },
                float(tick % 300),
            )
            for index, name in enumerate(topics)
        }
        store.record(at, snapshot)
        clock[0] += 10
        tick += 1
    store.close()
    return time.perf_counter() - started


def time_requests(client: Any, url: str, count: int, *, cold: bool) -> list[float]:
    headers = {"HX-Request": "true"} if "#fragment" in url else {}
    path = url.replace("#fragment", "")
    timings = []
    for _ in range(count):
        if cold:
            clear_cache()
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} returned {response.status_code}")
    return timings


def measure_render(directory: Path, repeats: int) -> dict[str, Any]:
    settings = Settings(path=directory / "render-queue")
    topics = [f"topic-{index:03d}" for index in range(100)]
    queue = Queue("default", settings=settings)
    for name in topics:
        topic_queue = Queue(name, settings=settings, backend=queue.backend)
        for n in range(3):
            topic_queue.push({"n": n})
    queue.close()

    history = directory / "render-history.sqlite3"
    now = time.time()
    fill_seconds = fill_history(history, topics, math.floor(now / 10) * 10)
    console = ConsoleSettings(
        secret_key="bench", sample_seconds=0, history_path=history
    )
    app = create_app(console, settings)
    app.testing = True
    client = app.test_client()
    client.get("/")

    results: dict[str, Any] = {"fill_seconds": fill_seconds}
    pages = {
        "overview": "/",
        "overview fragment": "/#fragment",
        "topic page": f"/topics/{topics[0]}",
        "all topics, day": "/charts?range=day",
    }
    for name, url in pages.items():
        for mode in ("cold", "warm"):
            count = max(3, repeats // 5) if mode == "cold" else repeats
            timings = time_requests(client, url, count, cold=mode == "cold")
            results[f"{name} ({mode})"] = {
                "median_ms": statistics.median(timings),
                "p95_ms": sorted(timings)[max(0, math.ceil(0.95 * count) - 1)],
                "requests": count,
            }
    return results


def machine() -> dict[str, Any]:
    load = os.getloadavg()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "load_average_at_start": load,
        "python": sys.version.split()[0],
        "commit": commit,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs")
    args = parser.parse_args()
    # A full run drains long enough for several samples at the 10 s interval.
    rounds, jobs, repeats = (2, 5_000, 10) if args.quick else (3, 150_000, 30)

    report: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="queuedeck-history-bench-") as name:
        directory = Path(name)
        report["sampler"] = measure_sampler_cost(directory, rounds, jobs)
        report["render"] = measure_render(directory, repeats)
    report["machine"]["load_average_at_end"] = os.getloadavg()

    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    output = RESULTS / f"history-{stamp}{'-quick' if args.quick else ''}.json"
    output.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(f"written to {output}", file=sys.stderr)


if __name__ == "__main__":
    main()
