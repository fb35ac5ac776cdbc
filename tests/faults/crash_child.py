"""A producer or worker that runs until it is killed, for the crash tests.

Usage: ``python crash_child.py producer|worker STORE RECORD``. The child opens
the queue in STORE, prints ``ready``, waits for a line on stdin and then
repeats its operation until SIGKILL ends it. Around each operation it appends
one line to RECORD with a single ``write()``, so a kill leaves whole lines:

- producer: ``push`` before ``push()``, ``pushed ID`` after it returned.
- worker: ``claim`` before ``pop()``, then ``claimed ID`` or ``empty``;
  ``settle ID`` before ``complete()`` or ``fail()``, then ``completed ID`` or
  ``failed ID`` after it returned ``True`` (``lost ID`` if it returned False).

The last line shows where the kill landed: after ``push``, ``claim`` or
``settle`` it landed inside that operation.
"""

from __future__ import annotations

import os
import sys

from queue_core import Queue, Settings

TOPIC = "crash"
MAX_RETRIES = 3
# Every third job the worker settles with fail() instead of complete().
FAIL_EVERY = 3


def record(fd: int, line: str) -> None:
    os.write(fd, f"{line}\n".encode())


def produce(queue: Queue, fd: int) -> None:
    number = 0
    while True:
        record(fd, "push")
        job_id = queue.push({"n": number})
        record(fd, f"pushed {job_id}")
        number += 1


def work(queue: Queue, fd: int) -> None:
    number = 0
    while True:
        record(fd, "claim")
        job = queue.pop()
        if job is None:
            record(fd, "empty")
            continue
        record(fd, f"claimed {job.id}")
        record(fd, f"settle {job.id}")
        if number % FAIL_EVERY == FAIL_EVERY - 1:
            settled, outcome = job.fail("failed on purpose"), "failed"
        else:
            settled, outcome = job.complete(), "completed"
        record(fd, f"{outcome if settled else 'lost'} {job.id}")
        number += 1


def main() -> None:
    role, store, record_path = sys.argv[1:4]
    settings = Settings.from_env({"TINA4_QUEUE_PATH": store}, env_file=None)
    queue = Queue(TOPIC, max_retries=MAX_RETRIES, settings=settings)
    queue.size()  # opens the connection before the kill window starts
    fd = os.open(record_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    print("ready", flush=True)
    sys.stdin.readline()
    if role == "producer":
        produce(queue, fd)
    else:
        work(queue, fd)


if __name__ == "__main__":
    main()
