"""Queue settings read from the environment and a ``.env`` file.

Every setting has a ``TINA4_QUEUE_*`` variable. Variables set in the process
environment win over the same names in ``.env`` in the working directory, so a
deployment can override a checked-in development file.

============================== ========== =========================================
Variable                        Default    Meaning
============================== ========== =========================================
TINA4_QUEUE_BACKEND             file       file, rabbitmq, kafka or mongodb
TINA4_QUEUE_URL                 (none)     server URL for the broker backends
TINA4_QUEUE_PATH                data/queue directory of the file backend
TINA4_QUEUE_VISIBILITY_TIMEOUT  300        seconds a worker holds a job
TINA4_QUEUE_PREFIX              (none)     namespace put before every topic
TINA4_QUEUE_MAX_PAYLOAD_BYTES   1048576    largest encoded payload accepted
TINA4_QUEUE_FILE_SYNC           normal     SQLite ``synchronous``: normal or full
============================== ========== =========================================
"""

from __future__ import annotations

import difflib
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from .errors import ConfigurationError
from .limits import MAX_LEASE_SECONDS
from .payload import DEFAULT_MAX_PAYLOAD_BYTES
from .topics import validate_prefix

logger = logging.getLogger(__name__)

ENV_PREFIX = "TINA4_QUEUE_"
SYNC_MODES = ("normal", "full")


@dataclass(frozen=True)
class Settings:
    """Resolved queue settings; build one with :meth:`from_env`."""

    backend: str = "file"
    url: str | None = field(default=None, repr=False)
    path: Path = Path("data/queue")
    visibility_timeout: float = 300.0
    prefix: str = ""
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    file_sync: str = "normal"

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        env_file: str | os.PathLike[str] | None = ".env",
    ) -> Settings:
        """Build settings from *environ* (default ``os.environ``) over *env_file*.

        A relative *env_file* and ``TINA4_QUEUE_PATH`` are resolved against the
        working directory at the time of the call.

        :raises ConfigurationError: if a variable has an invalid value.
        """
        raw = _read_variables(environ, env_file)
        _warn_unknown(raw)

        def get(name: str) -> _Value | None:
            value = raw.get(ENV_PREFIX + name)
            if value is None or not value.text.strip():
                return None
            return _Value(value.text.strip(), value.source)

        prefix = get("PREFIX")
        if prefix is not None:
            try:
                validate_prefix(prefix.text)
            except ConfigurationError as exc:
                raise ConfigurationError(f"{exc}{prefix.source}") from None
        sync = get("FILE_SYNC")
        if sync is not None and sync.text.lower() not in SYNC_MODES:
            raise ConfigurationError(
                f"invalid TINA4_QUEUE_FILE_SYNC {sync.text!r}{sync.source}; "
                f"use one of: {', '.join(SYNC_MODES)}"
            )
        backend = get("BACKEND")
        url = get("URL")
        path = get("PATH")

        return cls(
            backend=backend.text.lower() if backend else "file",
            url=url.text if url else None,
            path=Path(path.text if path else "data/queue").absolute(),
            visibility_timeout=_positive_number(
                get("VISIBILITY_TIMEOUT"),
                "VISIBILITY_TIMEOUT",
                300.0,
                maximum=MAX_LEASE_SECONDS,
            ),
            prefix=prefix.text if prefix else "",
            max_payload_bytes=_positive_integer(
                get("MAX_PAYLOAD_BYTES"), "MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES
            ),
            file_sync=sync.text.lower() if sync else "normal",
        )


@dataclass(frozen=True)
class _Value:
    text: str
    # Appended to error messages: empty for the process environment.
    source: str


KNOWN_VARIABLES = tuple(
    ENV_PREFIX + name
    for name in (
        "BACKEND",
        "URL",
        "PATH",
        "VISIBILITY_TIMEOUT",
        "PREFIX",
        "MAX_PAYLOAD_BYTES",
        "FILE_SYNC",
    )
)


def _read_variables(
    environ: Mapping[str, str] | None, env_file: str | os.PathLike[str] | None
) -> dict[str, _Value]:
    values: dict[str, _Value] = {}
    if env_file is not None and Path(env_file).is_file():
        where = f" (set in {os.fspath(env_file)})"
        for key, text in dotenv_values(env_file).items():
            if key.startswith(ENV_PREFIX) and text is not None:
                values[key] = _Value(text, where)
    source = os.environ if environ is None else environ
    for key, text in source.items():
        if key.startswith(ENV_PREFIX):
            values[key] = _Value(text, "")
    return values


def _warn_unknown(values: Mapping[str, _Value]) -> None:
    for key in values:
        if key in KNOWN_VARIABLES:
            continue
        close = difflib.get_close_matches(key, KNOWN_VARIABLES, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        logger.warning("unknown setting %s is ignored%s", key, hint)


def _positive_integer(value: _Value | None, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        number = int(value.text)
    except ValueError:
        number = 0
    if number <= 0:
        raise ConfigurationError(
            f"invalid {ENV_PREFIX}{name} {value.text!r}{value.source}; "
            "set it to a whole number above 0"
        )
    return number


def _positive_number(
    value: _Value | None, name: str, default: float, *, maximum: float
) -> float:
    if value is None:
        return default
    try:
        number = float(value.text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not 0 < number <= maximum:
        raise ConfigurationError(
            f"invalid {ENV_PREFIX}{name} {value.text!r}{value.source}; "
            f"set it to a number of seconds above 0 and at most {maximum:g}"
        )
    return number
