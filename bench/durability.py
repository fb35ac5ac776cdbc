"""The cost of the file backend's durability setting: rates by sync mode.

``TINA4_QUEUE_FILE_SYNC=normal`` keeps a returned push through a crash of any
process; ``full`` also through a power cut, with one fsync per push. This
times pushes and pop + complete pairs under each mode in the same run, on a
fresh store per round, and prints a Markdown table of the medians.

    python bench/durability.py [count] [rounds] [directory]

The directory (default: a new temporary one) must be on the disk whose cost
is wanted: a tmpfs makes fsync free.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from queue_core import Queue, Settings

MODES = ("normal", "full")
PAYLOAD = {"to": "alice@example.com", "template": "welcome"}


def rates(directory: Path, mode: str, count: int) -> tuple[float, float]:
    """Return pushes and pop + complete pairs per second on a fresh store."""
    store = directory / f"store-{mode}"
    shutil.rmtree(store, ignore_errors=True)
    queue = Queue("emails", settings=Settings(path=store, file_sync=mode))
    try:
        started = time.perf_counter()
        for n in range(count):
            queue.push({**PAYLOAD, "n": n})
        pushed = count / (time.perf_counter() - started)

        started = time.perf_counter()
        while (job := queue.pop()) is not None:
            job.complete()
        drained = count / (time.perf_counter() - started)
    finally:
        queue.close()
        shutil.rmtree(store, ignore_errors=True)
    return pushed, drained


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    chosen = Path(sys.argv[3]) if len(sys.argv) > 3 else None
    directory = chosen or Path(tempfile.mkdtemp(prefix="queuedeck-durability-"))
    results: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
    try:
        for _ in range(rounds):
            # Alternate the order so that neither mode always runs first.
            for mode in MODES if len(results["normal"]) % 2 == 0 else MODES[::-1]:
                results[mode].append(rates(directory, mode, count))
    finally:
        if chosen is None:
            shutil.rmtree(directory, ignore_errors=True)

    print(f"{count} jobs, median of {rounds} rounds, store in {directory}\n")
    print("| TINA4_QUEUE_FILE_SYNC | push (/s) | pop + complete (/s) |")
    print("|---|---:|---:|")
    for mode in MODES:
        push = statistics.median(rate[0] for rate in results[mode])
        drain = statistics.median(rate[1] for rate in results[mode])
        print(f"| `{mode}` | {push:,.0f} | {drain:,.0f} |")


if __name__ == "__main__":
    main()
