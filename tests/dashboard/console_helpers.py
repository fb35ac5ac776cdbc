"""Helpers shared by the console tests."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from queue_core import Queue

HTMX = {"HX-Request": "true"}


def push_dead(
    queue: Queue, count: int, error: str = "TimeoutError: after 30 s"
) -> list[str]:
    """Push *count* jobs and fail each once; with max_retries=1 they are dead."""
    ids = [queue.push({"n": n}) for n in range(count)]
    for job_id in ids:
        job = next(queue.consume(id=job_id, poll_interval=0))
        assert job.fail(error)
    return ids


def page_csrf_token(client: FlaskClient, url: str = "/") -> str:
    """Return the CSRF token from the meta tag of the page at *url*."""
    html = client.get(url).get_data(as_text=True)
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match is not None, "page has no csrf-token meta tag"
    return match.group(1)


def job_ids(html: str) -> list[str]:
    """Return the job ids of the rows in a job list, in order."""
    return re.findall(r'<tr id="job-[0-9a-f]+" data-job-id="([0-9a-f]+)"', html)


def next_link(html: str) -> str | None:
    """Return the href of the page's "Older" link, or None on the last page."""
    match = re.search(r'<a class="button" rel="next" href="([^"]+)"', html)
    return None if match is None else match.group(1).replace("&amp;", "&")


def api_token(client: FlaskClient) -> str:
    """Return a CSRF token for the JSON API, bound to *client*'s session."""
    token: str = client.get("/api/csrf-token").get_json()["csrf_token"]
    return token


# A start time on a whole hour, so that minute and 10-minute buckets line up.
START = 1_800_000_000.0


class Clock:
    """A clock that moves only when a test sets it."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
