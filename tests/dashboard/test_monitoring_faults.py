"""Monitoring under bad settings and faults: broken history files, a clock set
back, sample intervals the charts cannot show, and unusable --interval values.

The tests use a real file backend, a real history file on disk and click's
CliRunner, with no mocks.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dashboard import ConsoleSettings, console_state, create_app
from dashboard.history import HOUR, HistoryStore
from queue_core import Queue, Settings
from queue_core.backends import Backend
from queue_core.cli import cli
from queue_core.rates import TopicSnapshot
from tests.dashboard.console_helpers import START, Clock


def snapshot(pending: int) -> TopicSnapshot:
    counts = {"pending": pending, "reserved": 0, "completed": 0, "failed": 0, "dead": 0}
    return TopicSnapshot(counts)


def record(store: HistoryStore, at: float, pending: int) -> None:
    assert store.claim(at)
    store.record(at, {"emails": snapshot(pending)})


# A broken history store ------------------------------------------------------


def write_corrupt_file(tmp_path: Path) -> Path:
    path = tmp_path / "corrupt-history.sqlite3"
    path.write_bytes(b"this is not an SQLite database " * 20)
    return path


def path_under_regular_file(tmp_path: Path) -> Path:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a regular file where the history directory should be")
    return blocker / "history.sqlite3"


@pytest.mark.parametrize(
    "make_path",
    [write_corrupt_file, path_under_regular_file],
    ids=["corrupt-file", "unwritable-directory"],
)
@pytest.mark.parametrize("url", ["/", "/topics/emails", "/api/topics", "/metrics"])
def test_broken_history_keeps_console_serving(
    make_path, url, tmp_path: Path, queue_settings: Settings, backend: Backend
):
    # TESTING stays off, because only then does the first request start the
    # sampler, as under `queuedeck serve` and gunicorn.
    Queue("emails", settings=queue_settings, backend=backend).push({"n": 1})
    history_file = make_path(tmp_path)
    settings = ConsoleSettings(secret_key="test secret key", history_path=history_file)
    app = create_app(settings, queue_settings, backend)
    state = console_state(app)
    try:
        response = app.test_client().get(url)
        body = response.get_data(as_text=True)
        assert response.status_code == 200, body[-500:]
        assert "emails" in body
    finally:
        # The private field, because ConsoleState.sampler opens the store.
        if state._sampler is not None:
            state._sampler.stop()


# A clock that jumps ---------------------------------------------------------


def test_clock_set_back_resumes_rates(tmp_path: Path):
    clock = Clock()
    store = HistoryStore(tmp_path / "history.sqlite3", interval=10, clock=clock)
    try:
        # Five minutes of 1 job per 10 s sample: 6 jobs per minute.
        for index in range(30):
            clock.now = START + 10 * index
            record(store, clock.now, index)

        # One sample taken while the system clock was a day ahead, as after a
        # wrong RTC at boot that NTP corrects a little later.
        clock.now = START + 300 + 86_400
        record(store, store.slot(clock.now), 30)

        # The clock is right again, and jobs keep coming at 6 per minute.
        for index in range(31, 43):
            clock.now = START + 10 * index
            record(store, clock.now, index)

        points = store.series("emails", HOUR)
        by_minute = {point.at: point.pushed for point in points}
        # The minute after the clock came back (START + 360 s .. + 420 s).
        assert by_minute[START + 360] == 6.0
        # The sample taken with the clock ahead is gone. The one before it
        # expired then, as if a day had passed, which the docs state.
        assert store.latest_sample_at() == START + 420
    finally:
        store.close()


# Sample intervals -------------------------------------------------------------


@pytest.mark.parametrize("seconds", ["45", "120", "7200", "0.5", "7"])
def test_sample_interval_must_divide_minute(seconds):
    # 45 s would put two samples' jobs into every third minute, 120 s would
    # leave every other minute empty, and 7200 s would expire samples before
    # they were rolled up.
    with pytest.raises(ValueError, match="divide a minute evenly") as error:
        ConsoleSettings.from_env({"QUEUEDECK_SAMPLE_SECONDS": seconds})

    assert repr(seconds) in str(error.value)


@pytest.mark.parametrize("seconds", ["0", "1", "15", "60"])
def test_sample_interval_dividing_minute_accepted(seconds):
    settings = ConsoleSettings.from_env({"QUEUEDECK_SAMPLE_SECONDS": seconds})

    assert settings.sample_seconds == float(seconds)


# queuedeck stats --interval ---------------------------------------------------


@pytest.mark.parametrize("interval", ["inf", "1e300", "nan"])
def test_stats_rejects_unusable_interval(interval, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("TINA4_QUEUE_PATH", str(tmp_path / "queue"))
    result = CliRunner().invoke(cli, ["stats", "--rates", "--interval", interval])
    # time.sleep raises OverflowError for inf and 1e300, and nan compares
    # false with every bound.
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.exit_code == 2, result.output
    assert re.search(r"Invalid value for '--interval'", result.output), result.output
