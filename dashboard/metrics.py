"""The Prometheus ``/metrics`` endpoint: job counts per topic and status."""

from __future__ import annotations

from flask import Response

from .context import overview_context
from .state import console_state

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics() -> Response:
    """Return counts, oldest pending ages and live workers in Prometheus text format."""
    overview = overview_context(console_state())["overview"]
    lines = [
        "# HELP queuedeck_jobs Jobs per topic and status.",
        "# TYPE queuedeck_jobs gauge",
    ]
    for summary in overview.topics:
        topic = _label(summary.name)
        for status, count in summary.counts.items():
            lines.append(f'queuedeck_jobs{{topic="{topic}",status="{status}"}} {count}')

    lines += [
        "# HELP queuedeck_oldest_pending_age_seconds Age of the oldest pending job.",
        "# TYPE queuedeck_oldest_pending_age_seconds gauge",
    ]
    for summary in overview.topics:
        age = summary.oldest_pending_age or 0.0
        lines.append(
            f'queuedeck_oldest_pending_age_seconds{{topic="{_label(summary.name)}"}} '
            f"{age:.3f}"
        )

    lines += [
        "# HELP queuedeck_workers Workers with a recent heartbeat, per topic.",
        "# TYPE queuedeck_workers gauge",
    ]
    for summary in overview.topics:
        lines.append(
            f'queuedeck_workers{{topic="{_label(summary.name)}"}} {summary.workers}'
        )
    return Response("\n".join(lines) + "\n", content_type=CONTENT_TYPE)


def _label(value: str) -> str:
    # Escaping from the Prometheus text format: backslash, quote and newline.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
