"""History charts in Chromium: a burst of jobs shows up in the topic's charts."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest
from browser_helpers import serve
from playwright.sync_api import Page, expect

from dashboard import ConsoleSettings, console_state, create_app
from queue_core import Queue, Settings
from queue_core.backends import Backend

pytestmark = pytest.mark.browser


@pytest.fixture
def charts_app(queue_settings: Settings, backend: Backend):  # type: ignore[no-untyped-def]
    settings = ConsoleSettings(secret_key="browser charts", sample_seconds=0)
    return create_app(settings, queue_settings, backend)


@pytest.fixture
def charts_url(charts_app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    yield from serve(charts_app)


def burst(queue: Queue, pushed: int, completed: int, failed: int) -> None:
    for n in range(pushed):
        queue.push({"n": n})
    for _ in range(completed):
        job = queue.pop()
        assert job is not None
        assert job.complete()
    for _ in range(failed):
        job = queue.pop()
        assert job is not None
        assert job.fail("ValueError: bad input")


def test_topic_chart_shows_burst(
    page: Page, charts_app, charts_url, make_queue, screenshot
):
    # Samples every 10 s for the five minutes before the last whole minute,
    # then a burst of 9 pushed jobs, 5 completed and 2 failed, sampled in
    # that minute; 3 jobs stay pending, with the one pushed before.
    sampler = console_state(charts_app).sampler
    minute = math.floor(time.time() / 60) * 60 - 60
    label = time.strftime("%H:%M UTC", time.gmtime(minute))
    emails = make_queue("emails")
    emails.push({"n": "before"})
    make_queue("reports").push({"n": 0})
    for seconds in range(300, -10, -10):
        assert sampler.sample(now=minute - seconds)
    burst(emails, pushed=9, completed=5, failed=2)
    assert sampler.sample(now=minute + 10)
    errors: list[str] = []

    def on_console(message) -> None:  # type: ignore[no-untyped-def]
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)

    page.goto(charts_url + "/topics/emails")

    rates = page.locator('figure[data-chart="rates"] svg')
    expect(rates.locator("title", has_text=f"pushed at {label}:")).to_have_text(
        f"pushed at {label}: 9 jobs/min"
    )
    expect(rates.locator("title", has_text=f"completed at {label}:")).to_have_text(
        f"completed at {label}: 5 jobs/min"
    )
    expect(rates.locator("title", has_text=f"failed at {label}:")).to_have_text(
        f"failed at {label}: 2 jobs/min"
    )
    pending = page.locator('figure[data-chart="pending"] svg')
    expect(pending.locator("title", has_text=f"pending at {label}:")).to_have_text(
        f"pending at {label}: 3 jobs"
    )
    # One dot per sampled minute and series: six minutes, three series.
    expect(rates.locator("g.dots")).to_have_count(18)

    page.locator('a[data-range="day"]').click()
    expect(page.locator('a[data-range="day"]')).to_have_attribute(
        "aria-current", "true"
    )
    expect(rates.locator("title", has_text="pushed at")).to_have_count(
        len({(minute - seconds) // 600 for seconds in (300, 0)})
    )

    page.goto(charts_url + "/")
    row = page.locator('tr[data-topic="emails"] svg.pygal-sparkline title')
    expect(row).to_have_text("Last 60 minutes: 9 pushed, 5 completed, 2 failed")
    screenshot("overview-sparklines")
    page.goto(charts_url + "/topics/emails")
    screenshot("topic-charts")
    assert errors == []
