"""Paging through jobs and searching payloads and errors."""

from __future__ import annotations

import pytest

from queue_core import Queue

from .conftest import QueueFactory


def make_dead_letters(queue: Queue, count: int) -> list[str]:
    """Push *count* jobs and fail each once, so with max_retries=1 all are dead."""
    ids = [queue.push({"n": n, "note": f"letter {n}"}) for n in range(count)]
    for job_id in ids:
        job = next(queue.consume(id=job_id))
        assert job.fail(f"fatal error {job_id}")
    return ids


def test_dead_letter_pages_newest_first(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=1)
    ids = make_dead_letters(queue, 53)

    pages = []
    cursor = None
    while True:
        page = queue.jobs("dead", limit=20, cursor=cursor)
        pages.append([job.id for job in page])
        cursor = page.next_cursor
        if cursor is None:
            break

    assert [len(page) for page in pages] == [20, 20, 13]
    listed = [job_id for page in pages for job_id in page]
    assert len(set(listed)) == 53
    assert listed == list(reversed(ids))
    assert [job.id for job in queue.dead_letters()] == list(reversed(ids))
    assert [job.id for job in queue.dead_letters(limit=20)] == pages[0]


def test_pages_stable_while_pushing(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=1)
    ids = make_dead_letters(queue, 53)

    listed = []
    cursor = None
    while True:
        page = queue.jobs("dead", limit=20, cursor=cursor)
        listed.extend(job.id for job in page)
        # New jobs of every kind arrive between page reads.
        make_dead_letters(queue, 3)
        queue.push({"n": "pending"})
        cursor = page.next_cursor
        if cursor is None:
            break

    assert listed == list(reversed(ids))
    assert queue.size("dead") == 53 + 3 * 3


def test_pending_pages_stable_while_pushing(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    ids = [queue.push({"n": n}) for n in range(25)]

    first = queue.jobs("pending", limit=10)
    queue.push({"n": "new"})
    second = queue.jobs("pending", limit=10, cursor=first.next_cursor)
    queue.push({"n": "newer"})
    third = queue.jobs("pending", limit=10, cursor=second.next_cursor)

    listed = [job.id for page in (first, second, third) for job in page]
    assert listed == list(reversed(ids))
    assert third.next_cursor is None


def test_last_page_has_no_cursor(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    for n in range(20):
        queue.push({"n": n})

    page = queue.jobs("pending", limit=20)

    assert len(page) == 20
    assert page.next_cursor is None
    assert len(queue.jobs("completed")) == 0
    assert queue.jobs("completed").next_cursor is None


def test_search_payload_ignores_case(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    invoice = queue.push({"to": "alice@example.com", "note": "Invoice 2024-07"})
    receipt = queue.push({"to": "bob@example.com", "note": "receipt"})

    assert [job.id for job in queue.search("INVOICE")] == [invoice]
    assert [job.id for job in queue.search("invoice 2024")] == [invoice]
    assert [job.id for job in queue.search("Bob@Example.COM")] == [receipt]
    assert [job.id for job in queue.search("example.com")] == [receipt, invoice]
    assert len(queue.search("carol")) == 0


def test_search_error_text(queue_factory: QueueFactory) -> None:
    queue = queue_factory(max_retries=3)
    healthy = queue.push({"to": "alice@example.com"})
    broken = queue.push({"to": "bob@example.com"})
    job = queue.pop()
    assert job is not None
    assert job.complete()
    job = queue.pop()
    assert job is not None
    assert job.fail("SMTP Timeout from relay.example.net")

    assert [job.id for job in queue.search("smtp timeout")] == [broken]
    assert [job.id for job in queue.search("SMTP", status="failed")] == [broken]
    assert len(queue.search("smtp", status="completed")) == 0
    assert [job.id for job in queue.search("alice", status="completed")] == [healthy]


def test_search_wildcards_are_literal(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    percent = queue.push({"discount": "100%"})
    queue.push({"discount": "1000"})
    underscore = queue.push({"code": "a_b"})
    queue.push({"code": "axb"})

    assert [job.id for job in queue.search("100%")] == [percent]
    assert [job.id for job in queue.search("a_b")] == [underscore]


def test_search_pages_like_jobs(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    matching = [queue.push({"note": f"match {n}"}) for n in range(12)]
    for n in range(5):
        queue.push({"note": f"other {n}"})

    first = queue.search("MATCH", limit=5)
    second = queue.search("MATCH", limit=5, cursor=first.next_cursor)
    third = queue.search("MATCH", limit=5, cursor=second.next_cursor)

    listed = [job.id for page in (first, second, third) for job in page]
    assert listed == list(reversed(matching))
    assert third.next_cursor is None


def test_search_without_text_lists_all(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    ids = [queue.push({"n": n}) for n in range(3)]

    assert [job.id for job in queue.search(None)] == list(reversed(ids))
    assert [job.id for job in queue.search("")] == list(reversed(ids))


def test_bad_cursor_rejected(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    queue.push({"n": 1})

    with pytest.raises(ValueError, match="cursor"):
        queue.jobs("pending", cursor="not-a-cursor")


@pytest.mark.parametrize("limit", [0, -1, 1001, 2.5, True])
def test_bad_page_limit_rejected(queue_factory: QueueFactory, limit: object) -> None:
    queue = queue_factory()

    with pytest.raises(ValueError, match="limit"):
        queue.jobs("pending", limit=limit)  # type: ignore[arg-type]
