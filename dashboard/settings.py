"""Console settings read from ``QUEUEDECK_*`` environment variables.

The queue itself keeps its ``TINA4_QUEUE_*`` settings (see
:mod:`queue_core.settings`); these variables only change the console.

================================ ======= ======================================
Variable                         Default Meaning
================================ ======= ======================================
QUEUEDECK_USERNAME               (none)  HTTP Basic user name for the console
QUEUEDECK_PASSWORD               (none)  HTTP Basic password for the console
QUEUEDECK_READ_ONLY              false   hide actions and reject every POST
QUEUEDECK_SECRET_KEY             random  key that signs sessions and CSRF tokens
QUEUEDECK_DEAD_LETTER_THRESHOLD  10      dead letters above which a topic is
                                         highlighted on the overview
QUEUEDECK_REFRESH_SECONDS        5       overview polling interval
QUEUEDECK_WORKER_TIMEOUT         30      seconds since a worker's last
                                         heartbeat before it counts as gone
QUEUEDECK_SAMPLE_SECONDS         10      seconds between history samples; 0
                                         turns the sampler off
QUEUEDECK_HISTORY_PATH           (auto)  SQLite file of the history; see
                                         :func:`dashboard.history.history_path`
QUEUEDECK_TRIAGE_PATH            (auto)  SQLite file of the audit log, retry
                                         lineage, payload edits and bulk
                                         retry runs; see
                                         :func:`dashboard.triage.store.triage_path`
================================ ======= ======================================
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "QUEUEDECK_"
SAMPLE_SECONDS_CHOICES = (
    1.0,
    2.0,
    3.0,
    4.0,
    5.0,
    6.0,
    10.0,
    12.0,
    15.0,
    20.0,
    30.0,
    60.0,
)

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


@dataclass(frozen=True)
class ConsoleSettings:
    """Resolved console settings; build one with :meth:`from_env`."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    read_only: bool = False
    secret_key: str | None = field(default=None, repr=False)
    dead_letter_threshold: int = 10
    refresh_seconds: float = 5.0
    worker_timeout: float = 30.0
    #: Seconds between two history samples; 0 turns the sampler off.
    sample_seconds: float = 10.0
    #: The history's SQLite file; ``None`` picks one beside the queue data.
    history_path: Path | None = None
    #: The triage store's SQLite file; ``None`` picks one beside the queue data.
    triage_path: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ConsoleSettings:
        """Build settings from *environ* (default ``os.environ``).

        :raises ValueError: if a variable contains an invalid value, or only one
            of the user name and password is set; the message names it.
        """
        source = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = source.get(ENV_PREFIX + name, "").strip()
            return value or None

        username = get("USERNAME")
        password = source.get(ENV_PREFIX + "PASSWORD") or None
        if (username is None) != (password is None):
            raise ValueError(
                "set both QUEUEDECK_USERNAME and QUEUEDECK_PASSWORD, or neither"
            )
        return cls(
            username=username,
            password=password,
            read_only=_flag(get("READ_ONLY"), "READ_ONLY"),
            secret_key=get("SECRET_KEY"),
            dead_letter_threshold=int(
                _number(get("DEAD_LETTER_THRESHOLD"), "DEAD_LETTER_THRESHOLD", 10)
            ),
            refresh_seconds=_number(get("REFRESH_SECONDS"), "REFRESH_SECONDS", 5),
            worker_timeout=_number(get("WORKER_TIMEOUT"), "WORKER_TIMEOUT", 30),
            sample_seconds=_sample_seconds(get("SAMPLE_SECONDS")),
            history_path=_path(get("HISTORY_PATH")),
            triage_path=_path(get("TRIAGE_PATH")),
        )

    @property
    def has_credentials(self) -> bool:
        """Whether a user name and password protect the console."""
        return self.username is not None and self.password is not None


def is_loopback(host: str) -> bool:
    """Return whether *host* names only this machine (``localhost`` or 127/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _flag(text: str | None, name: str) -> bool:
    value = (text or "").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"invalid {ENV_PREFIX}{name} {text!r}; use true or false (1/0, yes/no)"
    )


def _number(text: str | None, name: str, default: float) -> float:
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"invalid {ENV_PREFIX}{name} {text!r}; set it to a number >= 0"
        )
    return value


def _sample_seconds(text: str | None) -> float:
    # Charts count per minute, so an interval must split a minute evenly:
    # 45 s would put two samples' jobs into every third minute. Sampling
    # more than once a second would query the backend for every topic many
    # times a second, for no visible gain.
    value = _number(text, "SAMPLE_SECONDS", 10)
    if value != 0 and value not in SAMPLE_SECONDS_CHOICES:
        choices = ", ".join(f"{choice:g}" for choice in SAMPLE_SECONDS_CHOICES)
        raise ValueError(
            f"invalid {ENV_PREFIX}SAMPLE_SECONDS {text!r}; set it to 0 (off) or "
            f"to one of {choices} seconds, which divide a minute evenly"
        )
    return value


def _path(text: str | None) -> Path | None:
    return None if text is None else Path(text).expanduser().absolute()
