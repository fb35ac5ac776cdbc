"""Benchmark the file backend against raw sqlite3, persist-queue and litequeue.

Run from the repository root::

    .venv/bin/python bench/file_backend.py           # full run, 5 to 7 minutes
    .venv/bin/python bench/file_backend.py --quick   # under a minute, no 1M case

Prints a Markdown table on stdout and progress on stderr, and writes every
figure with its repetitions to ``bench/results/file_backend-<UTC time>.json``.
All queue data lives in a temporary directory (``tempfile``, so ``TMPDIR``
moves it) that is deleted at the end. docs/benchmarks.md describes what each
row measures.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from file_contenders import CONTENDERS, Contender, make_payload, open_contender
from file_drain import run_drain
from file_report import GOALS, render_table

logger = logging.getLogger("bench")

RESULTS_DIRECTORY = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Plan:
    """Sizes, repetitions and time limits of one run."""

    mode: str
    # Jobs per timed repetition. One extra repetition of this size warms up.
    push_jobs: int
    pop_jobs: int
    repetitions: int
    small_backlog: int
    # None skips the large-backlog benchmarks.
    large_backlog: int | None
    counts_calls: int
    drain_jobs: int
    drain_processes: int
    drain_time_limit: float
    drain_runs: int
    # A repetition stops early after this many seconds, so that a contender
    # whose cost grows with the backlog still finishes in bounded time.
    repetition_time_limit: float
    counts_time_limit: float


FULL = Plan(
    mode="full",
    push_jobs=5_000,
    pop_jobs=2_000,
    repetitions=5,
    small_backlog=1_000,
    large_backlog=1_000_000,
    counts_calls=2_000,
    drain_jobs=100_000,
    drain_processes=4,
    drain_time_limit=60.0,
    drain_runs=3,
    repetition_time_limit=5.0,
    counts_time_limit=5.0,
)
QUICK = replace(
    FULL,
    mode="quick",
    push_jobs=2_000,
    pop_jobs=500,
    repetitions=3,
    large_backlog=None,
    counts_calls=500,
    drain_jobs=10_000,
    drain_time_limit=10.0,
    drain_runs=1,
    repetition_time_limit=2.0,
    counts_time_limit=2.0,
)


# Timing ---------------------------------------------------------------------------


def summarize(values: list[float], unit: str, **extra: Any) -> dict[str, Any]:
    """Return the median of *values* with the spread and the raw values."""
    return {
        "value": statistics.median(values),
        "unit": unit,
        "min": min(values),
        "max": max(values),
        "repetitions": values,
        **extra,
    }


def time_pushes(
    contender: Contender, payload: dict[str, Any], jobs: int, time_limit: float
) -> float:
    """Push up to *jobs* jobs and return the rate in jobs per second."""
    done = 0
    started = time.perf_counter()
    elapsed = 0.0
    while done < jobs and elapsed < time_limit:
        contender.push(payload)
        done += 1
        elapsed = time.perf_counter() - started
    return done / elapsed


def time_pop_complete(
    contender: Contender, payload: dict[str, Any], jobs: int, time_limit: float
) -> float:
    """Pop and complete up to *jobs* jobs and return the rate in jobs per second.

    After each job one new job is pushed outside the timed section, so the
    pending backlog stays at the size it had when the call started.
    """
    done = 0
    elapsed = 0.0
    while done < jobs and elapsed < time_limit:
        started = time.perf_counter()
        job_id = contender.pop_complete()
        elapsed += time.perf_counter() - started
        if job_id is None:
            raise RuntimeError(f"{contender.name} had no pending job to pop")
        done += 1
        contender.push(payload)
    return done / elapsed


def time_calls(
    call: Callable[[], object], calls: int, time_limit: float
) -> dict[str, Any]:
    """Time up to *calls* calls of *call* and return the median and p95 in ms.

    Up to 50 untimed warm-up calls come first, stopped after a tenth of
    *time_limit*.
    """
    warm_up_deadline = time.perf_counter() + time_limit / 10
    for _ in range(50):
        call()
        if time.perf_counter() > warm_up_deadline:
            break
    latencies: list[float] = []
    deadline = time.perf_counter() + time_limit
    while len(latencies) < calls and time.perf_counter() < deadline:
        started = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    return {
        "median": statistics.median(latencies),
        "p95": p95,
        "max": latencies[-1],
        "calls": len(latencies),
        "unit": "ms",
    }


def interleave(
    measures: dict[str, Callable[[], float]], repetitions: int
) -> dict[str, list[float]]:
    """Run every measure once to warm up, then *repetitions* rounds of all of them.

    Each round starts with a different contender, so a burst of load from
    other processes on the machine falls on all contenders alike.
    """
    names = list(measures)
    for name in names:
        measures[name]()
    results: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(repetitions):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(measures[name]())
    return results


# Benchmarks -----------------------------------------------------------------------

DRAIN_METRICS = ["drain_wall", "drain_rate", "drain_duplicates", "drain_lost"]


class Run:
    """One benchmark run: the plan, the scratch directory and the results."""

    def __init__(self, plan: Plan, names: list[str], scratch: Path) -> None:
        self.plan = plan
        self.names = names
        self.scratch = scratch
        self.payload = make_payload()
        self.metrics: dict[str, dict[str, Any]] = {key: {} for key in GOALS}

    def record(self, metric: str, name: str, result: dict[str, Any]) -> None:
        self.metrics[metric][name] = result

    def run_all(self) -> None:
        self.push_empty()
        self.small_backlog()
        if self.plan.large_backlog is not None:
            self.large_backlog(self.plan.large_backlog)
        self.drains()

    def open_all(self, stage: str) -> dict[str, Contender]:
        contenders = {}
        for name in self.names:
            directory = self.scratch / f"{stage}-{name}"
            directory.mkdir()
            contenders[name] = open_contender(name, directory)
        return contenders

    @staticmethod
    def close_all(contenders: dict[str, Contender]) -> None:
        for contender in contenders.values():
            contender.close()
            shutil.rmtree(contender.directory)

    def push_measures(
        self, contenders: dict[str, Contender]
    ) -> dict[str, Callable[[], float]]:
        plan = self.plan
        return {
            name: functools.partial(
                time_pushes,
                contender,
                self.payload,
                plan.push_jobs,
                plan.repetition_time_limit,
            )
            for name, contender in contenders.items()
        }

    def pop_measures(
        self, contenders: dict[str, Contender]
    ) -> dict[str, Callable[[], float]]:
        plan = self.plan
        return {
            name: functools.partial(
                time_pop_complete,
                contender,
                self.payload,
                plan.pop_jobs,
                plan.repetition_time_limit,
            )
            for name, contender in contenders.items()
        }

    def push_empty(self) -> None:
        logger.info("push into an empty database")
        contenders = self.open_all("push")
        try:
            rates = interleave(self.push_measures(contenders), self.plan.repetitions)
        finally:
            self.close_all(contenders)
        for name, values in rates.items():
            self.record("push", name, summarize(values, "jobs/s"))

    def small_backlog(self) -> None:
        backlog = self.plan.small_backlog
        logger.info("pop+complete with %d pending", backlog)
        contenders = self.open_all("small")
        try:
            for contender in contenders.values():
                for _ in range(backlog):
                    contender.push(self.payload)
            rates = interleave(self.pop_measures(contenders), self.plan.repetitions)
            for name, values in rates.items():
                self.record(
                    "pop_small", name, summarize(values, "jobs/s", backlog=backlog)
                )
            if self.plan.large_backlog is None:
                for contender in contenders.values():
                    self.measure_counts(contender, jobs=self.stored_jobs())
        finally:
            self.close_all(contenders)

    def large_backlog(self, backlog: int) -> None:
        contenders = self.open_all("large")
        try:
            fill_seconds = {}
            for name, contender in contenders.items():
                logger.info("%s: bulk insert of %d pending jobs", name, backlog)
                started = time.perf_counter()
                contender.fill(backlog, self.payload)
                fill_seconds[name] = time.perf_counter() - started
                logger.info("%s: bulk insert took %.1f s", name, fill_seconds[name])

            logger.info("pop+complete with %d pending", backlog)
            rates = interleave(self.pop_measures(contenders), self.plan.repetitions)
            for name, values in rates.items():
                result = summarize(
                    values,
                    "jobs/s",
                    backlog=backlog,
                    fill_seconds=fill_seconds[name],
                )
                self.record("pop_large", name, result)
                small = self.metrics["pop_small"][name]["value"]
                slowdown = {"value": small / result["value"], "unit": "x"}
                self.record("pop_slowdown", name, slowdown)

            logger.info("push with %d stored jobs", backlog)
            rates = interleave(self.push_measures(contenders), self.plan.repetitions)
            for name, values in rates.items():
                self.record("push_large", name, summarize(values, "jobs/s"))

            for contender in contenders.values():
                self.measure_counts(contender, jobs=backlog)
        finally:
            self.close_all(contenders)

    def measure_counts(self, contender: Contender, *, jobs: int) -> None:
        plan = self.plan
        for method, prefix in (
            (contender.counts, "counts"),
            (contender.counts_by_topic, "counts_by_topic"),
        ):
            metrics = [f"{prefix}_median", f"{prefix}_p95"]
            reason = contender.unsupported.get(prefix)
            if reason is not None:
                for metric in metrics:
                    self.record(metric, contender.name, {"unsupported": reason})
                continue
            logger.info("%s: %s() latency with %d jobs", contender.name, prefix, jobs)
            timing = time_calls(method, plan.counts_calls, plan.counts_time_limit)
            note = contender.counts_note if prefix == "counts" else None
            for metric, key in zip(metrics, ("median", "p95"), strict=True):
                self.record(
                    metric,
                    contender.name,
                    {
                        "value": timing[key],
                        "unit": "ms",
                        "calls": timing["calls"],
                        "max": timing["max"],
                        "jobs": jobs,
                        "note": note,
                    },
                )

    def stored_jobs(self) -> int:
        # The small-backlog database after the pop benchmark: the pending
        # backlog plus every job completed by the warm-up and repetitions.
        plan = self.plan
        return plan.small_backlog + plan.pop_jobs * (plan.repetitions + 1)

    def drains(self) -> None:
        """Run the multi-process drain *plan.drain_runs* times per contender.

        Runs alternate between contenders. A contender whose first drain hit
        the time limit or failed runs only once, to bound the total time.
        """
        plan = self.plan
        runs: dict[str, list[dict[str, Any]]] = {}
        for name in self.names:
            reason = CONTENDERS[name].unsupported.get("drain")
            if reason is None:
                runs[name] = []
                continue
            for metric in DRAIN_METRICS:
                self.record(metric, name, {"unsupported": reason})

        for run_index in range(plan.drain_runs):
            for name, results in runs.items():
                if results and not (
                    results[0]["finished"] and not results[0]["errors"]
                ):
                    continue
                logger.info(
                    "%s: %d processes draining %d jobs, run %d",
                    name,
                    plan.drain_processes,
                    plan.drain_jobs,
                    run_index + 1,
                )
                directory = self.scratch / f"drain-{name}-{run_index}"
                directory.mkdir()
                result = run_drain(
                    name,
                    directory,
                    jobs=plan.drain_jobs,
                    processes=plan.drain_processes,
                    time_limit=plan.drain_time_limit,
                ).as_dict()
                shutil.rmtree(directory)
                logger.info("%s: drain %s", name, result)
                results.append(result)

        for name, results in runs.items():
            self.record_drain(name, results)

    def record_drain(self, name: str, results: list[dict[str, Any]]) -> None:
        last = results[-1]
        common = {
            "runs": results,
            "jobs": last["jobs"],
            "processes": last["processes"],
            "completed": last["completed"],
            "finished": all(result["finished"] for result in results),
            "errors": [error for result in results for error in result["errors"]],
        }
        walls = [result["wall_seconds"] for result in results]
        rates = [result["rate"] for result in results]
        self.record(
            "drain_wall",
            name,
            {**common, **summarize(walls, "s"), "repetitions": walls},
        )
        self.record(
            "drain_rate",
            name,
            {**common, **summarize(rates, "jobs/s"), "repetitions": rates},
        )
        duplicates = sum(result["duplicates"] for result in results)
        lost = sum(result["lost"] for result in results)
        unknown = sum(result["unknown"] for result in results)
        self.record("drain_duplicates", name, {"value": duplicates, "unit": ""})
        self.record(
            "drain_lost",
            name,
            {"value": lost, "unit": "", "completed_but_never_pushed": unknown},
        )


# Machine and output ---------------------------------------------------------------


def source_revision() -> str:
    """Return the git commit of the checkout, marked when queue_core has edits."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain", "--", "queue_core"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{commit} with uncommitted queue_core changes" if changes else commit


def machine_info() -> dict[str, Any]:
    """Return the facts about this machine that the results depend on."""
    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ("queuedeck", "persist-queue", "litequeue"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "cpus_available": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "scratch_directory": tempfile.gettempdir(),
        "load_average_start": os.getloadavg(),
        "packages": versions,
        "queuedeck_revision": source_revision(),
    }


def write_results(run: Run, machine: dict[str, Any], seconds: float) -> Path:
    """Write the run's results as JSON under bench/results/ and return the path."""
    RESULTS_DIRECTORY.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIRECTORY / f"file_backend-{stamp}-{run.plan.mode}.json"
    document = {
        "plan": run.plan.__dict__,
        "machine": {**machine, "load_average_end": os.getloadavg()},
        "run_seconds": seconds,
        "payload_bytes": len(json.dumps(run.payload, separators=(",", ":"))),
        "metrics": run.metrics,
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the queue_core file backend against raw sqlite3, "
        "persist-queue and litequeue."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="run smaller repetitions and skip the 1M-job backlog (under a minute)",
    )
    parser.add_argument(
        "--only",
        metavar="NAME",
        action="append",
        choices=list(CONTENDERS),
        help="run only this contender (repeat the option for several) "
        f"(default: all of {', '.join(CONTENDERS)})",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S"
    )
    plan = QUICK if arguments.quick else FULL
    names = arguments.only or list(CONTENDERS)
    machine = machine_info()
    logger.info("%s run of %s on %s", plan.mode, ", ".join(names), machine)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="queuedeck-file-bench-") as scratch:
        run = Run(plan, names, Path(scratch))
        run.run_all()
    seconds = time.perf_counter() - started

    path = write_results(run, machine, seconds)
    print(render_table(run.metrics, names, plan))
    print(f"\n{plan.mode} run took {seconds:.0f} s, results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
