"""The history store and sampler, with an injected clock instead of waiting."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dashboard import ConsoleSettings, console_state, create_app
from dashboard.history import DAY, HOUR, HistoryStore, history_path, parse_span
from dashboard.sampler import Sampler
from queue_core import Settings
from queue_core.rates import TopicSnapshot
from tests.dashboard.console_helpers import START, Clock


def snapshot(
    pending: int = 0, completed: int = 0, failed: int = 0, age: float | None = None
) -> TopicSnapshot:
    counts = {
        "pending": pending,
        "reserved": 0,
        "completed": completed,
        "failed": failed,
        "dead": 0,
    }
    return TopicSnapshot(counts, age)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> HistoryStore:
    opened = HistoryStore(tmp_path / "history.sqlite3", interval=10, clock=clock)
    yield opened  # type: ignore[misc]
    opened.close()


def record_at(store: HistoryStore, clock: Clock, **topics: TopicSnapshot) -> None:
    at = store.slot(clock.now)
    assert store.claim(at)
    store.record(at, topics)


def table_count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        (count,) = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
    return int(count)


def test_minute_sums_increments(store, clock):
    # Seven samples 10 s apart from 0:00:00: each adds 3 pushed jobs, of
    # which 2 complete. The first sample has no previous one to count from.
    for n in range(7):
        record_at(store, clock, emails=snapshot(pending=n, completed=2 * n))
        clock.now += 10
    clock.now = START + 59

    points = store.series("emails", HOUR)

    minute = points[-1]
    assert minute.at == START
    assert minute.pushed == 15.0
    assert minute.completed == 10.0
    assert minute.failed == 0.0
    assert minute.pending == 5
    assert points[-2].pushed is None


def test_overall_series_adds_topics(store, clock):
    record_at(store, clock, a=snapshot(pending=1), b=snapshot(pending=2, age=9.5))
    clock.now += 10
    record_at(store, clock, a=snapshot(pending=4), b=snapshot(pending=3, age=19.5))

    last = store.series(None, HOUR)[-1]

    assert last.pushed == 4.0
    assert last.pending == 7
    assert last.oldest_pending_age == 19.5


def test_samples_roll_up_into_minutes(store, clock, tmp_path):
    # Two minutes of samples, then 70 minutes later: the samples have
    # expired and the day span still shows both minutes from the rollup.
    for n in range(12):
        record_at(store, clock, emails=snapshot(completed=n, pending=n % 4))
        clock.now += 10
    clock.now = START + 70 * 60
    record_at(store, clock, emails=snapshot(completed=100))

    hour = store.series("emails", HOUR)
    day = store.series("emails", DAY)

    assert all(point.completed is None for point in hour[:-1])
    first_ten_minutes = next(point for point in day if point.at == START)
    # 11 completions over two minutes, as an average per minute of the
    # 10-minute bucket.
    assert first_ten_minutes.completed == pytest.approx(1.1)
    assert first_ten_minutes.pending == 3
    assert table_count(tmp_path / "history.sqlite3", "samples") == 1
    assert table_count(tmp_path / "history.sqlite3", "minutes") == 2


def test_minutes_expire_after_a_day(store, clock, tmp_path):
    record_at(store, clock, emails=snapshot(pending=1))
    clock.now += 10
    record_at(store, clock, emails=snapshot(pending=2))
    clock.now += 2 * 3600
    record_at(store, clock, emails=snapshot(pending=3))
    # The first two samples fall in one minute.
    assert table_count(tmp_path / "history.sqlite3", "minutes") == 1

    clock.now += 86400
    record_at(store, clock, emails=snapshot(pending=4))

    assert table_count(tmp_path / "history.sqlite3", "minutes") == 0
    assert table_count(tmp_path / "history.sqlite3", "samples") == 1
    day = store.series("emails", DAY)
    assert [point.pending for point in day if point.pending is not None] == [4]


def test_purge_between_samples_counts_zero(store, clock):
    record_at(store, clock, emails=snapshot(pending=2, completed=40))
    clock.now += 10
    # 40 completed jobs purged, 1 pushed and completed meanwhile.
    record_at(store, clock, emails=snapshot(pending=2, completed=1))
    clock.now += 10
    record_at(store, clock, emails=snapshot(pending=4, completed=3))

    minute = store.series("emails", HOUR)[-1]

    assert minute.pushed == 4.0
    assert minute.completed == 2.0


def test_gap_gives_no_increments(store, clock):
    record_at(store, clock, emails=snapshot(pending=1))
    clock.now += 120
    record_at(store, clock, emails=snapshot(pending=500))

    minute = store.series("emails", HOUR)[-1]

    assert minute.pending == 500
    assert minute.pushed is None


def test_restart_keeps_history(tmp_path, clock):
    path = tmp_path / "history.sqlite3"
    first = HistoryStore(path, interval=10, clock=clock)
    record_at(first, clock, emails=snapshot(pending=1))
    clock.now += 10
    record_at(first, clock, emails=snapshot(pending=3, completed=1))
    first.close()

    clock.now += 10
    second = HistoryStore(path, interval=10, clock=clock)
    record_at(second, clock, emails=snapshot(pending=3, completed=4))
    minute = second.series("emails", HOUR)[-1]
    second.close()

    assert minute.pushed == 6.0
    assert minute.completed == 4.0
    assert minute.pending == 3


def test_one_process_claims_each_slot(tmp_path, clock):
    path = tmp_path / "history.sqlite3"
    first = HistoryStore(path, interval=10, clock=clock)
    second = HistoryStore(path, interval=10, clock=clock)

    claims = [first.claim(START), second.claim(START), second.claim(START + 10)]
    first.close()
    second.close()

    assert claims == [True, False, True]


def test_late_sample_gives_no_increments(store, clock):
    # A process that claimed 0:00:10 writes after another one wrote 0:00:20,
    # which already counted the jobs of both intervals.
    record_at(store, clock, emails=snapshot(pending=1))
    assert store.claim(START + 10)
    assert store.claim(START + 20)
    store.record(START + 20, {"emails": snapshot(pending=5)})
    store.record(START + 10, {"emails": snapshot(pending=3)})
    clock.now = START + 30

    minute = store.series("emails", HOUR)[-1]

    assert minute.pushed == 4.0


def test_sampler_records_snapshot_once_per_slot(store, clock):
    snapshots = iter([{"emails": snapshot(pending=1)}, {"emails": snapshot(2)}])
    first = Sampler(store, lambda: next(snapshots))
    second = Sampler(store, lambda: pytest.fail("second sampler took a snapshot"))

    assert first.sample() is True
    assert second.sample() is False
    clock.now += 10
    assert first.sample() is True

    assert store.series("emails", HOUR)[-1].pushed == 1.0
    assert store.latest_sample_at() == START + 10


def test_sampler_thread_starts_and_stops(store):
    sampler = Sampler(store, dict)

    sampler.start()
    started = sampler.running
    sampler.stop()

    assert started is True
    assert sampler.running is False


def test_parse_span_rejects_unknown_range():
    assert parse_span(None) is HOUR
    assert parse_span("day") is DAY
    with pytest.raises(ValueError, match="use hour or day"):
        parse_span("week")


def test_history_path_beside_file_queue(tmp_path):
    file_settings = Settings(path=tmp_path / "queue", prefix="staging")
    broker_settings = Settings(backend="rabbitmq", url="amqp://127.0.0.1")

    assert history_path(file_settings) == tmp_path / "queue-history-staging.sqlite3"
    assert history_path(broker_settings).name == "queuedeck-history-rabbitmq.sqlite3"
    assert history_path(broker_settings).parent.name == "data"


def test_series_by_topic_sees_new_sample(store, clock):
    record_at(store, clock, emails=snapshot(pending=1))
    clock.now += 10
    record_at(store, clock, emails=snapshot(pending=2))
    first = store.series_by_topic(HOUR)["emails"][-1]
    clock.now += 10
    record_at(store, clock, emails=snapshot(pending=5))

    second = store.series_by_topic(HOUR)["emails"][-1]

    assert first.pushed == 1.0
    assert second.pushed == 4.0
    assert second.pending == 5


def test_first_request_starts_sampler(queue_settings, backend, tmp_path):
    settings = ConsoleSettings(
        secret_key="k", sample_seconds=1, history_path=tmp_path / "h.sqlite3"
    )
    app = create_app(settings, queue_settings, backend)
    sampler = console_state(app).sampler
    before = sampler.running

    app.test_client().get("/")
    started = sampler.running
    sampler.stop()

    assert before is False
    assert started is True
    assert sampler.running is False


def test_testing_app_starts_no_sampler(app, client):
    client.get("/")

    assert console_state(app).sampler.running is False


def test_sample_seconds_setting():
    assert ConsoleSettings.from_env({}).sample_seconds == 10.0
    assert (
        ConsoleSettings.from_env({"QUEUEDECK_SAMPLE_SECONDS": "0"}).sample_seconds == 0
    )
    with pytest.raises(ValueError, match="divide a minute evenly"):
        ConsoleSettings.from_env({"QUEUEDECK_SAMPLE_SECONDS": "0.5"})


def test_history_path_setting(tmp_path):
    environ = {"QUEUEDECK_HISTORY_PATH": str(tmp_path / "h.sqlite3")}

    assert ConsoleSettings.from_env(environ).history_path == tmp_path / "h.sqlite3"
    assert ConsoleSettings.from_env({}).history_path is None
