"""Benchmark the console on a large file-backend queue.

Builds (or reuses) a queue database with 1,000,000 jobs over 10 topics, of
which 200,000 are dead letters, then measures:

* server time of the overview and dead-letter pages and their htmx fragments,
  timed around Flask's test client in this process (no network, no gunicorn);
* the size of a topic page listing a 5 MB payload among 50 small ones;
* requests per second of the overview fragment on gunicorn with 2 workers,
  loaded from 127.0.0.1 by wrk (or a small Python client when wrk is missing)
  for a bounded number of seconds.

The jobs are written with bulk SQL inserts straight into the file backend's
``jobs`` table (the schema is created first by a normal push), because pushing
a million jobs one at a time would take minutes. The ``job_counts`` triggers
still run, so counts stay exact.

Run: ``.venv/bin/python bench/dashboard.py`` (about 1 minute to build the
data on first run, then about 1 minute to measure).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its own name
# would hide the dashboard package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

from dashboard import ConsoleSettings, create_app
from queue_core import Queue, Settings
from queue_core.signature import error_signature

ERRORS = (
    "TimeoutError: no reply from 10.0.{a}.{b}:25 after {n} s",
    "ConnectionRefusedError: [Errno 111] connect to 10.1.{a}.{b}:5432 refused",
    "KeyError: 'user_{n}'",
    "ValueError: invoice {n} has a negative total of -{a}.{b}",
    "RuntimeError: upstream returned HTTP 5{a} for request {id}",
)
# Per topic: how many jobs of each status.
SHARE = {"completed": 0.6, "pending": 0.15, "failed": 0.05, "dead": 0.2}
BATCH = 20_000


def main() -> None:
    args = parse_args()
    data = Path(args.data)
    settings = Settings(path=data, max_payload_bytes=8 * 1024 * 1024)
    if args.rebuild and data.exists():
        shutil.rmtree(data)
    if not (data / "queue.db").exists():
        build(settings, args.jobs, args.topics)

    app = create_app(ConsoleSettings(secret_key="bench"), settings)
    client = app.test_client()
    print("| Request | p50 ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|")
    for label, url, htmx in requests_to_time(client):
        times = time_requests(client, url, htmx, args.requests)
        print(f"| {label} | {times[0]:.1f} | {times[1]:.1f} | {times[2]:.1f} |")

    page = client.get("/topics/big?status=pending&limit=51")
    fragment = client.get(
        "/topics/big?status=pending&limit=51", headers={"HX-Request": "true"}
    )
    print(
        f"\n5 MB payload among 50 small: page {len(page.data):,} bytes, "
        f"fragment {len(fragment.data):,} bytes"
    )

    rate = gunicorn_rate(data, args.seconds)
    print(f"\ngunicorn, 2 workers, overview fragment: {rate}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--data", default="/tmp/queuedeck-bench", help="queue directory"
    )
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs in total")
    parser.add_argument("--topics", type=int, default=10, help="number of topics")
    parser.add_argument("--requests", type=int, default=200, help="requests per URL")
    parser.add_argument("--seconds", type=int, default=10, help="gunicorn load time")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the data")
    return parser.parse_args()


def build(settings: Settings, jobs: int, topics: int) -> None:
    started = time.perf_counter()
    queue = Queue("big", settings=settings)
    for n in range(50):
        queue.push({"n": n, "body": "small"})
    queue.push({"blob": "x" * (5 * 1024 * 1024)})
    queue.close()

    connection = sqlite3.connect(settings.path / "queue.db", isolation_level=None)
    connection.execute("PRAGMA synchronous = OFF")
    per_topic = jobs // topics
    for index in range(topics):
        topic = f"topic-{index:02d}"
        connection.execute("BEGIN")
        rows = topic_rows(topic, per_topic)
        while batch := [row for _, row in zip(range(BATCH), rows, strict=False)]:
            connection.executemany(
                "INSERT INTO jobs (topic, status, priority, payload, attempts, "
                "max_retries, error, created_at, updated_at, available_at, signature) "
                "VALUES (?, ?, 0, ?, ?, 3, ?, ?, ?, ?, ?)",
                batch,
            )
        connection.execute("COMMIT")
    connection.close()
    print(f"built {jobs:,} jobs in {time.perf_counter() - started:.0f} s")


def topic_rows(topic: str, count: int):  # type: ignore[no-untyped-def]
    now = time.time()
    number = 0
    for status, share in SHARE.items():
        for _ in range(int(count * share)):
            number += 1
            created = now - 86400 + number * 0.05
            error = None
            attempts = 0
            if status in ("failed", "dead"):
                attempts = 3 if status == "dead" else 1
                error = ERRORS[number % len(ERRORS)].format(
                    a=number % 250, b=number % 200, n=number, id=uuid.uuid4().hex
                )
            payload = json.dumps(
                {"order": number, "email": f"user{number}@example.com"}
            )
            yield (
                topic,
                status,
                payload,
                attempts,
                error,
                created,
                created + 1,
                created,
                error_signature(error),
            )


def requests_to_time(client):  # type: ignore[no-untyped-def]
    dead = "/topics/topic-00?status=dead"
    html = client.get(dead + "&limit=20").get_data(as_text=True)
    for _ in range(9):
        match = re.search(r'rel="next" href="([^"]+)"', html)
        assert match is not None
        deep = match.group(1).replace("&amp;", "&")
        html = client.get(deep).get_data(as_text=True)
    return [
        ("overview page", "/", False),
        ("overview fragment", "/", True),
        ("dead letters page (20 rows)", dead, False),
        ("dead letters fragment", dead, True),
        ("dead letters, 10th page by cursor", deep, True),
        ("error groups page", "/topics/topic-00/errors", False),
        ("error groups fragment", "/topics/topic-00/errors", True),
    ]


def time_requests(client, url: str, htmx: bool, count: int) -> tuple[float, ...]:  # type: ignore[no-untyped-def]
    headers = {"HX-Request": "true"} if htmx else {}
    for _ in range(5):
        assert client.get(url, headers=headers).status_code == 200
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    times.sort()
    p95 = statistics.quantiles(times, n=20)[-1]
    return statistics.median(times), p95, times[-1]


def gunicorn_rate(data: Path, seconds: int) -> str:
    port = free_port()
    env = {
        **os.environ,
        "TINA4_QUEUE_PATH": str(data),
        "QUEUEDECK_SECRET_KEY": "bench",
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    server = subprocess.Popen(
        [
            str(gunicorn),
            "--workers",
            "2",
            "--preload",
            "--bind",
            f"127.0.0.1:{port}",
            "dashboard:create_app()",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url)
        if shutil.which("wrk"):
            output = subprocess.run(
                ["wrk", "-t2", "-c8", f"-d{seconds}s", "-H", "HX-Request: true", url],
                capture_output=True,
                text=True,
                check=True,
                timeout=seconds + 30,
            ).stdout
            match = re.search(r"Requests/sec:\s+([\d.]+)", output)
            assert match is not None, output
            return f"{float(match.group(1)):.0f} requests/s (wrk -t2 -c8 -d{seconds}s)"
        return python_load(url, seconds)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def python_load(url: str, seconds: int) -> str:
    done = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run() -> None:
        nonlocal done
        request = urllib.request.Request(url, headers={"HX-Request": "true"})
        while time.monotonic() < deadline:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
            with lock:
                done += 1

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return f"{done / seconds:.0f} requests/s (Python client, 8 threads, {seconds} s)"


def wait_until_up(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(
        f"gunicorn did not respond on {url} within 30 s; check that the port is free"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


if __name__ == "__main__":
    main()
