"""The console in Chromium: empty selections, deleting from the job page, controls."""

from __future__ import annotations

import pytest
from browser_helpers import push_dead
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_purge_selected_with_nothing_checked(page: Page, console_url, make_queue):
    queue = make_queue("emails")
    push_dead(queue, 3)
    page.goto(console_url + "/topics/emails?status=dead")

    page.get_by_role("button", name="Purge selected…").click()

    expect(page.locator("#flash")).to_contain_text("select at least one job")
    expect(page.locator("#bulk-panel")).not_to_contain_text("Confirm")
    assert queue.counts()["dead"] == 3


def test_delete_from_job_page_lands_on_topic(page: Page, console_url, make_queue):
    queue = make_queue("emails")
    [job_id, other] = push_dead(queue, 2)
    page.goto(f"{console_url}/topics/emails/jobs/{job_id}")

    page.get_by_role("button", name="Delete").click()

    expect(page.locator("#result")).to_have_text(f"Job {job_id} deleted.")
    expect(page.locator("h1")).to_have_text("emails")
    expect(page.locator(f'tr[data-job-id="{other}"]')).to_be_visible()
    assert queue.get(job_id) is None


def test_bidi_override_shown_not_applied(page: Page, console_url, make_queue):
    queue = make_queue("emails")
    [job_id] = push_dead(queue, 1, error="rtl \u202eevil\u202c gpj.exe")
    page.goto(f"{console_url}/topics/emails/jobs/{job_id}")

    error = page.locator("pre.error-text")

    expect(error).to_have_text("rtl \\u202eevil\\u202c gpj.exe")
    expect(error.locator(".ctrl").first).to_have_attribute(
        "title", "U+202E RIGHT-TO-LEFT OVERRIDE"
    )
