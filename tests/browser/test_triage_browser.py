"""The triage tools in Chromium: audit log, lineage, payload edits, bulk runs."""

from __future__ import annotations

import pytest
from browser_helpers import push_dead
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_audit_log_shows_console_retry(
    page: Page, console_url, make_queue, doc_screenshot
):
    queue = make_queue("emails")
    ids = push_dead(queue, 3, "SMTPRecipientsRefused: bad@example.com")
    page.goto(console_url + "/topics/emails?status=dead")
    page.locator(f'tr[data-job-id="{ids[0]}"]').get_by_role(
        "button", name="Retry"
    ).click()
    expect(page.locator(f'tr[data-job-id="{ids[0]}"]')).to_contain_text(
        "moved to pending"
    )
    page.get_by_role("link", name="Purge all dead…").click()
    page.get_by_role("button", name="Confirm: purge 2 jobs").click()
    expect(page.locator(".bulk-result")).to_contain_text("Purged 2 jobs")

    page.get_by_role("link", name="Audit log").click()

    rows = page.locator("table.audit tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-action", "bulk-purge")
    expect(rows.nth(0).locator("[data-count]")).to_have_text("2")
    expect(rows.nth(1)).to_have_attribute("data-action", "retry")
    expect(rows.nth(1)).to_contain_text(ids[0])
    expect(rows.nth(1)).to_contain_text("anonymous (127.0.0.1)")
    doc_screenshot("triage-audit", "main")


def test_send_dead_letter_to_topic(page: Page, console_url, make_queue, doc_screenshot):
    queue = make_queue("emails")
    [old_id] = push_dead(queue, 1, "SMTPRecipientsRefused: 550 user unknown")
    page.goto(console_url + f"/topics/emails/jobs/{old_id}")
    page.get_by_role("button", name="Retry").click()
    expect(page.locator("#result")).to_contain_text("moved to pending")
    job = next(queue.consume(id=old_id, poll_interval=0))
    assert job.fail("SMTPRecipientsRefused: 550 mailbox full")
    page.reload()

    page.get_by_label("Send as a new job to topic").fill("emails-manual")
    page.get_by_role("button", name="Send").click()

    expect(page.locator("#result")).to_contain_text(f"Job {old_id} of topic 'emails'")
    expect(page.locator("#retry-of")).to_contain_text(old_id)
    expect(page.locator("#retry-of")).to_contain_text("of topic emails")
    rows = page.locator("table.attempts tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("550 user unknown")
    expect(rows.nth(1)).to_contain_text("550 mailbox full")
    new_id = page.locator("h1").inner_text()
    doc_screenshot("triage-lineage", ".job-layout")

    page.locator("#retry-of a").click()

    expect(page.locator("#sent-as")).to_contain_text(new_id)
    expect(page.locator("#sent-as")).to_contain_text("emails-manual")
    assert queue.counts()["dead"] == 0
    assert queue.counts("emails-manual")["pending"] == 1


def test_edit_payload_then_undo(page: Page, console_url, make_queue, doc_screenshot):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1, "SMTPRecipientsRefused: user0@example.com")
    page.goto(console_url + f"/topics/emails/jobs/{job_id}")

    page.locator("#edit-payload").fill(
        '{\n  "n": 0,\n  "email": "user0@example.org"\n}'
    )
    page.get_by_role("button", name="Preview changes…").click()

    diff = page.locator(".edit-preview .diff")
    expect(diff.locator(".removed")).to_contain_text('"email": "user0@example.com"')
    expect(diff.locator(".added")).to_contain_text('"email": "user0@example.org"')
    assert queue.get(job_id).payload["email"] == "user0@example.com"
    doc_screenshot("triage-edit", "main")
    page.get_by_role("button", name="Confirm: retry with this payload").click()

    expect(page.locator("#result")).to_contain_text("with the edited payload")
    expect(page.locator(".revisions li")).to_have_count(1)
    stored = queue.get(job_id)
    assert stored.payload["email"] == "user0@example.org"
    assert stored.status.value == "pending"

    job = next(queue.consume(id=job_id, poll_interval=0))
    assert job.fail("SMTPRecipientsRefused: user0@example.org")
    page.reload()
    page.get_by_role("button", name="Undo this edit…").click()
    expect(page.locator("h1")).to_contain_text("Undo edit")
    page.get_by_role("button", name="Confirm: retry with this payload").click()

    expect(page.locator(".revisions li")).to_have_count(2)
    assert queue.get(job_id).payload["email"] == "user0@example.com"


def test_bulk_retry_run_progress_and_controls(
    page: Page, console_url, make_queue, doc_screenshot
):
    queue = make_queue("emails")
    push_dead(queue, 6, "ConnectionError: smtp.example.com refused")
    page.goto(console_url + "/topics/emails?status=dead")
    page.get_by_role("link", name="Retry all dead…").click()

    page.get_by_label("Jobs per second").fill("2")
    page.get_by_label("after at least this many have settled").fill("3")
    page.get_by_role("button", name="Start a bulk retry run").click()

    panel = page.locator("#run")
    expect(panel).to_have_attribute("data-state", "running")
    expect(page.locator("#run-progress")).to_have_attribute("max", "6")
    expect(panel.locator("[data-done]")).not_to_have_text("0", timeout=10000)
    panel.get_by_role("button", name="Pause").click()
    expect(panel).to_have_attribute("data-state", "paused")
    paused_at = queue.counts()["dead"]
    doc_screenshot("triage-run", "#run")

    panel.get_by_role("button", name="Resume").click()
    expect(panel).to_have_attribute("data-state", "running")
    panel.get_by_role("button", name="Cancel run").click()

    expect(panel).to_have_attribute("data-state", "cancelled")
    expect(panel.get_by_role("button")).to_have_count(0)
    assert queue.counts()["dead"] <= paused_at
    page.get_by_role("link", name="Audit log").click()
    expect(page.locator('tr[data-action="run-cancel"]')).to_have_count(1)
    expect(page.locator('tr[data-action="run-pause"]')).to_have_count(1)
    expect(page.locator('tr[data-action="run-start"]')).to_have_count(1)
