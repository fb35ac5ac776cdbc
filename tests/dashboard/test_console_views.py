"""HTML views: whole pages for browsers, partials for htmx, same data in both."""

from __future__ import annotations

import html as html_lib
import re
import time

from console_helpers import HTMX, job_ids, next_link, push_dead

from queue_core import WorkerRecord


def test_overview_page_lists_topics_with_counts(client, make_queue):
    emails = make_queue("emails")
    emails.push({"to": "a@example.com"})
    emails.push({"to": "b@example.com"})
    push_dead(make_queue("reports"), 3)

    response = client.get("/")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert html.startswith("<!doctype html>")
    assert 'data-topic="emails"' in html
    assert re.search(r'data-status="pending" data-count="2"', html)
    assert re.search(r'data-status="dead" data-count="3"', html)
    assert 'data-total="dead">3<' in html


def test_overview_fragment_for_htmx(client, make_queue):
    make_queue("emails").push({"to": "a@example.com"})

    response = client.get("/", headers=HTMX)
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "<html" not in html
    assert '<table class="grid overview">' in html
    assert 'data-topic="emails"' in html
    assert "HX-Request" in response.headers["Vary"]


def test_overview_without_topics(client):
    html = client.get("/").get_data(as_text=True)

    assert "No topics yet" in html


def test_overview_highlights_dead_letters_over_threshold(client, make_queue):
    push_dead(make_queue("many"), 11)
    push_dead(make_queue("few"), 10)

    html = client.get("/", headers=HTMX).get_data(as_text=True)

    assert re.search(r'data-topic="many" class="alert-dead', html)
    assert re.search(r'data-topic="few" class=" "', html)


def test_overview_highlights_pending_without_worker(client, make_queue):
    make_queue("idle").push({"n": 1})

    html = client.get("/", headers=HTMX).get_data(as_text=True)

    assert "alert-idle" in html
    assert "no live worker" in html


def test_topic_page_and_fragment_show_same_rows(client, make_queue):
    queue = make_queue("emails")
    ids = [queue.push({"n": n}) for n in range(5)]

    page = client.get("/topics/emails?status=pending").get_data(as_text=True)
    fragment = client.get("/topics/emails?status=pending", headers=HTMX)
    fragment_html = fragment.get_data(as_text=True)

    assert "<html" in page
    assert "<html" not in fragment_html
    assert '<div id="job-list"' in fragment_html[:200]
    assert job_ids(page) == list(reversed(ids))
    assert job_ids(fragment_html) == list(reversed(ids))


def test_paging_53_dead_letters_yields_each_once(client, make_queue):
    ids = push_dead(make_queue("bulk"), 53)

    seen: list[str] = []
    pages = 0
    url: str | None = "/topics/bulk?status=dead&limit=20"
    while url is not None:
        html = client.get(url, headers=HTMX).get_data(as_text=True)
        seen.extend(job_ids(html))
        url = next_link(html)
        pages += 1

    assert pages == 3
    assert len(seen) == 53
    assert sorted(seen) == sorted(ids)
    assert seen == list(reversed(ids))


def test_tab_counts_equal_rows_behind_them(client, make_queue):
    queue = make_queue("mixed")
    for n in range(7):
        queue.push({"n": n})
    push_dead(make_queue("mixed"), 4)
    done = queue.pop()
    assert done is not None
    assert done.complete()

    html = client.get("/topics/mixed").get_data(as_text=True)
    counts = dict(
        re.findall(
            r'data-status="(\w+)"[^>]*>\s*\w+ <span class="count" '
            r'data-count="(\d+)"',
            html,
        )
    )

    for status, count in counts.items():
        rows = job_ids(
            client.get(
                f"/topics/mixed?status={status}&limit=100", headers=HTMX
            ).get_data(as_text=True)
        )
        assert len(rows) == int(count), status
    assert counts == {
        "pending": "6",
        "reserved": "0",
        "completed": "1",
        "failed": "0",
        "dead": "4",
    }


def test_error_group_counts_equal_rows(client, make_queue):
    queue = make_queue("grouped")
    push_dead(queue, 6, "TimeoutError: no reply from 10.0.0.7:25 after 30 s")
    push_dead(queue, 2, "KeyError: 'user_id'")

    html = client.get("/topics/grouped/errors").get_data(as_text=True)
    groups = re.findall(
        r'<tr data-signature="([^"]+)">.*?data-count="(\d+)"', html, re.S
    )

    assert [int(count) for _, count in groups] == [6, 2]
    for signature, count in groups:
        rows = job_ids(
            client.get(
                "/topics/grouped",
                query_string={
                    "status": "dead",
                    "signature": html_lib.unescape(signature),
                    "limit": 100,
                },
                headers=HTMX,
            ).get_data(as_text=True)
        )
        assert len(rows) == int(count), signature


def test_error_groups_fragment(client, make_queue):
    push_dead(make_queue("grouped"), 2)

    html = client.get("/topics/grouped/errors", headers=HTMX).get_data(as_text=True)

    assert "<html" not in html
    assert 'id="error-groups"' in html
    assert "TimeoutError: after &lt;n&gt; s" in html


def test_search_finds_payload_and_error_text(client, make_queue):
    queue = make_queue("search")
    queue.push({"customer": "acme-corp"})
    queue.push({"customer": "globex"})

    html = client.get("/topics/search?q=ACME", headers=HTMX).get_data(as_text=True)

    assert len(job_ids(html)) == 1
    assert "acme-corp" in html


def test_large_payload_page_stays_small(client, make_queue):
    queue = make_queue("big")
    for n in range(50):
        queue.push({"n": n, "body": "small"})
    queue.push({"blob": "x" * (5 * 1024 * 1024)})

    page = client.get("/topics/big?limit=51")
    fragment = client.get("/topics/big?limit=51", headers=HTMX)

    assert len(job_ids(page.get_data(as_text=True))) == 51
    assert len(page.data) < 200 * 1024
    assert len(fragment.data) < 200 * 1024


def test_job_page_shows_fields_in_utc(client, make_queue):
    queue = make_queue("jobs")
    [job_id] = push_dead(queue, 1, "ValueError: bad input 42")

    html = client.get(f"/topics/jobs/jobs/{job_id}").get_data(as_text=True)

    assert job_id in html
    assert 'data-status="dead"' in html
    assert "ValueError: bad input 42" in html
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", html)
    assert "ago" in html
    assert "ran before: 1 failed attempt so far" in html


def test_job_page_first_run_is_no_retry(client, make_queue):
    job_id = make_queue("fresh").push({"n": 1})

    html = client.get(f"/topics/fresh/jobs/{job_id}").get_data(as_text=True)

    assert "no, this is its first run" in html


def test_job_page_cuts_huge_payload(client, make_queue):
    job_id = make_queue("big").push({"blob": "y" * (2 * 1024 * 1024)})

    response = client.get(f"/topics/big/jobs/{job_id}")

    assert response.status_code == 200
    assert len(response.data) < 100 * 1024
    assert "the JSON API returns all of it" in response.get_data(as_text=True)


def test_missing_job_is_404(client, make_queue):
    make_queue("jobs").push({"n": 1})

    response = client.get("/topics/jobs/jobs/0123456789abcdef")

    assert response.status_code == 404
    assert "No job" in response.get_data(as_text=True)


def test_invalid_topic_is_404(client):
    response = client.get("/topics/bad%20name")

    assert response.status_code == 404
    assert "invalid topic" in response.get_data(as_text=True)


def test_invalid_status_is_400(client):
    response = client.get("/topics/emails?status=lost")

    assert response.status_code == 400
    assert "unknown job status" in response.get_data(as_text=True)


def test_error_fragment_is_plain_text(client):
    response = client.get("/topics/emails?status=lost", headers=HTMX)

    assert response.status_code == 400
    assert response.mimetype == "text/plain"


def test_assets_are_served(client):
    css = client.get("/static/console.css")
    script = client.get("/static/console.js")
    htmx = client.get("/vendor/htmx.min.js")

    assert css.status_code == 200
    assert script.status_code == 200
    assert htmx.status_code == 200
    assert b"htmx" in htmx.data[:200]
    assert len(htmx.data) > 10_000


def test_overview_counts_live_workers(client, make_queue, backend):
    make_queue("emails").push({"n": 1})
    now = time.time()
    backend.record_heartbeat(
        WorkerRecord("w1", "emails", "host-a", 4242, now - 60, now, None, 5, 1)
    )
    backend.record_heartbeat(
        WorkerRecord("w2", "emails", "host-b", 4243, now - 600, now - 300, None, 0, 0)
    )

    html = client.get("/", headers=HTMX).get_data(as_text=True)

    assert 'data-workers="1"' in html
    assert "alert-idle" not in html
    assert "host-a" in html
    assert "host-b" not in html


def test_error_groups_page_lists_largest_100(client, make_queue):
    queue = make_queue("ids")
    push_dead(queue, 3, "TimeoutError: after 5 s")
    for n in range(104):
        # Letters, not digits: digits are normalised into one signature.
        key = chr(97 + n // 26) + chr(97 + n % 26)
        push_dead(queue, 1, f"KeyError: 'user_{key}'")

    html = client.get("/topics/ids/errors", headers=HTMX).get_data(as_text=True)

    assert html.count("<tr data-signature=") == 100
    assert "107 jobs in 105 error groups" in html
    assert "the other 5 groups hold 5 jobs" in html
    assert 'data-signature="TimeoutError: after &lt;n&gt; s"' in html
