"""Retry and purge from the HTML console: one job, selected jobs, whole groups."""

from __future__ import annotations

import re

from console_helpers import HTMX, page_csrf_token, push_dead


def test_retry_one_with_htmx_returns_row_and_trigger(client, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    token = page_csrf_token(client)

    response = client.post(
        f"/topics/emails/jobs/{job_id}/retry",
        headers={**HTMX, "X-CSRFToken": token},
    )
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert f'<tr id="job-{job_id}" class="row-result"' in html
    assert "moved to pending" in html
    assert response.headers["HX-Trigger"] == "counts-changed"
    assert queue.counts()["dead"] == 0
    assert queue.counts()["pending"] == 1


def test_retry_one_without_htmx_redirects_to_job(client, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    token = page_csrf_token(client)

    response = client.post(
        f"/topics/emails/jobs/{job_id}/retry", data={"csrf_token": token}
    )

    assert response.status_code == 303
    assert response.headers["Location"] == f"/topics/emails/jobs/{job_id}"
    assert queue.counts()["pending"] == 1


def test_retry_pending_job_changes_nothing(client, make_queue):
    queue = make_queue("emails")
    job_id = queue.push({"n": 1})
    token = page_csrf_token(client)

    response = client.post(
        f"/topics/emails/jobs/{job_id}/retry",
        headers={**HTMX, "X-CSRFToken": token},
    )

    assert "was not failed or dead" in response.get_data(as_text=True)
    assert queue.counts()["pending"] == 1


def test_retry_missing_job_is_404(client, make_queue):
    make_queue("emails").push({"n": 1})
    token = page_csrf_token(client)

    response = client.post(
        "/topics/emails/jobs/0123456789abcdef/retry",
        headers={**HTMX, "X-CSRFToken": token},
    )

    assert response.status_code == 404


def test_delete_one(client, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    token = page_csrf_token(client)

    response = client.post(
        f"/topics/emails/jobs/{job_id}/delete",
        headers={**HTMX, "X-CSRFToken": token},
    )

    assert "deleted" in response.get_data(as_text=True)
    assert queue.get(job_id) is None


def test_bulk_preview_counts_and_changes_nothing(client, make_queue):
    queue = make_queue("emails")
    push_dead(queue, 7)

    response = client.get("/topics/emails/bulk?action=purge&status=dead", headers=HTMX)
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert 'data-count="7"' in html
    assert "Purge 7 jobs?" in html
    assert "every dead job of topic &#39;emails&#39;" in html
    assert len(re.findall(r'<a class="mono" href="/topics/emails/jobs/', html)) == 5
    assert 'name="expected" value="7"' in html
    assert queue.counts()["dead"] == 7


def test_bulk_preview_page_without_htmx(client, make_queue):
    push_dead(make_queue("emails"), 2)

    html = client.get("/topics/emails/bulk?action=retry&status=dead").get_data(
        as_text=True
    )

    assert "<html" in html
    assert "Retry 2 jobs?" in html


def test_bulk_preview_of_nothing_has_no_confirm(client, make_queue):
    make_queue("emails").push({"n": 1})

    html = client.get(
        "/topics/emails/bulk?action=retry&status=dead", headers=HTMX
    ).get_data(as_text=True)

    assert 'data-count="0"' in html
    assert "Confirm" not in html


def test_bulk_purge_reports_moved_and_triggers_refresh(client, make_queue):
    queue = make_queue("emails")
    push_dead(queue, 7)
    queue.push({"keep": True})
    token = page_csrf_token(client)

    response = client.post(
        "/topics/emails/bulk",
        data={"action": "purge", "status": "dead", "expected": "7"},
        headers={**HTMX, "X-CSRFToken": token},
    )
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert 'data-moved="7"' in html
    assert "Purged 7 jobs" in html
    assert "changed between" not in html
    assert response.headers["HX-Trigger"] == "counts-changed, rows-changed"
    assert queue.counts()["dead"] == 0
    assert queue.counts()["pending"] == 1


def test_bulk_result_notes_count_change(client, make_queue):
    push_dead(make_queue("emails"), 3)
    token = page_csrf_token(client)

    html = client.post(
        "/topics/emails/bulk",
        data={"action": "retry", "status": "dead", "expected": "5"},
        headers={**HTMX, "X-CSRFToken": token},
    ).get_data(as_text=True)

    assert "Retried 3 jobs" in html
    assert "The preview counted 5" in html


def test_bulk_retry_one_error_group(client, make_queue):
    queue = make_queue("emails")
    push_dead(queue, 4, "TimeoutError: no reply after 30 s")
    push_dead(queue, 2, "KeyError: 'user'")
    token = page_csrf_token(client)
    signature = "TimeoutError: no reply after <n> s"

    preview = client.get(
        "/topics/emails/bulk",
        query_string={"action": "retry", "status": "dead", "signature": signature},
        headers=HTMX,
    ).get_data(as_text=True)
    result = client.post(
        "/topics/emails/bulk",
        data={"action": "retry", "status": "dead", "signature": signature},
        headers={**HTMX, "X-CSRFToken": token},
    ).get_data(as_text=True)

    assert 'data-count="4"' in preview
    assert 'data-moved="4"' in result
    assert queue.counts()["dead"] == 2
    assert queue.counts()["pending"] == 4


def test_bulk_selected_jobs_only(client, make_queue):
    queue = make_queue("emails")
    ids = push_dead(queue, 5)
    token = page_csrf_token(client)
    chosen = ids[:2]

    preview = client.get(
        "/topics/emails/bulk",
        query_string=[("action", "purge"), ("status", "dead")]
        + [("ids", job_id) for job_id in chosen],
        headers=HTMX,
    ).get_data(as_text=True)
    result = client.post(
        "/topics/emails/bulk",
        data={"action": "purge", "status": "dead", "ids": chosen},
        headers={**HTMX, "X-CSRFToken": token},
    ).get_data(as_text=True)

    assert 'data-count="2"' in preview
    assert "2 of 2 selected jobs of topic &#39;emails&#39; are dead" in preview
    assert 'data-moved="2"' in result
    assert [queue.get(job_id) for job_id in chosen] == [None, None]
    assert queue.counts()["dead"] == 3


def test_bulk_selected_skips_jobs_in_other_status(client, make_queue):
    queue = make_queue("emails")
    [dead] = push_dead(queue, 1)
    pending = queue.push({"n": 2})
    token = page_csrf_token(client)

    html = client.post(
        "/topics/emails/bulk",
        data={"action": "purge", "status": "dead", "ids": [dead, pending]},
        headers={**HTMX, "X-CSRFToken": token},
    ).get_data(as_text=True)

    assert 'data-moved="1"' in html
    assert queue.get(pending) is not None


def test_bulk_rejects_invalid_scope(client, make_queue):
    make_queue("emails").push({"n": 1})
    token = page_csrf_token(client)

    retry_pending = client.get("/topics/emails/bulk?action=retry&status=pending")
    purge_reserved = client.post(
        "/topics/emails/bulk",
        data={"action": "purge", "status": "reserved"},
        headers={"X-CSRFToken": token},
    )
    unknown = client.get("/topics/emails/bulk?action=explode&status=dead")

    assert retry_pending.status_code == 400
    assert purge_reserved.status_code == 400
    assert unknown.status_code == 400
    assert "cannot retry status &#39;pending&#39;" in retry_pending.get_data(
        as_text=True
    )


def test_bulk_run_without_htmx_renders_page(client, make_queue):
    push_dead(make_queue("emails"), 2)
    token = page_csrf_token(client)

    response = client.post(
        "/topics/emails/bulk",
        data={"action": "purge", "status": "dead", "csrf_token": token},
    )
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "<html" in html
    assert "Purged 2 jobs" in html
