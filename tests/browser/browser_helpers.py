"""Helpers shared by the browser tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from flask import Flask
from werkzeug.serving import make_server

from queue_core import Queue


def push_dead(
    queue: Queue, count: int, error: str = "TimeoutError: after 30 s"
) -> list[str]:
    """Push *count* jobs and fail each once; the queue's max_retries=1 kills them."""
    ids = [queue.push({"n": n, "email": f"user{n}@example.com"}) for n in range(count)]
    for job_id in ids:
        job = next(queue.consume(id=job_id, poll_interval=0))
        assert job.fail(error)
    return ids


def serve(app: Flask) -> Iterator[str]:
    """Run *app* on 127.0.0.1 with an ephemeral port; yield its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
