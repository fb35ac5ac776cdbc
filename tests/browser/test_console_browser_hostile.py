"""Hostile text in Chromium: nothing runs, nothing is fetched, the layout holds.

A tripwire global (``window.__xss``), dialog and console listeners and a
``securitypolicyviolation`` listener watch every page. An injected script
would set the global, open a dialog, or be blocked by the CSP, which logs a
console error and fires the event.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from conftest import serve
from playwright.sync_api import Page, expect

from dashboard import ConsoleSettings, console_state, create_app
from queue_core import Queue, Settings
from queue_core.backends import Backend
from tests.hostile_text import (
    HOSTILE_TEXTS,
    LONG_WORD,
    RTL_WORDS,
    SCRIPT_TAG,
    fail_once,
    seed_hostile,
)

pytestmark = pytest.mark.browser

TOPIC = "hostile"
# Pixels a page may be wider than the viewport, for scroll bars and rounding.
OVERFLOW_TOLERANCE = 2
TRIPWIRE = """
window.__xss = undefined;
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


class Watch:
    """What a page did that hostile text could cause."""

    def __init__(self, page: Page, origin: str) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.console_errors: list[str] = []
        self.foreign_requests: list[str] = []
        page.add_init_script(TRIPWIRE)
        page.on("dialog", self._dialog)
        page.on("console", self._console)
        page.on("request", lambda request: self._request(request.url, origin))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message: Any) -> None:
        # Chromium logs each 4xx page and htmx each 4xx reply; the tests ask
        # for those, so only other errors count.
        expected = ("status of 4", "Response Status Error Code 4")
        if (
            message.type == "error"
            and not message.text.startswith(expected[1])
            and (expected[0] not in message.text)
        ):
            self.console_errors.append(message.text)

    def _request(self, url: str, origin: str) -> None:
        parts = urlsplit(url)
        if parts.scheme == "data":
            return
        if f"{parts.scheme}://{parts.netloc}" != origin or parts.path == "/x":
            self.foreign_requests.append(url)

    def check(self, where: str) -> None:
        """Assert that nothing ran and the page is no wider than the viewport."""
        state = self.page.evaluate(
            """() => ({
              xss: window.__xss === undefined ? null : String(window.__xss),
              csp: window.__cspViolations,
              overflow: document.documentElement.scrollWidth - window.innerWidth,
              injected: document.querySelectorAll(
                "img, iframe, object, embed, textarea:not(#edit-payload),"
                + " main script, [onerror],"
                + " [onload], [onmouseover], :not(svg *)[x],"
                + " [hx-on\\\\:\\\\:load]").length,
              scripts: document.scripts.length,
            })"""
        )
        assert state["xss"] is None, where
        assert state["csp"] == [], where
        assert state["injected"] == 0, where
        assert state["scripts"] == 2, where
        assert state["overflow"] <= OVERFLOW_TOLERANCE, where
        assert self.dialogs == [], where
        assert self.console_errors == [], where
        assert self.foreign_requests == [], where


@pytest.fixture
def hostile_app(queue_settings: Settings, backend: Backend):  # type: ignore[no-untyped-def]
    settings = ConsoleSettings(
        secret_key="browser hostile", refresh_seconds=2, sample_seconds=0
    )
    return create_app(settings, queue_settings, backend)


@pytest.fixture
def hostile_url(hostile_app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    yield from serve(hostile_app)


@pytest.fixture
def dead_ids(hostile_app, make_queue, backend) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Seed the hostile jobs, with history samples so the overview has sparklines."""
    sampler = console_state(hostile_app).sampler
    minute = math.floor(time.time() / 60) * 60 - 60
    assert sampler.sample(now=minute - 120)
    ids = seed_hostile(make_queue(TOPIC), backend)
    assert sampler.sample(now=minute)
    return ids


def test_pages_inert_and_within_viewport(page: Page, hostile_url, dead_ids, screenshot):
    watch = Watch(page, hostile_url)
    job_pages = [f"/topics/{TOPIC}/jobs/{job_id}" for job_id in dead_ids.values()]
    long_query = quote(LONG_WORD[:1000])
    pages = [
        "/",
        f"/topics/{TOPIC}",
        f"/topics/{TOPIC}/errors",
        f"/topics/{TOPIC}/charts",
        "/charts",
        f"/topics/{TOPIC}?status=dead&q={quote(SCRIPT_TAG)}",
        f"/topics/{TOPIC}?status=dead&q={long_query}",
        f"/topics/{TOPIC}/bulk?action=purge&status=dead&q={long_query}",
        f"/topics/{TOPIC}/jobs/{quote(LONG_WORD + SCRIPT_TAG, safe='')}",
        f"/topics/{TOPIC}?status={quote(LONG_WORD + SCRIPT_TAG)}",
        f"/topics/{quote(SCRIPT_TAG, safe='')}",
        *job_pages,
    ]

    for url in pages:
        page.goto(hostile_url + url)
        watch.check(url[:100])

    page.goto(f"{hostile_url}/")
    expect(
        page.locator(f'tr[data-topic="{TOPIC}"] svg.pygal-sparkline')
    ).to_be_visible()
    expect(page.locator("table.workers tbody tr")).to_have_count(1)
    watch.check("overview with sparklines")


def test_topic_rows_keep_their_columns(page: Page, hostile_url, dead_ids, screenshot):
    watch = Watch(page, hostile_url)
    page.goto(f"{hostile_url}/topics/{TOPIC}?status=dead")

    rows = page.locator("table.jobs tbody tr")
    expect(rows).to_have_count(len(HOSTILE_TEXTS) + 1)
    headings = page.locator("table.jobs thead th").count()
    cells = page.evaluate(
        """() => [...document.querySelectorAll("table.jobs tbody tr")].map(
             (row) => row.children.length)"""
    )
    assert cells == [headings] * (len(HOSTILE_TEXTS) + 1)
    rtl_row = page.locator(f'tr[data-job-id="{dead_ids["rtl"]}"]')
    lefts = [
        box["x"]
        for box in (cell.bounding_box() for cell in rtl_row.locator("td").all())
        if box is not None
    ]
    assert lefts == sorted(lefts)
    assert (
        rtl_row.locator("td.error").evaluate(
            "(cell) => getComputedStyle(cell).unicodeBidi"
        )
        == "isolate"
    )
    expect(rtl_row.locator("td.error")).to_contain_text(RTL_WORDS)
    bidi_row = page.locator(f'tr[data-job-id="{dead_ids["bidi"]}"]')
    expect(bidi_row.locator("td.error .ctrl").first).to_have_text("\\u202e")
    widths = page.evaluate(
        """() => [...document.querySelectorAll("td.error, code.preview")].map(
             (cell) => cell.getBoundingClientRect().width)"""
    )
    assert max(widths) < page.viewport_size["width"]  # type: ignore[index]
    watch.check("dead tab")
    screenshot("hostile-topic")


def test_htmx_fragments_inert(page: Page, hostile_url, dead_ids, make_queue):
    watch = Watch(page, hostile_url)
    queue: Queue = make_queue(TOPIC)
    fail_once(queue, {"n": "nul"}, "NulError: a\x00b\rc")
    page.goto(f"{hostile_url}/topics/{TOPIC}?status=dead")

    page.locator('input[name="q"]').fill(SCRIPT_TAG)
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".filter code")).to_have_text(SCRIPT_TAG)
    expect(page.locator("table.jobs tbody tr")).to_have_count(1)
    watch.check("search fragment")

    page.locator('input[name="q"]').fill(LONG_WORD[:1001])
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#flash")).to_contain_text("use at most 1,000")
    watch.check("search error message")

    page.goto(f"{hostile_url}/topics/{TOPIC}/errors")
    group = page.locator("tr", has_text="NulError")
    group.get_by_role("link", name="Retry group…").click()
    expect(page.locator(".bulk-preview")).to_have_attribute("data-count", "1")
    watch.check("group preview")
    page.locator(".bulk-preview button.primary[type=submit]").click()
    expect(page.locator(".bulk-result")).to_have_attribute("data-moved", "1")
    watch.check("group result")

    page.get_by_role("link", name="Purge group…").first.click()
    expect(page.locator(".bulk-preview")).to_be_visible()
    watch.check("second group preview")
