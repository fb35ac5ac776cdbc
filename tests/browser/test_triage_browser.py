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
