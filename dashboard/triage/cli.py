"""``queuedeck`` commands of the triage tools, loaded by the CLI on first use.

They read and write the same triage store as the console: the file that
``QUEUEDECK_TRIAGE_PATH`` names, or the default beside the queue data.
"""

from __future__ import annotations

import getpass
import json
from typing import Any

import click

from queue_core import Settings

from ..formatting import utc_text
from ..settings import ConsoleSettings
from .audit import ACTIONS, MAX_AUDIT_PAGE, audit_page, try_record_action
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


def _flat(text: str) -> str:
    # Scopes contain error texts, which may hold newlines or terminal escapes.
    return "".join(char if char.isprintable() else " " for char in text)
