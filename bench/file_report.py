"""The goals of the file backend benchmark and the Markdown table of its results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from file_backend import Plan


@dataclass(frozen=True)
class Goal:
    """One table row: its label, the goal as text and a check of a value."""

    label: Callable[[Plan], str]
    text: str
    unit: str
    check: Callable[[float], bool] | None = None


def _jobs(count: int | None) -> str:
    if count is None:
        return "?"
    if count >= 1_000_000 and count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    if count >= 1_000 and count % 1_000 == 0:
        return f"{count // 1_000}k"
    return f"{count:,}"


def _counts_jobs(plan: Plan) -> str:
    if plan.large_backlog is not None:
        return _jobs(plan.large_backlog)
    return "about " + _jobs(plan.small_backlog + plan.pop_jobs * (plan.repetitions + 1))


# Metric name -> row, in table order.
GOALS: dict[str, Goal] = {
    "push": Goal(
        lambda plan: "push, 100-byte payload, empty database",
        ">= 15,000",
        "jobs/s",
        lambda value: value >= 15_000,
    ),
    "push_large": Goal(
        lambda plan: f"push, {_jobs(plan.large_backlog)} jobs stored",
        "none",
        "jobs/s",
    ),
    "pop_small": Goal(
        lambda plan: f"pop+complete, {_jobs(plan.small_backlog)} pending",
        ">= 5,000",
        "jobs/s",
        lambda value: value >= 5_000,
    ),
    "pop_large": Goal(
        lambda plan: f"pop+complete, {_jobs(plan.large_backlog)} pending",
        ">= 5,000",
        "jobs/s",
        lambda value: value >= 5_000,
    ),
    "pop_slowdown": Goal(
        lambda plan: (
            f"pop+complete slowdown, {_jobs(plan.small_backlog)} to "
            f"{_jobs(plan.large_backlog)} pending"
        ),
        "<= 1.5x",
        "x",
        lambda value: value <= 1.5,
    ),
    "counts_median": Goal(
        lambda plan: f"counts() median, {_counts_jobs(plan)} jobs",
        "< 2 ms",
        "ms",
        lambda value: value < 2.0,
    ),
    "counts_p95": Goal(
        lambda plan: f"counts() p95, {_counts_jobs(plan)} jobs",
        "< 2 ms",
        "ms",
        lambda value: value < 2.0,
    ),
    "counts_by_topic_median": Goal(
        lambda plan: f"counts_by_topic() median, {_counts_jobs(plan)} jobs",
        "none",
        "ms",
    ),
    "counts_by_topic_p95": Goal(
        lambda plan: f"counts_by_topic() p95, {_counts_jobs(plan)} jobs",
        "none",
        "ms",
    ),
    "drain_wall": Goal(
        lambda plan: (
            f"{plan.drain_processes} processes drain {_jobs(plan.drain_jobs)}: "
            "wall time"
        ),
        "none",
        "s",
    ),
    "drain_rate": Goal(
        lambda plan: (
            f"{plan.drain_processes} processes drain {_jobs(plan.drain_jobs)}: rate"
        ),
        "none",
        "jobs/s",
    ),
    "drain_duplicates": Goal(
        lambda plan: "drain: jobs completed twice",
        "0",
        "",
        lambda value: value == 0,
    ),
    "drain_lost": Goal(
        lambda plan: "drain: jobs lost",
        "0",
        "",
        lambda value: value == 0,
    ),
}

GOAL_CONTENDER = "queue_core"


def format_value(value: float, unit: str) -> str:
    """Return *value* with its unit, rounded for a table cell."""
    if unit == "jobs/s":
        return f"{value:,.0f} jobs/s"
    if unit == "ms":
        return f"{value:.3f} ms"
    if unit == "s":
        return f"{value:.1f} s"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:,.0f}"


def format_cell(result: dict[str, Any] | None, goal: Goal, plan: Plan) -> str:
    """Return the table cell of one contender's *result* for one row."""
    if result is None:
        return "not measured"
    if "unsupported" in result:
        return "not supported"
    cell = format_value(result["value"], goal.unit)
    if result.get("note"):
        cell += f" ({result['note']})"
    if result.get("errors"):
        errors = result["errors"]
        cell += (
            f" (FAILED: {len(errors)} of {result['processes']} workers stopped "
            f"on {errors[0]})"
        )
    elif result.get("finished") is False:
        cell += (
            f" (stopped at the {plan.drain_time_limit:g} s limit, "
            f"{result['completed']:,} of {result['jobs']:,} done)"
        )
    return cell


def goal_status(result: dict[str, Any] | None, goal: Goal) -> str:
    """Return whether *result* meets *goal*: "yes", "NO" or empty."""
    if goal.check is None or result is None or "value" not in result:
        return ""
    return "yes" if goal.check(result["value"]) else "NO"


def render_table(
    metrics: dict[str, dict[str, Any]], names: list[str], plan: Plan
) -> str:
    """Return the results as a Markdown table, one row per metric."""
    header = ["benchmark", "goal"]
    if GOAL_CONTENDER in names:
        header.append("met")
    header += names
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(" --- " for _ in header) + "|",
    ]
    for metric, goal in GOALS.items():
        results = metrics.get(metric, {})
        if not results:
            # A benchmark the plan skipped, such as the 1M backlog in --quick.
            continue
        row = [goal.label(plan), goal.text]
        if GOAL_CONTENDER in names:
            row.append(goal_status(results.get(GOAL_CONTENDER), goal))
        row += [format_cell(results.get(name), goal, plan) for name in names]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
