"""The console's history of queue counts: a small SQLite file of its own.

The sampler (:mod:`dashboard.sampler`) writes one row per topic every sample
interval into ``samples``: the counts per status, the oldest pending age and
the jobs pushed, completed and failed since the previous sample (see
:mod:`queue_core.rates`). Samples are kept for an hour. Every complete minute
is rolled up into ``minutes`` (increments summed, the peak pending count and
the maximum oldest pending age), which are kept for a day. Older rows are
deleted on each write, so the file stays bounded by the number of topics.

Several processes may share one file: each sample time is a row of ``ticks``
that only one process can insert, so gunicorn workers never sample the same
interval twice.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from queue_core import Settings
from queue_core.rates import TopicSnapshot, increments

logger = logging.getLogger(__name__)

# Samples are kept two minutes over an hour, so that the hour span still has
# every sample of its first minute when it ends at the last whole minute.
SAMPLE_RETENTION = 3720.0
MINUTE_RETENTION = 86400.0
# A gap longer than this many sample intervals (the console was stopped, or
# sampling failed) gives no increments for the sample after it, because the
# jobs of the whole gap would otherwise show up as one spike.
MAX_GAP_INTERVALS = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS ticks (
    at REAL PRIMARY KEY,
    pid INTEGER NOT NULL,
    written INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS samples (
    topic TEXT NOT NULL,
    at REAL NOT NULL,
    pending INTEGER NOT NULL,
    reserved INTEGER NOT NULL,
    completed INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    dead INTEGER NOT NULL,
    oldest_pending_age REAL,
    pushed_increase INTEGER,
    completed_increase INTEGER,
    failed_increase INTEGER,
    PRIMARY KEY (topic, at)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS samples_at ON samples (at);
CREATE TABLE IF NOT EXISTS minutes (
    topic TEXT NOT NULL,
    at INTEGER NOT NULL,
    pending INTEGER NOT NULL,
    oldest_pending_age REAL,
    pushed_increase INTEGER,
    completed_increase INTEGER,
    failed_increase INTEGER,
    PRIMARY KEY (topic, at)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS minutes_at ON minutes (at);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value REAL NOT NULL
);
"""

STATUS_COLUMNS = ("pending", "reserved", "completed", "failed", "dead")

# One row per topic and minute from the samples of [start, end).
ROLLUP = """
INSERT OR REPLACE INTO minutes
    (topic, at, pending, oldest_pending_age,
     pushed_increase, completed_increase, failed_increase)
SELECT topic, CAST(at / 60 AS INTEGER) * 60 AS minute, MAX(pending),
       MAX(oldest_pending_age), SUM(pushed_increase), SUM(completed_increase),
       SUM(failed_increase)
FROM samples WHERE at >= ? AND at < ?
GROUP BY topic, minute
"""


@dataclass(frozen=True)
class Span:
    """A chart's time range and the width of each of its points."""

    name: str
    seconds: int
    bucket_seconds: int

    @property
    def buckets(self) -> int:
        """The number of points in the range."""
        return self.seconds // self.bucket_seconds


HOUR = Span("hour", 3600, 60)
DAY = Span("day", 86400, 600)
SPANS = {span.name: span for span in (HOUR, DAY)}


def parse_span(name: str | None) -> Span:
    """Return the span named *name*, ``"hour"`` (the default) or ``"day"``.

    :raises ValueError: for any other name.
    """
    if name is None or name == "":
        return HOUR
    try:
        return SPANS[name]
    except KeyError:
        raise ValueError(f"invalid range {name!r}; use hour or day") from None


@dataclass(frozen=True)
class Point:
    """One bucket of a chart: rates per minute and the pending gauges.

    A field is ``None`` when no sample covers the bucket. The last bucket
    covers only the time up to now.
    """

    at: float
    pushed: float | None = None
    completed: float | None = None
    failed: float | None = None
    #: The highest pending count sampled in the bucket.
    pending: int | None = None
    oldest_pending_age: float | None = None


def history_path(queue_settings: Settings) -> Path:
    """Return where the history of *queue_settings*' queue is stored by default.

    The file backend's history sits beside its directory, as
    ``data/queue-history.sqlite3`` for ``data/queue``. A broker backend's
    history goes to ``data/queuedeck-history-<backend>.sqlite3`` under the
    working directory. A ``TINA4_QUEUE_PREFIX`` is added to the name, so
    consoles of different prefixes keep separate histories.
    """
    return console_store_path(queue_settings, "history")


def console_store_path(queue_settings: Settings, kind: str) -> Path:
    """Return the default file of the console's *kind* store, as for the history.

    *kind* is the word in the file name, such as ``history`` or ``triage``.
    """
    suffix = f"-{queue_settings.prefix}" if queue_settings.prefix else ""
    if queue_settings.backend == "file":
        directory = queue_settings.path
        return directory.with_name(f"{directory.name}-{kind}{suffix}.sqlite3")
    name = f"queuedeck-{kind}-{queue_settings.backend}{suffix}.sqlite3"
    return Path("data", name).absolute()


class HistoryStore:
    """The SQLite file of samples and minute rollups; safe to share by threads.

    *clock* returns the current Unix time. Tests pass their own to move time
    without waiting.
    """

    def __init__(
        self,
        path: Path,
        *,
        interval: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"the sample interval must be above 0, not {interval!r}")
        self.path = path
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._by_topic_cache: dict[
            tuple[object, ...], tuple[tuple[object, ...], dict[str, list[Point]]]
        ] = {}
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            path, timeout=30, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def slot(self, now: float) -> float:
        """Return the start of the sample interval that contains *now*."""
        return math.floor(now / self.interval) * self.interval

    def claim(self, at: float) -> bool:
        """Reserve the sample time *at* for this process.

        Returns ``False`` when another process or thread claimed it first.
        """
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO ticks (at, pid) VALUES (?, ?)",
                (at, os.getpid()),
            )
            return cursor.rowcount == 1

    def record(self, at: float, snapshot: Mapping[str, TopicSnapshot]) -> None:
        """Store *snapshot* as the sample at *at*, then roll up and expire rows.

        Increments are computed against the previous written sample. They
        are left empty when that sample is more than :data:`MAX_GAP_INTERVALS`
        intervals older, or when a later sample was already written, because
        that one counted this interval already.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._forget_future(at)
                previous = self._previous_counts(at)
                rows = [
                    _sample_row(topic, at, sample, previous)
                    for topic, sample in snapshot.items()
                ]
                self._db.executemany(
                    "INSERT OR REPLACE INTO samples VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO ticks (at, pid, written) VALUES (?, ?, 1)",
                    (at, os.getpid()),
                )
                self._roll_up(at)
                self._expire(at)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _forget_future(self, at: float) -> None:
        # Written samples far ahead of this one mean the clock was ahead when
        # they were taken and is right again. Keeping them would leave every
        # new sample without rates until real time caught up with them.
        horizon = at + MAX_GAP_INTERVALS * self.interval
        (newest,) = self._db.execute(
            "SELECT MAX(at) FROM ticks WHERE written = 1"
        ).fetchone()
        if newest is None or newest <= horizon:
            return
        logger.warning(
            "history samples up to %.0f s ahead of the clock dropped; "
            "the clock was set back",
            newest - at,
        )
        for table in ("samples", "ticks", "minutes"):
            self._db.execute(f"DELETE FROM {table} WHERE at > ?", (at,))
        rolled = self._meta("rolled_up_to")
        if rolled is not None and rolled > at:
            self._db.execute(
                "UPDATE meta SET value = ? WHERE key = 'rolled_up_to'",
                (math.floor(at / 60) * 60,),
            )

    def _previous_counts(self, at: float) -> dict[str, dict[str, int]] | None:
        newer = self._db.execute(
            "SELECT 1 FROM ticks WHERE at > ? AND written = 1 LIMIT 1", (at,)
        ).fetchone()
        if newer is not None:
            return None
        (previous_at,) = self._db.execute(
            "SELECT MAX(at) FROM ticks WHERE at < ? AND written = 1", (at,)
        ).fetchone()
        if previous_at is None or at - previous_at > MAX_GAP_INTERVALS * self.interval:
            return None
        rows = self._db.execute(
            f"SELECT topic, {', '.join(STATUS_COLUMNS)} FROM samples WHERE at = ?",
            (previous_at,),
        )
        return {row[0]: dict(zip(STATUS_COLUMNS, row[1:], strict=True)) for row in rows}

    def _roll_up(self, now: float) -> None:
        # A minute is rolled up once a whole interval has passed after its
        # end, so a sample written a little late still counts. Minutes are
        # rolled up again from scratch, so a repeat does no harm.
        end = math.floor((now - self.interval) / 60) * 60
        start = self._meta("rolled_up_to")
        if start is None:
            (start,) = self._db.execute("SELECT MIN(at) FROM samples").fetchone()
            if start is None:
                return
            start = math.floor(start / 60) * 60
        if start >= end:
            return
        self._db.execute(ROLLUP, (start, end))
        self._db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('rolled_up_to', ?)",
            (end,),
        )

    def _expire(self, now: float) -> None:
        sample_cutoff = now - SAMPLE_RETENTION
        self._db.execute("DELETE FROM samples WHERE at < ?", (sample_cutoff,))
        self._db.execute("DELETE FROM ticks WHERE at < ?", (sample_cutoff,))
        self._db.execute("DELETE FROM minutes WHERE at < ?", (now - MINUTE_RETENTION,))

    def _meta(self, key: str) -> float | None:
        row = self._db.execute(
            "SELECT value FROM meta WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else float(row[0])

    # Reading -----------------------------------------------------------------

    def series(
        self, topic: str | None, span: Span, *, complete: bool = False
    ) -> list[Point]:
        """Return *span*'s points for *topic*, or for every topic added up.

        The last point covers the current bucket so far, or with *complete*
        the last whole bucket.

        The overall pending count of a bucket adds up each topic's peak
        pending count per minute, so it can be higher than any total that
        was present at one time.
        """
        start = self._first_bucket(span, complete)
        with self._lock:
            arguments = self._series_arguments(span, start)
            if topic is not None:
                arguments["topic"] = topic
            rows = self._db.execute(_series_query(topic), arguments).fetchall()
        return _fill(rows, start, span)

    def series_by_topic(
        self, span: Span, *, complete: bool = False
    ) -> dict[str, list[Point]]:
        """Return :meth:`series` of every topic with a sample in *span*.

        The overview calls this on every refresh, so the result is kept
        until a newer sample lands in the span; do not modify it.
        """
        start = self._first_bucket(span, complete)
        with self._lock:
            (latest,) = self._db.execute(
                "SELECT MAX(at) FROM ticks WHERE written = 1 AND at < ?",
                (start + span.seconds,),
            ).fetchone()
            key = (span.name, complete, start, latest)
            cached = self._by_topic_cache.get(key[:2])
            if cached is not None and cached[0] == key:
                return cached[1]
            arguments = self._series_arguments(span, start)
            rows = self._db.execute(_BY_TOPIC, arguments).fetchall()
        grouped: dict[str, list[list[Any]]] = {}
        for topic, *values in rows:
            grouped.setdefault(topic, []).append(values)
        result = {
            topic: _fill(values, start, span) for topic, values in grouped.items()
        }
        self._by_topic_cache[key[:2]] = (key, result)
        return result

    def latest_sample_at(self) -> float | None:
        """Return the time of the newest written sample, or ``None``."""
        with self._lock:
            (at,) = self._db.execute(
                "SELECT MAX(at) FROM ticks WHERE written = 1"
            ).fetchone()
        return None if at is None else float(at)

    def _series_arguments(self, span: Span, start: float) -> dict[str, object]:
        # Whole minutes come from their rollups, which are 6 times fewer rows
        # than their samples, and only the minutes not rolled up yet from the
        # samples.
        rolled = self._meta("rolled_up_to") or start
        return {"start": start, "width": span.bucket_seconds, "rolled": rolled}

    def _first_bucket(self, span: Span, complete: bool) -> float:
        width = span.bucket_seconds
        last = math.floor(self.clock() / width) * width
        if complete:
            last -= width
        return float(last - (span.buckets - 1) * width)


def _sample_row(
    topic: str,
    at: float,
    sample: TopicSnapshot,
    previous: Mapping[str, Mapping[str, int]] | None,
) -> tuple[object, ...]:
    counts = [sample.counts.get(status, 0) for status in STATUS_COLUMNS]
    changes: tuple[int | None, ...] = (None, None, None)
    if previous is not None:
        # A topic missing from the previous sample had no jobs then.
        found = increments(previous.get(topic, {}), sample.counts)
        changes = (found.pushed, found.completed, found.failed)
    return (topic, at, *counts, sample.oldest_pending_age, *changes)


# Samples newer than the last rollup are read from ``samples``, older ones from
# ``minutes``, so the day span includes the minutes not yet rolled up.
_ROWS = """
SELECT topic, at, pending, oldest_pending_age, pushed_increase,
       completed_increase, failed_increase
FROM minutes WHERE at >= :start AND at < :rolled
UNION ALL
SELECT topic, at, pending, oldest_pending_age, pushed_increase,
       completed_increase, failed_increase
FROM samples WHERE at >= MAX(:start, :rolled)
"""


def _series_query(topic: str | None) -> str:
    where = "" if topic is None else "WHERE topic = :topic"
    return f"""
    SELECT CAST(at / :width AS INTEGER) * :width AS bucket,
           SUM(pushed), SUM(completed), SUM(failed), MAX(pending), MAX(oldest)
    FROM (
        SELECT at, SUM(pushed_increase) AS pushed,
               SUM(completed_increase) AS completed,
               SUM(failed_increase) AS failed, SUM(pending) AS pending,
               MAX(oldest_pending_age) AS oldest
        FROM ({_ROWS}) {where}
        GROUP BY at
    )
    GROUP BY bucket ORDER BY bucket
    """


_BY_TOPIC = f"""
SELECT topic, CAST(at / :width AS INTEGER) * :width AS bucket,
       SUM(pushed_increase), SUM(completed_increase), SUM(failed_increase),
       MAX(pending), MAX(oldest_pending_age)
FROM ({_ROWS})
GROUP BY topic, bucket ORDER BY topic, bucket
"""


def add_up(series: Iterable[Sequence[Point]]) -> list[Point]:
    """Return the point-by-point sum of several topics' series of one span.

    Rates and pending counts are added; the oldest pending age is the
    maximum. A field stays ``None`` where every topic's point is ``None``.
    """
    totals: list[Point] = []
    for points in zip(*series, strict=True):
        totals.append(
            Point(
                points[0].at,
                _sum(point.pushed for point in points),
                _sum(point.completed for point in points),
                _sum(point.failed for point in points),
                _sum(point.pending for point in points),
                _max(point.oldest_pending_age for point in points),
            )
        )
    return totals


def _sum(values: Iterable[Any]) -> Any:
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def _max(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return max(known) if known else None


def _fill(rows: Sequence[Sequence[Any]], start: float, span: Span) -> list[Point]:
    # One point per bucket of the span, so that every chart has the same
    # time axis; buckets without samples keep None and show as gaps.
    scale = 60.0 / span.bucket_seconds
    found = {float(row[0]): row[1:] for row in rows}
    points = []
    for index in range(span.buckets):
        at = start + index * span.bucket_seconds
        values = found.get(at)
        if values is None:
            points.append(Point(at))
            continue
        pushed, completed, failed, pending, oldest = values
        points.append(
            Point(
                at,
                _rate(pushed, scale),
                _rate(completed, scale),
                _rate(failed, scale),
                None if pending is None else int(pending),
                None if oldest is None else float(oldest),
            )
        )
    return points


def _rate(total: Any, scale: float) -> float | None:
    return None if total is None else float(total) * scale
