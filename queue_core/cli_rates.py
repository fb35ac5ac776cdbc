"""``queuedeck stats --rates`` and ``--watch``: job rates in the terminal.

The command line has no access to the console's history store, so it samples
by itself: it takes a snapshot of the counts, waits ``--interval`` seconds,
takes another and prints the rates between the two (see
:mod:`queue_core.rates`). ``--watch`` keeps going, one table per interval,
until Ctrl-C.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import click

from .queue import Queue
from .rates import TopicSnapshot, increments, take_snapshot

ALL_TOPICS = "(all topics)"
RATE_HEADERS = [
    "TOPIC",
    "PENDING",
    "OLDEST",
    "PUSHED/MIN",
    "COMPLETED/MIN",
    "FAILED/MIN",
]
# Moves the cursor home and clears the screen, so a watched table redraws in
# place on a terminal.
CLEAR_SCREEN = "\x1b[H\x1b[2J"


def print_rates(
    queue: Queue, topic: str | None, *, interval: float, watch: bool, as_json: bool
) -> None:
    """Print rates over *interval* seconds once, or every interval with *watch*.

    Ctrl-C ends the command cleanly, with exit code 0.
    """
    clear = watch and not as_json and sys.stdout.isatty()
    try:
        previous = _snapshot(queue, topic)
        started = time.monotonic()
        while True:
            time.sleep(interval)
            current = _snapshot(queue, topic)
            now = time.monotonic()
            rows = rate_rows(previous, current, now - started)
            if as_json:
                click.echo(json.dumps(_rates_json(rows, now - started)))
            else:
                _echo_rates(rows, now - started, clear=clear)
            if not watch:
                return
            previous, started = current, now
    except KeyboardInterrupt:
        click.echo("", err=True)


def rate_rows(
    previous: Mapping[str, TopicSnapshot],
    current: Mapping[str, TopicSnapshot],
    seconds: float,
) -> list[dict[str, Any]]:
    """Return one row per topic of *current*, and a total row for several.

    A topic missing from *previous* counts from zero.
    """
    rows = []
    for name, snapshot in sorted(current.items()):
        before = previous[name].counts if name in previous else {}
        pushed, completed, failed = increments(before, snapshot.counts).per_minute(
            seconds
        )
        rows.append(
            {
                "topic": name,
                "pending": snapshot.counts.get("pending", 0),
                "oldest_pending_age": snapshot.oldest_pending_age,
                "pushed_per_minute": pushed,
                "completed_per_minute": completed,
                "failed_per_minute": failed,
            }
        )
    if len(rows) > 1:
        rows.append(_total_row(rows))
    return rows


def echo_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right_aligned: Sequence[int] = (),
) -> None:
    """Print *rows* under *headers* in columns padded to the widest cell."""
    widths = [
        max(len(row[column]) for row in [headers, *rows])
        for column in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.rjust(width) if column in right_aligned else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    click.echo(line(headers))
    for row in rows:
        click.echo(line(row))


def _snapshot(queue: Queue, topic: str | None) -> dict[str, TopicSnapshot]:
    if topic is None:
        return take_snapshot(queue)
    counts = queue.counts(topic)
    age = queue.oldest_pending_age(topic) if counts.get("pending") else None
    return {topic: TopicSnapshot(counts, age)}


def _total_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ages = [row["oldest_pending_age"] for row in rows if row["oldest_pending_age"]]
    return {
        "topic": ALL_TOPICS,
        "pending": sum(row["pending"] for row in rows),
        "oldest_pending_age": max(ages) if ages else None,
        **{
            key: sum(row[key] for row in rows)
            for key in (
                "pushed_per_minute",
                "completed_per_minute",
                "failed_per_minute",
            )
        },
    }


def _echo_rates(rows: list[dict[str, Any]], seconds: float, *, clear: bool) -> None:
    if clear:
        click.echo(CLEAR_SCREEN, nl=False)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    click.echo(f"jobs per minute over the last {seconds:.1f} s, at {stamp}")
    if not rows:
        click.echo("no jobs on any topic yet")
        return
    cells = [
        [
            row["topic"],
            str(row["pending"]),
            _age(row["oldest_pending_age"]),
            f"{row['pushed_per_minute']:.1f}",
            f"{row['completed_per_minute']:.1f}",
            f"{row['failed_per_minute']:.1f}",
        ]
        for row in rows
    ]
    echo_table(RATE_HEADERS, cells, right_aligned=range(1, len(RATE_HEADERS)))
    click.echo("")


def _rates_json(rows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    return {"at": time.time(), "seconds": round(seconds, 3), "topics": rows}


def _age(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f}s"
