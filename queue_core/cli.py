"""The ``queuedeck`` command line: push, inspect, retry and purge jobs, run workers.

The backend comes from the ``TINA4_QUEUE_*`` environment, as for
:class:`queue_core.Queue`, and no option selects it. Library errors are printed
as one line and end the command with exit code 1, or 2 for an invalid argument.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from .cli_rates import echo_table, print_rates
from .errors import PayloadError, QueueError, TopicError
from .job import Job
from .limits import MAX_DELAY_SECONDS, MAX_RETRIES_LIMIT
from .queue import MAX_PRIORITY, MIN_PRIORITY, Queue
from .retry import Backoff
from .status import STATUS_NAMES, parse_purge_group
from .topics import validate_topic
from .worker import DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_POLL_INTERVAL, Handler, Worker

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
PREVIEW_CHARACTERS = 60
DASHBOARD_INSTALL = "pip install 'queuedeck[dashboard]'"
# Commands that live in the dashboard package, by name: (module, attribute).
DASHBOARD_COMMANDS = {
    "serve": ("dashboard.cli", "serve"),
    "audit": ("dashboard.triage.cli", "audit"),
    "send": ("dashboard.triage.cli", "send"),
    "lineage": ("dashboard.triage.cli", "lineage"),
    "edit": ("dashboard.triage.cli", "edit"),
    "revisions": ("dashboard.triage.cli", "revisions"),
    "runs": ("dashboard.triage.cli", "runs"),
}


# Argument callbacks run before any command opens the backend, so an invalid
# value is reported as a usage error with exit code 2.


def check_topic_argument(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> str | None:
    if value is None:
        return None
    try:
        return validate_topic(value)
    except TopicError as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


def parse_json_argument(ctx: click.Context, param: click.Parameter, value: str) -> Any:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # Python passes undecodable argument bytes on as lone surrogates.
        raise click.BadParameter(
            "the JSON is not valid UTF-8; check the encoding of the shell or file "
            "it came from",
            ctx,
            param,
        ) from None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"invalid JSON: {exc}", ctx, param) from exc
    except RecursionError:
        raise click.BadParameter(
            "the JSON is nested too deeply to parse", ctx, param
        ) from None
    except ValueError as exc:
        # The only other ValueError is an integer longer than Python converts.
        raise click.BadParameter(
            f"the JSON contains a number that is too long: {exc.args[0].split(';')[0]}",
            ctx,
            param,
        ) from None


def _check_delay(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not math.isfinite(value):
        raise click.BadParameter(f"{value!r} is not a number of seconds", ctx, param)
    return value


def _check_purge_status(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        parse_purge_group(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc
    return value


class QueuedeckGroup(click.Group):
    """The command group, with the console's commands loaded on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *DASHBOARD_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in DASHBOARD_COMMANDS:
            return _load_dashboard_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        # Library errors carry messages written for the operator, so they are
        # printed as one line instead of a traceback.
        try:
            return super().invoke(ctx)
        except (QueueError, ValueError) as exc:
            raise click.ClickException(str(exc)) from exc


# The longest --interval of queuedeck stats: a day.
MAX_STATS_INTERVAL = 86400.0


def _finite(context: click.Context, parameter: click.Parameter, value: float) -> float:
    # FloatRange lets nan through, because every comparison with it is false.
    if math.isnan(value):
        raise click.BadParameter(f"{value!r} is not a number of seconds")
    return value


@click.group(cls=QueuedeckGroup)
@click.version_option(package_name="queuedeck", prog_name="queuedeck")
def cli() -> None:
    """Push, inspect, retry and purge queuedeck jobs, and run workers.

    The backend is chosen by TINA4_QUEUE_BACKEND and the other TINA4_QUEUE_*
    variables, read from the environment and from .env in this directory.
    """


def main(args: Sequence[str] | None = None) -> None:
    """Run the ``queuedeck`` command line with *args* (default ``sys.argv``)."""
    cli.main(args=args, prog_name="queuedeck")


# Producing --------------------------------------------------------------------


@cli.command()
@click.argument("topic", callback=check_topic_argument)
@click.argument("payload", metavar="JSON", callback=parse_json_argument)
@click.option(
    "--delay",
    type=click.FloatRange(0, MAX_DELAY_SECONDS),
    callback=_check_delay,
    default=0.0,
    show_default=True,
    help="Seconds before a worker may claim the job.",
)
@click.option(
    "--priority",
    type=click.IntRange(MIN_PRIORITY, MAX_PRIORITY),
    default=0,
    show_default=True,
    help=f"Priority from {MIN_PRIORITY} to {MAX_PRIORITY}. Higher priorities are "
    "claimed first.",
)
def push(topic: str, payload: Any, delay: float, priority: int) -> None:
    """Add a job with the JSON object JSON to TOPIC and print its id."""
    with Queue(topic) as queue:
        try:
            job_id = queue.push(payload, delay=delay, priority=priority)
        except PayloadError as exc:
            raise click.BadParameter(str(exc), param_hint="'JSON'") from exc
    click.echo(job_id)


# Inspecting -------------------------------------------------------------------


@cli.command()
@click.argument("topic", callback=check_topic_argument, required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--rates",
    is_flag=True,
    help="Count twice, --interval seconds apart, and print jobs pushed, "
    "completed and failed per minute, the pending count and the oldest "
    "pending age.",
)
@click.option(
    "--watch",
    is_flag=True,
    help="Print the --rates table every --interval seconds until Ctrl-C.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=1, max=MAX_STATS_INTERVAL),
    callback=_finite,
    default=10.0,
    show_default=True,
    help="Seconds between two counts for --rates and --watch.",
)
def stats(
    topic: str | None, as_json: bool, rates: bool, watch: bool, interval: float
) -> None:
    """Print the number of jobs in each status for TOPIC or every topic.

    With --rates or --watch, print rates per minute instead. The command
    counts by itself and does not read the web console's history.
    """
    if rates or watch:
        with Queue(topic or "default") as queue:
            print_rates(queue, topic, interval=interval, watch=watch, as_json=as_json)
        return
    with Queue(topic or "default") as queue:
        counts = {topic: queue.counts()} if topic else queue.counts_by_topic()

    if as_json:
        click.echo(json.dumps(counts, indent=2))
        return
    if not counts:
        click.echo("no jobs on any topic yet")
        return
    headers = ["TOPIC", *(name.upper() for name in STATUS_NAMES)]
    rows = [
        [name, *(str(by_status[status]) for status in STATUS_NAMES)]
        for name, by_status in counts.items()
    ]
    echo_table(headers, rows, right_aligned=range(1, len(headers)))


@cli.command()
@click.argument("topic", callback=check_topic_argument)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Maximum number of dead letters to print, newest first.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def dead(topic: str, limit: int, as_json: bool) -> None:
    """Print the dead letters of TOPIC: jobs that used up their attempts."""
    with Queue(topic) as queue:
        jobs = queue.dead_letters(limit)

    if as_json:
        click.echo(json.dumps([_dead_letter_fields(job) for job in jobs], indent=2))
        return
    if not jobs:
        click.echo(f"no dead letters on topic {topic!r}")
        return
    rows = [
        [
            job.id,
            str(job.attempts),
            _preview(job.error or ""),
            _preview(json.dumps(job.payload, separators=(",", ":"))),
        ]
        for job in jobs
    ]
    echo_table(["ID", "ATTEMPTS", "ERROR", "PAYLOAD"], rows, right_aligned=[1])


# Retry and purge --------------------------------------------------------------


@cli.command()
@click.argument("topic", callback=check_topic_argument)
@click.argument("job_id", metavar="[ID]", required=False)
@click.option(
    "--all",
    "retry_all",
    is_flag=True,
    help="Retry every failed job with attempts left; dead letters are skipped.",
)
def retry(topic: str, job_id: str | None, retry_all: bool) -> None:
    """Move the failed or dead job ID of TOPIC, or all failed jobs, to pending.

    A failed job has attempts left by the --max-retries of the worker that
    last ran it; dead letters are retried only by ID.
    """
    if (job_id is None) == (not retry_all):
        raise click.UsageError("give either a job ID or --all")

    with Queue(topic) as queue:
        if retry_all:
            moved = queue.retry_failed()
            scope = f"every failed job of topic {topic!r} with attempts left"
        else:
            moved = int(queue.retry(str(job_id)))
            scope = f"job {job_id}"
        # A retry that moved no job is recorded too, with a count of 0.
        _audit(
            action="retry",
            topic=topic,
            scope=scope,
            count=moved,
            job_ids=[] if job_id is None else [job_id],
        )
        if not retry_all and not moved:
            _fail_not_retryable(queue, str(job_id))
    click.echo(f"{_jobs(moved)} moved to pending")


def _fail_not_retryable(queue: Queue, job_id: str) -> NoReturn:
    job = queue.get(job_id)
    status = "gone" if job is None else job.status.value
    raise click.ClickException(
        f"job {job_id!r} is {status}, so it was not retried; only failed and dead "
        "jobs can be retried"
    )


@cli.command()
@click.argument("topic", callback=check_topic_argument)
@click.argument("status", callback=_check_purge_status)
def purge(topic: str, status: str) -> None:
    """Delete the jobs of TOPIC in STATUS: pending, completed, failed or dead.

    "failed" also deletes dead letters. Reserved jobs are never deleted.
    """
    with Queue(topic) as queue:
        removed = queue.purge(status)
    statuses = "failed and dead" if status == "failed" else status
    _audit(
        action="purge",
        topic=topic,
        scope=f"every {statuses} job of topic {topic!r}",
        count=removed,
    )
    click.echo(f"{_jobs(removed)} removed")


# Workers ----------------------------------------------------------------------


@cli.command()
@click.argument("topic", callback=check_topic_argument)
@click.option(
    "--handler",
    "handler_path",
    required=True,
    metavar="MODULE:FUNCTION",
    help="The function called with each job, imported from the current "
    "directory or sys.path.",
)
@click.option(
    "--max-retries",
    type=click.IntRange(0, MAX_RETRIES_LIMIT),
    default=3,
    show_default=True,
    help="Attempts a job gets before it becomes a dead letter.",
)
@click.option(
    "--retry-backoff",
    type=click.FloatRange(0, MAX_DELAY_SECONDS, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Retry failed jobs by themselves: wait SECONDS after the first "
    "failure, doubling each time up to 300 s. Off by default, so a failed job "
    "waits in 'failed' for an operator.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_POLL_INTERVAL,
    show_default=True,
    help="Seconds to wait before polling again when the topic is empty.",
)
@click.option(
    "--heartbeat-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_HEARTBEAT_INTERVAL,
    show_default=True,
    help="Seconds between the heartbeats that the console shows.",
)
@click.option("--burst", is_flag=True, help="Exit once no job is available.")
def worker(
    topic: str,
    handler_path: str,
    max_retries: int,
    retry_backoff: float | None,
    poll_interval: float,
    heartbeat_interval: float,
    burst: bool,
) -> None:
    """Run the --handler function on each job of TOPIC until stopped.

    SIGTERM or SIGINT stops the worker after the job in hand. A second signal
    interrupts the handler and puts its job back to pending.
    """
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    handler = import_handler(handler_path)
    backoff = None
    if retry_backoff is not None:
        backoff = Backoff(base=retry_backoff, maximum=max(300.0, retry_backoff))
    with Queue(topic, max_retries=max_retries, retry_backoff=backoff) as queue:
        Worker(
            queue,
            handler,
            poll_interval=poll_interval,
            heartbeat_interval=heartbeat_interval,
        ).run(burst=burst)


def import_handler(path: str) -> Handler:
    """Import the callable named by *path*, ``"module:function"``.

    The current directory goes first on ``sys.path`` unless it is there
    already, so that a handler module next to the command is found.

    :raises click.BadParameter: if the module or attribute is missing or is
        not callable.
    """
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        _fail_handler(f"expected module:function, as in tasks:send, not {path!r}")

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        _fail_handler(f"cannot import module {module_name!r}: {exc}")
    except Exception as exc:
        # A syntax error or a failing import-time statement in the handler's
        # own module: report it in one line rather than as a traceback.
        _fail_handler(
            f"importing module {module_name!r} failed: {type(exc).__name__}: {exc}"
        )

    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            _fail_handler(f"module {module_name!r} has no attribute {attribute!r}")
    if not callable(target):
        _fail_handler(f"{attribute!r} is a {type(target).__name__}, not callable")
    handler: Handler = target
    return handler


def _fail_handler(reason: str) -> NoReturn:
    raise click.BadParameter(reason, param_hint="'--handler'")


# The console ------------------------------------------------------------------


def _load_dashboard_command(name: str) -> click.Command:
    module_name, attribute = DASHBOARD_COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return _missing_dashboard_command(name, str(exc))
    command: click.Command = getattr(module, attribute)
    return command


def _audit(**entry: Any) -> None:
    """Add this command's action to the console's audit log, if it is installed."""
    try:
        triage_cli = importlib.import_module("dashboard.triage.cli")
    except ImportError:
        return
    triage_cli.record_cli_action(**entry)


def _missing_dashboard_command(name: str, reason: str) -> click.Command:
    def fail(args: tuple[str, ...]) -> NoReturn:
        raise click.ClickException(
            f"the web console is not installed ({reason}); run: {DASHBOARD_INSTALL}"
        )

    # It accepts any arguments, so that "serve --port 8000" still explains
    # what to install instead of rejecting the option.
    return click.Command(
        name,
        callback=fail,
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
        help=f"A command of the web console (needs {DASHBOARD_INSTALL}).",
        context_settings={"ignore_unknown_options": True},
        add_help_option=False,
    )


# Output -----------------------------------------------------------------------


def _preview(text: str) -> str:
    # Error texts come from handlers and may contain newlines or terminal escape
    # sequences, so control characters become spaces.
    flat = "".join(char if char.isprintable() else " " for char in text)
    if len(flat) <= PREVIEW_CHARACTERS:
        return flat
    return flat[: PREVIEW_CHARACTERS - 3] + "..."


def _dead_letter_fields(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "attempts": job.attempts,
        "error": job.error,
        "payload": job.payload,
        "created_at": job.created_at.isoformat(),
        "failed_at": job.updated_at.isoformat(),
    }


def _jobs(count: int) -> str:
    return f"{count} job" if count == 1 else f"{count} jobs"


if __name__ == "__main__":
    main()
