"""Page-context builders: one per page, shared by its full page and its fragment.

Each builder reads the queue through the public :class:`queue_core.Queue` API
and returns the dict a template renders, so the page template and the partial
that htmx swaps in always show the same data.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from queue_core import Job, JobStatus, WorkerRecord
from queue_core.status import STATUS_NAMES, parse_status
from queue_core.topics import validate_topic

from .charts import age_chart, pending_chart, rates_chart, sparklines
from .formatting import (
    PRETTY_PAYLOAD_CHARACTERS,
    PREVIEW_CHARACTERS,
    is_cut,
    payload_preview,
    pretty_payload,
    shorten,
)
from .history import HOUR, SPANS, parse_span
from .state import ConsoleState
from .triage.edits import job_revisions, pretty_json
from .triage.lineage import job_lineage

logger = logging.getLogger(__name__)

PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
STATUSES = STATUS_NAMES
ERROR_STATUSES = ("dead", "failed")
# An error text whose id sits inside a word (such as 'user_80002') is not
# normalised, so it gives one group per job. Pages list only the largest groups.
MAX_ERROR_GROUPS = 100
# The file backend searches with a SQL LIKE, and SQLite rejects a pattern over
# 50,000 bytes (SQLITE_MAX_LIKE_PATTERN_LENGTH); a longer search would fail
# as if the backend were down. 1,000 characters stay far below that in UTF-8.
MAX_SEARCH_CHARACTERS = 1000


@dataclass
class TopicSummary:
    """One topic's line on the overview."""

    name: str
    counts: dict[str, int]
    oldest_pending_age: float | None = None
    workers: int = 0
    dead_alert: bool = False
    idle_alert: bool = False
    #: Jobs pushed and completed per minute in the last hour, as inline SVG.
    sparkline: Markup | None = None

    @property
    def total(self) -> int:
        """The number of jobs in every status."""
        return sum(self.counts.values())


@dataclass
class JobRow:
    """One job in a list, with previews cut so a page stays small."""

    job: Job
    payload_preview: str
    error_preview: str


@dataclass
class Overview:
    """Every topic's counts, the live workers and the totals."""

    topics: list[TopicSummary]
    workers: list[WorkerRecord]
    totals: dict[str, int] = field(default_factory=dict)
    #: The sparkline of every topic added up.
    sparkline: Markup | None = None
    #: Why there are no sparklines, when the history store failed.
    history_error: str | None = None


def parse_limit(text: str | None) -> int:
    """Return the page size in the ``limit`` query parameter *text*.

    :raises ValueError: unless *text* is missing or a whole number from 1 to
        :data:`MAX_PAGE_SIZE`.
    """
    if text is None or not text.strip():
        return PAGE_SIZE
    try:
        limit = int(text)
    except ValueError:
        raise ValueError(
            f"invalid limit {text!r}; use a whole number from 1 to {MAX_PAGE_SIZE}"
        ) from None
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be from 1 to {MAX_PAGE_SIZE}, not {limit}")
    return limit


def parse_search(text: str | None) -> str | None:
    """Return the search text *text*, or ``None`` when it is missing or empty.

    :raises ValueError: if *text* is longer than :data:`MAX_SEARCH_CHARACTERS`.
    """
    if not text:
        return None
    if len(text) > MAX_SEARCH_CHARACTERS:
        raise ValueError(
            f"the search text is {len(text):,} characters long; use at most "
            f"{MAX_SEARCH_CHARACTERS:,}"
        )
    return text


def overview_context(state: ConsoleState) -> dict[str, Any]:
    """Build the overview: counts, workers, oldest pending age and alerts."""
    queue = state.queue()
    workers = queue.workers(seen_within=state.settings.worker_timeout)
    workers_by_topic: dict[str, int] = {}
    for worker in workers:
        name = _short_topic(state, worker.topic)
        workers_by_topic[name] = workers_by_topic.get(name, 0) + 1

    topics: list[TopicSummary] = []
    threshold = state.settings.dead_letter_threshold
    for name, counts in sorted(queue.counts_by_topic().items()):
        summary = TopicSummary(name, counts, workers=workers_by_topic.get(name, 0))
        if counts["pending"]:
            summary.oldest_pending_age = queue.oldest_pending_age(name)
        summary.dead_alert = counts["dead"] > threshold
        summary.idle_alert = counts["pending"] > 0 and summary.workers == 0
        topics.append(summary)

    totals = {status: sum(t.counts[status] for t in topics) for status in STATUSES}
    overview = Overview(topics, workers, totals)
    _add_sparklines(state, overview)
    return {
        "overview": overview,
        "statuses": STATUSES,
        "threshold": threshold,
        "refresh_seconds": state.settings.refresh_seconds,
        "generated_at": time.time(),
    }


def charts_context(
    state: ConsoleState, topic: str | None, span_name: str | None = None
) -> dict[str, Any]:
    """Build the history charts of *topic*, or of every topic added up.

    :raises ValueError: if *span_name* is not ``hour`` or ``day``.
    :raises queue_core.TopicError: if *topic* is not a valid topic name.
    """
    span = parse_span(span_name)
    if topic is not None:
        validate_topic(topic)
    context: dict[str, Any] = {
        "chart_topic": topic,
        "span": span,
        "spans": SPANS,
        "charts": [],
        "sample_seconds": state.settings.sample_seconds,
        "latest_sample_at": None,
        "history_error": None,
    }
    try:
        points = state.history.series(topic, span)
        context["latest_sample_at"] = state.history.latest_sample_at()
    except (OSError, sqlite3.Error) as exc:
        context["history_error"] = _history_failed(exc)
        return context
    context["charts"] = [
        ("rates", "Jobs per minute", rates_chart(points, span)),
        ("pending", "Pending jobs (peak)", pending_chart(points, span)),
        ("age", "Oldest pending job (seconds)", age_chart(points, span)),
    ]
    return context


def topic_context(
    state: ConsoleState,
    topic: str,
    *,
    status: str = "pending",
    cursor: str | None = None,
    text: str | None = None,
    signature: str | None = None,
    limit: int = PAGE_SIZE,
) -> dict[str, Any]:
    """Build one status tab of a topic: counts, a page of jobs, the next cursor.

    *text* searches payloads and error texts; *signature* keeps one error group.

    :raises ValueError: if *status*, *cursor* or *limit* is invalid.
    :raises queue_core.TopicError: if *topic* is not a valid topic name.
    """
    parse_status(status)
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"limit must be from 1 to {MAX_PAGE_SIZE}, not {limit}")
    queue = state.queue(topic)
    counts = queue.counts()
    page = queue.search(
        text or None, status=status, limit=limit, cursor=cursor, signature=signature
    )
    rows = [_row(job) for job in page.jobs]
    return {
        "topic": topic,
        "status": status,
        "statuses": STATUSES,
        "counts": counts,
        "rows": rows,
        "cursor": cursor,
        "next_cursor": page.next_cursor,
        "text": text or "",
        "signature": signature,
        "limit": limit,
        "can_retry": status in ("failed", "dead"),
        "can_purge": status != JobStatus.RESERVED.value,
    }


def counts_context(state: ConsoleState, topic: str) -> dict[str, Any]:
    """Build the status tabs of a topic with their counts."""
    return {
        "topic": topic,
        "statuses": STATUSES,
        "counts": state.queue(topic).counts(),
    }


def error_groups_context(
    state: ConsoleState, topic: str, *, status: str = "dead"
) -> dict[str, Any]:
    """Build a topic's failed or dead jobs grouped by error signature.

    :raises ValueError: unless *status* is ``"dead"`` or ``"failed"``.
    """
    if status not in ERROR_STATUSES:
        raise ValueError(
            f"invalid status {status!r} for error groups; use dead or failed"
        )
    queue = state.queue(topic)
    groups = queue.error_groups(status)
    counts = queue.counts()
    shown = groups[:MAX_ERROR_GROUPS]
    return {
        "topic": topic,
        "status": status,
        "statuses": STATUSES,
        "counts": counts,
        "groups": shown,
        "group_count": len(groups),
        "grouped_total": sum(group.count for group in groups),
        "hidden_total": sum(group.count for group in groups[MAX_ERROR_GROUPS:]),
    }


def job_context(state: ConsoleState, topic: str, job_id: str) -> dict[str, Any] | None:
    """Build the job page, or return ``None`` if the topic has no such job."""
    queue = state.queue(topic)
    job = queue.get(job_id)
    if job is None:
        return None
    payload_text = pretty_payload(job.payload, PRETTY_PAYLOAD_CHARACTERS)
    return {
        "topic": topic,
        "job": job,
        "payload_text": payload_text,
        "payload_cut": is_cut(payload_text, PRETTY_PAYLOAD_CHARACTERS),
        "payload_limit": PRETTY_PAYLOAD_CHARACTERS,
        "retry_of": None if job.retry_of is None else _find_job(state, job.retry_of),
        "lineage": job_lineage(state.triage, job_id),
        "revisions": job_revisions(state.triage, job_id),
        "edit_text": pretty_json(job.payload),
        "timestamps": [
            ("Created", job.created_at),
            ("Updated", job.updated_at),
            ("Available", job.available_at),
            ("Lease expires", job.lease_expires_at),
        ],
    }


def _find_job(state: ConsoleState, job_id: str) -> Job | None:
    # A job sent to another topic links to a job of its old topic.
    record = state.backend.get(None, job_id)
    if record is None:
        return None
    return state.queue().get(job_id, topic=_short_topic(state, record.topic))


def _add_sparklines(state: ConsoleState, overview: Overview) -> None:
    # Sparklines end at the last whole minute, so they change once a minute
    # and the chart cache serves the refreshes in between.
    try:
        by_topic = state.history.series_by_topic(HOUR, complete=True)
    except (OSError, sqlite3.Error) as exc:
        overview.history_error = _history_failed(exc)
        return
    drawn, overview.sparkline = sparklines(by_topic)
    for summary in overview.topics:
        summary.sparkline = drawn.get(summary.name)


def _history_failed(error: Exception) -> str:
    logger.warning("reading the history store failed: %s", error)
    return f"The history is unavailable: {error}"


def _row(job: Job) -> JobRow:
    return JobRow(
        job,
        payload_preview(job.payload, PREVIEW_CHARACTERS),
        shorten(job.error),
    )


def _short_topic(state: ConsoleState, name: str) -> str:
    prefix = state.queue_settings.prefix
    if prefix and name.startswith(prefix + "."):
        return name[len(prefix) + 1 :]
    return name
