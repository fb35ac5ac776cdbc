"""The console in Chromium: live counts, one-click retry, bulk purge, XSS, CSRF."""

from __future__ import annotations

import re

import pytest
from browser_helpers import push_dead
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)>"


def watch_page(page: Page) -> tuple[list[str], list[str]]:
    """Collect dialogs (dismissed) and console errors of *page*."""
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog) -> None:  # type: ignore[no-untyped-def]
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if message.type == "error" else None
        ),
    )
    return dialogs, errors


def tab_count(page: Page, status: str):  # type: ignore[no-untyped-def]
    return page.locator(f'#topic-counts a[data-status="{status}"] .count')


def test_overview_shows_counts(page: Page, console_url, make_queue, screenshot):
    emails = make_queue("emails")
    for n in range(3):
        emails.push({"n": n})
    push_dead(make_queue("reports"), 12)
    _, errors = watch_page(page)

    page.goto(console_url + "/")

    emails_row = page.locator('tr[data-topic="emails"]')
    reports_row = page.locator('tr[data-topic="reports"]')
    expect(emails_row.locator('td[data-status="pending"]')).to_have_text("3")
    expect(reports_row.locator('td[data-status="dead"]')).to_have_text("12")
    expect(reports_row.locator(".badge.danger")).to_have_text("dead letters")
    expect(emails_row.locator(".badge.warn")).to_have_text("no live worker")
    screenshot("overview")

    emails.push({"n": 99})
    expect(emails_row.locator('td[data-status="pending"]')).to_have_text(
        "4", timeout=6000
    )
    assert errors == []


def test_overview_polling_pauses(page: Page, console_url, make_queue):
    emails = make_queue("emails")
    emails.push({"n": 1})
    page.goto(console_url + "/")

    page.get_by_role("button", name="Pause refresh").click()
    emails.push({"n": 2})
    page.wait_for_timeout(2500)

    cell = page.locator('tr[data-topic="emails"] td[data-status="pending"]')
    expect(cell).to_have_text("1")
    page.get_by_role("button", name="Resume refresh").click()
    expect(cell).to_have_text("2", timeout=6000)


def test_retry_dead_letter_with_one_click(
    page: Page, console_url, make_queue, screenshot
):
    queue = make_queue("emails")
    ids = push_dead(queue, 3)
    page.goto(console_url + "/topics/emails?status=dead")
    screenshot("topic-dead")
    page.evaluate("window.loadedOnce = true")

    row = page.locator(f'tr[data-job-id="{ids[-1]}"]')
    row.get_by_role("button", name="Retry").click()

    expect(row).to_contain_text("moved to pending")
    expect(tab_count(page, "dead")).to_have_text("2")
    expect(tab_count(page, "pending")).to_have_text("1")
    assert page.evaluate("window.loadedOnce") is True
    assert queue.counts()["dead"] == 2


def test_bulk_purge_with_preview_and_confirmation(
    page: Page, console_url, make_queue, screenshot
):
    queue = make_queue("emails")
    push_dead(queue, 5)
    queue.push({"keep": True})
    page.goto(console_url + "/topics/emails?status=dead")

    page.get_by_role("link", name="Purge all dead…").click()

    preview = page.locator(".bulk-preview")
    expect(preview).to_contain_text("Purge 5 jobs?")
    expect(preview).to_contain_text("every dead job of topic 'emails'")
    expect(preview.locator("table.sample tr")).to_have_count(5)
    assert queue.counts()["dead"] == 5
    screenshot("bulk-preview")

    preview.get_by_role("button", name="Confirm: purge 5 jobs").click()

    expect(page.locator(".bulk-result")).to_contain_text("Purged 5 jobs")
    expect(tab_count(page, "dead")).to_have_text("0")
    expect(page.locator("#job-list")).to_contain_text("No dead jobs")
    assert queue.counts() == {
        "pending": 1,
        "reserved": 0,
        "completed": 0,
        "failed": 0,
        "dead": 0,
    }


def test_retry_selected_jobs(page: Page, console_url, make_queue):
    queue = make_queue("emails")
    ids = push_dead(queue, 4)
    page.goto(console_url + "/topics/emails?status=dead")

    for job_id in ids[:2]:
        page.locator(f'tr[data-job-id="{job_id}"] input[type="checkbox"]').check()
    page.get_by_role("button", name="Retry selected…").click()
    expect(page.locator(".bulk-preview")).to_contain_text("Retry 2 jobs?")
    page.get_by_role("button", name="Confirm: retry 2 jobs").click()

    expect(page.locator(".bulk-result")).to_contain_text("Retried 2 jobs")
    expect(tab_count(page, "dead")).to_have_text("2")
    assert queue.counts()["pending"] == 2


def test_error_groups_page(page: Page, console_url, make_queue, screenshot):
    queue = make_queue("emails")
    push_dead(queue, 6, "TimeoutError: no reply from 10.0.0.7:25 after 30 s")
    push_dead(queue, 2, "KeyError: 'user_id'")

    page.goto(console_url + "/topics/emails/errors")

    rows = page.locator("table.groups tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first.locator("td.num")).to_have_text("6")
    screenshot("error-groups")

    rows.first.get_by_role("link", name="Retry group…").click()
    page.get_by_role("button", name="Confirm: retry 6 jobs").click()
    expect(page.locator(".bulk-result")).to_contain_text("Retried 6 jobs")
    expect(rows).to_have_count(1)


def test_job_page(page: Page, console_url, make_queue, screenshot):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1, "ValueError: template 'welcome' not found")

    page.goto(f"{console_url}/topics/emails/jobs/{job_id}")

    expect(page.locator("h1")).to_have_text(job_id)
    expect(page.locator(".badge[data-status]")).to_have_text("dead")
    expect(page.locator("pre.error-text")).to_contain_text("template 'welcome'")
    screenshot("job")


def test_xss_payload_is_inert(page: Page, console_url, make_queue):
    queue = make_queue("xss")
    queue.push({"html": XSS, "script": "<script>alert(2)</script>"})
    [job_id] = push_dead(queue, 1, f"ValueError: {XSS}")
    dialogs, _ = watch_page(page)

    for path in (
        "/",
        "/topics/xss?status=pending",
        "/topics/xss?status=dead",
        "/topics/xss/errors",
        f"/topics/xss/jobs/{job_id}",
        "/topics/xss?q=" + "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
    ):
        page.goto(console_url + path)
        page.wait_for_load_state("networkidle")
        assert page.locator("img").count() == 0, path

    page.goto(console_url + "/topics/xss?status=dead")
    page.get_by_role("link", name="Retry all dead…").click()
    expect(page.locator(".bulk-preview")).to_contain_text("Retry 1 job?")
    expect(page.locator(".bulk-preview")).to_contain_text(XSS)
    page.wait_for_timeout(300)
    assert page.locator("img").count() == 0
    assert dialogs == []


def test_post_without_csrf_token_is_rejected(page: Page, console_url, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    page.goto(console_url + "/topics/emails?status=dead")

    status = page.evaluate(
        "url => fetch(url, {method: 'POST'}).then(response => response.status)",
        f"{console_url}/topics/emails/jobs/{job_id}/retry",
    )

    assert status == 400
    assert queue.counts()["dead"] == 1

    page.evaluate(
        "document.querySelector('meta[name=csrf-token]').setAttribute('content', '')"
    )
    page.evaluate(
        "document.querySelectorAll('input[name=csrf_token]')"
        ".forEach(input => input.remove())"
    )
    page.locator(f'tr[data-job-id="{job_id}"]').get_by_role(
        "button", name="Retry"
    ).click()

    expect(page.locator("#flash")).to_contain_text(re.compile("CSRF token"))
    assert queue.counts()["dead"] == 1


def test_console_mounted_in_host_app(page: Page, host_url, make_queue, screenshot):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1)
    _, errors = watch_page(page)

    page.goto(host_url + "/admin/queues/")
    expect(page.locator('tr[data-topic="emails"] td[data-status="dead"]')).to_have_text(
        "1"
    )
    page.locator('tr[data-topic="emails"] td[data-status="dead"] a').click()

    assert page.url == f"{host_url}/admin/queues/topics/emails?status=dead"
    page.locator(f'tr[data-job-id="{job_id}"]').get_by_role(
        "button", name="Retry"
    ).click()
    expect(tab_count(page, "pending")).to_have_text("1")
    screenshot("embedded-topic")
    assert queue.counts()["pending"] == 1
    assert errors == []
