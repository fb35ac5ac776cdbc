"""The console's history sampler on every backend, through the public Queue API."""

from __future__ import annotations

import math
import time
from pathlib import Path

from dashboard import ConsoleSettings, console_state, create_app
from dashboard.history import HOUR
from tests.contract.support import pop_within


def test_sampler_records_rates(queue_factory, tmp_path: Path):
    emails = queue_factory("emails", max_retries=1)
    reports = queue_factory("reports")
    emails.push({"n": "before"})
    settings = ConsoleSettings(
        secret_key="k", sample_seconds=0, history_path=tmp_path / "history.sqlite3"
    )
    app = create_app(settings, queue_factory.settings())
    app.testing = True
    state = console_state(app)
    # Two samples 10 s apart in the last whole minute, around 4 pushed jobs,
    # 2 completed and 1 failed, which becomes dead with max_retries=1.
    minute = math.floor(time.time() / 60) * 60 - 60
    try:
        assert state.sampler.sample(now=minute)
        for n in range(4):
            emails.push({"n": n})
        for _ in range(2):
            job = pop_within(emails, 10)
            assert job is not None
            assert job.complete()
        job = pop_within(emails, 10)
        assert job is not None
        assert job.fail("ValueError: bad input")
        reports.push({"n": 1})
        assert state.sampler.sample(now=minute + 10)

        by_topic = state.history.series_by_topic(HOUR)
        overall = state.history.series(None, HOUR)
    finally:
        state.close()

    emails_point = next(p for p in by_topic["emails"] if p.at == minute)
    assert emails_point.pushed == 4.0
    assert emails_point.completed == 2.0
    assert emails_point.failed == 1.0
    assert emails_point.pending == 2
    assert emails_point.oldest_pending_age is not None
    assert emails_point.oldest_pending_age > 0
    reports_point = next(p for p in by_topic["reports"] if p.at == minute)
    assert reports_point.pushed == 1.0
    overall_point = next(p for p in overall if p.at == minute)
    assert overall_point.pushed == 5.0
    assert overall_point.pending == 3
