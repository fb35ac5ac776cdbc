"""``queuedeck`` commands of the triage tools, loaded by the CLI on first use.

They read and write the same triage store as the console: the file that
``QUEUEDECK_TRIAGE_PATH`` names, or the default beside the queue data.
"""

from __future__ import annotations

import getpass
import json
import time
from typing import Any

import click

from queue_core import Queue, Settings
from queue_core.cli import check_topic_argument, parse_json_argument

from ..formatting import shorten, utc_text
from ..settings import ConsoleSettings
from . import operations
from .audit import ACTIONS, MAX_AUDIT_PAGE, audit_page, try_record_action
from .edits import (
    check_editable,
    check_payload,
    job_revisions,
    payload_diff,
    retry_with_payload,
    undo_payload,
)
from .lineage import Lineage, job_lineage
from .runner import Runner
from .runs import (
    COMMANDS,
    MAX_MIN_SAMPLE,
    MAX_RATE,
    Run,
    control_run,
    get_run,
    list_runs,
    start_run,
)
from .store import TriageStore, triage_path


def open_store() -> TriageStore:
    """Open the triage store that the console of this environment uses."""
    console = ConsoleSettings.from_env()
    return TriageStore(console.triage_path or triage_path(Settings.from_env()))


def cli_actor() -> str:
    """Return the name recorded for actions of this command: the OS user."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "unknown user"
    return f"{user} (cli)"


def record_cli_action(**entry: Any) -> None:
    """Add an action of a ``queuedeck`` command to the audit log."""
    store = open_store()
    try:
        try_record_action(store, actor=cli_actor(), **entry)
    finally:
        store.close()


@click.command("audit")
@click.option("--topic", help="Only actions on this topic.")
@click.option("--action", type=click.Choice(ACTIONS), help="Only actions of this kind.")
@click.option(
    "--limit",
    type=click.IntRange(1, MAX_AUDIT_PAGE),
    default=50,
    show_default=True,
    help="Entries to print.",
)
@click.option(
    "--cursor", help="Print the page after this one: the next_cursor of --json."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def audit(
    topic: str | None, action: str | None, limit: int, cursor: str | None, as_json: bool
) -> None:
    """Print the audit log of operator actions, newest first."""
    store = open_store()
    try:
        page = audit_page(store, limit=limit, cursor=cursor, topic=topic, action=action)
    finally:
        store.close()
    if as_json:
        entries = [entry.to_dict() for entry in page.entries]
        click.echo(json.dumps({"entries": entries, "next_cursor": page.next_cursor}))
        return
    if not page.entries:
        click.echo("no operator actions recorded")
        return
    for entry in page.entries:
        topic_text = entry.topic or "-"
        click.echo(
            f"{utc_text(entry.at)}  {entry.actor}  {entry.action}  {topic_text}  "
            f"{entry.count}  {_flat(entry.scope)}"
        )
    if page.next_cursor is not None:
        click.echo(f"older entries: --cursor {page.next_cursor}")


def _parse_optional_json(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> Any:
    return None if value is None else parse_json_argument(ctx, param, value)


@click.command("send")
@click.argument("topic", callback=check_topic_argument)
@click.argument("job_id", metavar="ID")
@click.option(
    "--to",
    "target",
    required=True,
    callback=check_topic_argument,
    help="The topic of the new job; may be TOPIC itself.",
)
@click.option(
    "--payload",
    metavar="JSON",
    callback=_parse_optional_json,
    help="A JSON object that replaces the job's payload.",
)
def send(topic: str, job_id: str, target: str, payload: Any) -> None:
    """Send the failed or dead job ID of TOPIC to --to as a new job.

    The new job is pending with no attempts and links back to ID, which is
    deleted. Prints the new job's id.
    """
    store = open_store()
    try:
        with Queue(topic) as queue:
            new_id = operations.send_job(
                store, queue, job_id, target, cli_actor(), payload=payload
            )
    finally:
        store.close()
    click.echo(new_id)


@click.command("lineage")
@click.argument("topic", callback=check_topic_argument)
@click.argument("job_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def lineage(topic: str, job_id: str, as_json: bool) -> None:
    """Print the recorded failed attempts of job ID and the jobs it was sent from."""
    store = open_store()
    try:
        found = job_lineage(store, job_id)
    finally:
        store.close()
    if not found.is_on_topic(topic):
        # The records are of a job with this id on another topic.
        found = Lineage(job_id, attempts=[], sent_from=[], sent_as=None)
    if as_json:
        click.echo(json.dumps(found.to_dict()))
        return
    for link in found.sent_from:
        click.echo(
            f"sent from job {link.source_id} of topic {link.source_topic} "
            f"by {link.actor} at {utc_text(link.at)}"
        )
    if found.sent_as is not None:
        click.echo(
            f"sent as job {found.sent_as.job_id} of topic {found.sent_as.topic} "
            f"by {found.sent_as.actor} at {utc_text(found.sent_as.at)}"
        )
    if not found.attempts:
        click.echo(f"no failed attempt of job {job_id} of topic {topic} recorded")
    for attempt in found.attempts:
        click.echo(
            f"{utc_text(attempt.failed_at)}  {attempt.job_id}  attempt "
            f"{attempt.attempt}  {attempt.status}  {_flat(shorten(attempt.error))}"
        )


@click.command("edit")
@click.argument("topic", callback=check_topic_argument)
@click.argument("job_id", metavar="ID")
@click.argument(
    "payload", metavar="[JSON]", required=False, callback=_parse_optional_json
)
@click.option(
    "--undo",
    "undo_of",
    type=int,
    metavar="EDIT",
    help="Restore the payload from before edit EDIT instead of giving JSON.",
)
@click.option("--yes", is_flag=True, help="Retry without asking after the diff.")
def edit(topic: str, job_id: str, payload: Any, undo_of: int | None, yes: bool) -> None:
    """Retry the failed or dead job ID of TOPIC with the payload JSON.

    Prints the diff against the stored payload and asks before it retries.
    The edit is kept, so `queuedeck edit TOPIC ID --undo EDIT` can undo it.
    """
    if (payload is None) == (undo_of is None):
        raise click.UsageError("give either the new payload JSON or --undo EDIT")
    store = open_store()
    try:
        with Queue(topic) as queue:
            if undo_of is not None:
                payload = undo_payload(store, job_id, undo_of)
            check_payload(payload, queue)
            diff = payload_diff(check_editable(queue, job_id), payload)
            if not diff:
                raise click.ClickException("the payload is unchanged; nothing to do")
            for line in diff:
                click.echo(_flat(line))
            if not yes:
                click.confirm("Retry the job with this payload?", abort=True)
            revision = retry_with_payload(
                store, queue, job_id, payload, cli_actor(), undo_of=undo_of
            )
    finally:
        store.close()
    click.echo(f"job {job_id} moved to pending with edit {revision.id}")


@click.command("revisions")
@click.argument("topic", callback=check_topic_argument)
@click.argument("job_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of diffs.")
def revisions(topic: str, job_id: str, as_json: bool) -> None:
    """Print the payload edits of job ID of TOPIC, newest first, as diffs."""
    store = open_store()
    try:
        found = job_revisions(store, job_id, topic=topic)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"revisions": [r.to_dict() for r in found]}))
        return
    if not found:
        click.echo(f"no payload edit of job {job_id} of topic {topic} recorded")
    for revision in found:
        undoing = "" if revision.undo_of is None else f", undoing {revision.undo_of}"
        click.echo(
            f"edit {revision.id}: {utc_text(revision.at)} by {revision.actor}{undoing}"
        )
        for line in revision.diff:
            click.echo("  " + _flat(line))


@click.group("runs")
def runs() -> None:
    """Start, watch, pause, resume and cancel rate-limited bulk retry runs.

    The console's background thread steps running runs; `queuedeck runs
    work` steps them when no console runs.
    """


@runs.command("start")
@click.argument("topic", callback=check_topic_argument)
@click.argument("status", type=click.Choice(["failed", "dead"]))
@click.option("--signature", help="Retry only this error group.")
@click.option(
    "--rate",
    type=click.FloatRange(0, MAX_RATE, min_open=True),
    required=True,
    help="Jobs retried per second.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(0, 1, min_open=True),
    default=0.5,
    show_default=True,
    help="Stop when more than this fraction of settled retried jobs fail again.",
)
@click.option(
    "--min-sample",
    type=click.IntRange(1, MAX_MIN_SAMPLE),
    default=20,
    show_default=True,
    help="Settled retried jobs needed before the threshold applies.",
)
def runs_start(
    topic: str,
    status: str,
    signature: str | None,
    rate: float,
    threshold: float,
    min_sample: int,
) -> None:
    """Start a bulk retry run of the STATUS jobs of TOPIC and print its id."""
    store = open_store()
    try:
        with Queue(topic) as queue:
            started = start_run(
                store,
                queue,
                status=status,
                signature=signature,
                rate=rate,
                threshold=threshold,
                min_sample=min_sample,
                actor=cli_actor(),
            )
    finally:
        store.close()
    click.echo(started.id)


@runs.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
def runs_list(as_json: bool) -> None:
    """Print the newest 50 runs with their progress."""
    store = open_store()
    try:
        found = list_runs(store)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps({"runs": [each.to_dict() for each in found]}))
        return
    if not found:
        click.echo("no bulk retry runs")
    for each in found:
        click.echo(_run_line(each))


@runs.command("show")
@click.argument("run_id", type=int)
def runs_show(run_id: int) -> None:
    """Print one run's progress as JSON."""
    store = open_store()
    try:
        click.echo(json.dumps(get_run(store, run_id).to_dict()))
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


@runs.command("control")
@click.argument("command", type=click.Choice(list(COMMANDS)))
@click.argument("run_id", type=int)
def runs_control(command: str, run_id: int) -> None:
    """Pause, resume or cancel the run RUN_ID."""
    store = open_store()
    try:
        changed = control_run(store, run_id, command, cli_actor())
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(_run_line(changed))


@runs.command("work")
def runs_work() -> None:
    """Step the running runs in this process until none is running (Ctrl-C stops)."""
    store = open_store()
    queues: dict[str, Queue] = {}

    def queue_for(topic: str) -> Queue:
        if topic not in queues:
            queues[topic] = Queue(topic)
        return queues[topic]

    runner = Runner(store, queue_for)
    try:
        while any(each.state == "running" for each in list_runs(store)):
            time.sleep(runner.run_once())
    finally:
        for queue in queues.values():
            queue.close()
        store.close()
    click.echo("no running bulk retry run left")


def _run_line(run: Run) -> str:
    return (
        f"run {run.id}  {run.state}  {run.retried} of {run.total} retried  "
        f"{run.failed_again} of {run.settled} failed again  {_flat(run.describe())}"
    )


def _flat(text: str) -> str:
    # Scopes contain error texts, which may hold newlines or terminal escapes.
    return "".join(char if char.isprintable() else " " for char in text)
