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

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from .errors import ConfigurationError
from .payload import DEFAULT_MAX_PAYLOAD_BYTES
from .topics import validate_prefix

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

        :raises ConfigurationError: if a variable holds an invalid value.
        """
        values: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            for key, value in dotenv_values(env_file).items():
                if key.startswith(ENV_PREFIX) and value is not None:
                    values[key] = value
        source = os.environ if environ is None else environ
        values.update((k, v) for k, v in source.items() if k.startswith(ENV_PREFIX))

        def get(name: str) -> str | None:
            value = values.get(ENV_PREFIX + name, "").strip()
            return value or None

        prefix = get("PREFIX") or ""
        if prefix:
            validate_prefix(prefix)
        sync = (get("FILE_SYNC") or "normal").lower()
        if sync not in SYNC_MODES:
            raise ConfigurationError(
                f"invalid TINA4_QUEUE_FILE_SYNC {sync!r}; "
                f"use one of: {', '.join(SYNC_MODES)}"
            )

        return cls(
            backend=(get("BACKEND") or "file").lower(),
            url=get("URL"),
            path=Path(get("PATH") or "data/queue").absolute(),
            visibility_timeout=_positive_number(
                get("VISIBILITY_TIMEOUT"), "VISIBILITY_TIMEOUT", 300.0
            ),
            prefix=prefix,
            max_payload_bytes=_positive_integer(
                get("MAX_PAYLOAD_BYTES"), "MAX_PAYLOAD_BYTES", DEFAULT_MAX_PAYLOAD_BYTES
            ),
            file_sync=sync,
        )


def _positive_integer(text: str | None, name: str, default: int) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigurationError(
            f"invalid {ENV_PREFIX}{name} {text!r}; set it to a whole number above 0"
        )
    return value


def _positive_number(text: str | None, name: str, default: float) -> float:
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(
            f"invalid {ENV_PREFIX}{name} {text!r}; set it to a positive number"
        )
    return value
