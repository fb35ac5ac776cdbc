"""History charts on the overview and topic pages: values, CSP and markup."""

from __future__ import annotations

import math
import re
import time

from dashboard import charts, console_state
from dashboard.charts import rates_chart
from dashboard.history import HOUR, Point
from dashboard.security import CONTENT_SECURITY_POLICY
from queue_core.rates import TopicSnapshot

# The policy as documented in docs/console.md; charts must not loosen it.
DOCUMENTED_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def counts(pending: int, completed: int = 0, dead: int = 0) -> dict[str, int]:
    return {
        "pending": pending,
        "reserved": 0,
        "completed": completed,
        "failed": 0,
        "dead": dead,
    }


def record_last_minute(app, samples: list[dict[str, TopicSnapshot]]) -> str:
    """Record *samples* 10 s apart, all in the last whole minute.

    Returns that minute's chart label, such as ``14:05 UTC``.
    """
    store = console_state(app).history
    minute = math.floor(time.time() / 60) * 60 - 60
    for index, snapshot in enumerate(samples):
        at = minute + 10 * index
        assert store.claim(at)
        store.record(at, snapshot)
    return time.strftime("%H:%M UTC", time.gmtime(minute))


def titles(html: str) -> list[str]:
    return re.findall(r"<title>([^<]*)</title>", html)


def test_rates_chart_titles_hold_values():
    points = [Point(1_800_000_000 + 60 * n) for n in range(58)]
    points.append(Point(1_800_003_480, pushed=12, completed=7.5, failed=0))
    points.append(Point(1_800_003_540, pushed=None, completed=3, failed=2))

    svg = str(rates_chart(points, HOUR))

    found = titles(svg)
    assert "pushed at 08:58 UTC: 12 jobs/min" in found
    assert "completed at 08:58 UTC: 7.5 jobs/min" in found
    assert "failed at 08:59 UTC: 2 jobs/min" in found
    assert not any(title.startswith("pushed at 08:59") for title in found)


def test_chart_svg_has_no_script_or_style():
    points = [Point(1_800_000_000 + 60 * n, pushed=n) for n in range(60)]

    svg = str(rates_chart(points, HOUR))

    assert "<script" not in svg
    assert "<style" not in svg
    assert "style=" not in svg
    assert "<desc" not in svg


def test_topic_page_charts_show_counts(app, client):
    minute = record_last_minute(
        app,
        [
            {"emails": TopicSnapshot(counts(pending=0))},
            {"emails": TopicSnapshot(counts(pending=4, completed=3), 8.0)},
            {"emails": TopicSnapshot(counts(pending=2, completed=5, dead=1), 3.0)},
        ],
    )

    html = client.get("/topics/emails").get_data(as_text=True)

    found = titles(html)
    assert f"pushed at {minute}: 8 jobs/min" in found
    assert f"completed at {minute}: 5 jobs/min" in found
    assert f"failed at {minute}: 1 jobs/min" in found
    assert f"pending at {minute}: 4 jobs" in found
    assert f"oldest pending at {minute}: 8 s" in found


def test_day_range_averages_per_minute(app, client):
    record_last_minute(
        app,
        [
            {"emails": TopicSnapshot(counts(pending=0))},
            {"emails": TopicSnapshot(counts(pending=0, completed=20))},
        ],
    )

    html = client.get("/topics/emails/charts?range=day").get_data(as_text=True)

    # 20 completions in a 10-minute bucket: 2 per minute.
    assert re.search(r"<title>completed at \d\d:\d0 UTC: 2 jobs/min</title>", html)
    assert 'data-range="day" aria-current="true"' in html


def test_overview_sparklines_sum_last_hour(app, client, make_queue):
    make_queue("emails").push({"n": 1})
    record_last_minute(
        app,
        [
            {"emails": TopicSnapshot(counts(pending=1)), "other": TopicSnapshot({})},
            {"emails": TopicSnapshot(counts(pending=1, completed=6))},
        ],
    )

    html = client.get("/").get_data(as_text=True)

    row = html[html.index('data-topic="emails"') :]
    row = row[: row.index("</tr>")]
    assert "<title>Last 60 minutes: 6 pushed, 6 completed, 0 failed</title>" in row
    footer = html[html.index("<tfoot>") :]
    assert "Last 60 minutes: 6 pushed, 6 completed, 0 failed" in footer


def test_sampler_draws_sparklines_before_overview(app, client, make_queue):
    make_queue("emails").push({"n": 1})
    record_last_minute(
        app,
        [
            {"emails": TopicSnapshot(counts(pending=1))},
            {"emails": TopicSnapshot(counts(pending=1, completed=4))},
        ],
    )
    charts.clear_cache()

    console_state(app).draw_sparklines()
    drawn = charts.sparkline_cache_info().misses
    html = client.get("/").get_data(as_text=True)

    # One topic: its sparkline and the total's have the same data.
    assert drawn == 1
    assert charts.sparkline_cache_info().misses == drawn
    assert "Last 60 minutes: 4 pushed, 4 completed, 0 failed" in html


def test_sampler_thread_draws_sparklines(app):
    state = console_state(app)
    drawn = []
    state.draw_sparklines = lambda: drawn.append(True)  # type: ignore[method-assign]
    state.sampler._after_sample = state.draw_sparklines
    state.start_sampler()
    try:
        deadline = time.monotonic() + 10
        while not drawn and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        state.sampler.stop()

    assert drawn


def test_overview_without_samples_has_no_sparkline(client, make_queue):
    make_queue("emails").push({"n": 1})

    html = client.get("/").get_data(as_text=True)

    assert "pygal-sparkline" not in html
    assert "Last hour" in html


def test_chart_pages_keep_policy(app, client):
    record_last_minute(app, [{"emails": TopicSnapshot(counts(pending=1))}])

    for url in ("/", "/topics/emails", "/charts", "/charts?range=day"):
        response = client.get(url)
        html = response.get_data(as_text=True)
        sources = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)

        assert response.status_code == 200, url
        assert response.headers["Content-Security-Policy"] == DOCUMENTED_POLICY
        assert CONTENT_SECURITY_POLICY == DOCUMENTED_POLICY
        assert html.count("<script") == len(sources), url
        assert all(source.startswith("/") for source in sources), sources
        assert not any(source.startswith("//") for source in sources), sources
        assert "<style" not in html, url
        assert " style=" not in html, url


def test_charts_range_rejects_unknown(client):
    response = client.get("/charts?range=week")

    assert response.status_code == 400
    assert "use hour or day" in response.get_data(as_text=True)


def test_charts_fragment_for_htmx(client):
    response = client.get("/charts?range=day", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)

    assert "<html" not in html
    assert 'data-chart="rates"' in html
    assert "No samples yet" in html
