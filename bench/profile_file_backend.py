"""Profile push and pop+complete of the queue_core file backend with cProfile.

Run from the repository root::

    .venv/bin/python bench/profile_file_backend.py [--jobs 20000] [--top 25]

Pushes *jobs* 100-byte jobs into an empty database, then pops and completes
them all, each phase under its own profiler. For each phase it prints the
time per job, the share spent inside sqlite3's C calls, and the functions with
the highest own time. cProfile adds overhead to every Python call, so the rates
here are lower than those of bench/file_backend.py; read the shares, not the
absolute times. The database lives in a temporary directory that is deleted
afterwards.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
from pathlib import Path

from file_contenders import QueueCore, make_payload

# Built-in methods whose own time is the SQLite engine's work.
SQLITE_CALLS = (
    "of 'sqlite3.Connection' objects",
    "of 'sqlite3.Cursor' objects",
)


def profile_phase(title: str, work: object, jobs: int, top: int) -> None:
    """Run *work* under cProfile and print its cost per job and top functions."""
    profiler = cProfile.Profile()
    profiler.runcall(work)  # type: ignore[arg-type]
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    in_sqlite = sum(
        entry[2]  # own time
        for (_, _, function), entry in stats.stats.items()  # type: ignore[attr-defined]
        if any(marker in function for marker in SQLITE_CALLS)
    )
    print(f"== {title}: {jobs:,} jobs")
    print(
        f"{total / jobs * 1e6:.1f} us per job under the profiler, "
        f"{in_sqlite / total:.0%} of it inside sqlite3 C calls"
    )
    output = io.StringIO()
    stats.stream = output  # type: ignore[attr-defined]
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    # Drop pstats' header lines and keep the table.
    text = output.getvalue()
    print(text[text.index("   ncalls") :])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--jobs", type=int, default=20_000, help="jobs per phase (default 20000)"
    )
    parser.add_argument(
        "--top", type=int, default=25, help="functions listed per phase (default 25)"
    )
    arguments = parser.parse_args(argv)
    payload = make_payload()

    with tempfile.TemporaryDirectory(prefix="queuedeck-profile-") as scratch:
        contender = QueueCore(Path(scratch))
        try:
            # Open the database and warm up before profiling.
            contender.push(payload)
            contender.pop_complete()

            def push_all() -> None:
                for _ in range(arguments.jobs):
                    contender.push(payload)

            def pop_all() -> None:
                for _ in range(arguments.jobs):
                    if contender.pop_complete() is None:
                        raise RuntimeError("the queue ran out of jobs")

            profile_phase("push", push_all, arguments.jobs, arguments.top)
            profile_phase("pop+complete", pop_all, arguments.jobs, arguments.top)
        finally:
            contender.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
