"""Settings and the queue shared by the example's app, worker and SMTP server.

Every process reads the same environment, so one set of variables configures
all three:

========================== ================= ====================================
Variable                    Default           Meaning
========================== ================= ====================================
EXAMPLE_DATA_DIR            data              directory of the delivered mail
EXAMPLE_SMTP_PORT           8025              port of the SMTP server on 127.0.0.1
EXAMPLE_REJECT_RECIPIENT    bad@example.com   address the SMTP server rejects with
                                              550; empty accepts every address
========================== ================= ====================================

The queue itself uses the usual ``TINA4_QUEUE_*`` variables; ``scripts/example``
sets ``TINA4_QUEUE_PATH`` to ``queue`` under the data directory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from queue_core import Backoff, Queue

TOPIC = "emails"
SMTP_HOST = "127.0.0.1"
SENDER = "queuedeck-example@example.com"

# Three attempts with waits of about 0.5 s and 1 s between them, so a rejected
# address becomes a dead letter within a few seconds of being queued.
MAX_RETRIES = 3
RETRY_BACKOFF = Backoff(base=0.5, factor=2.0, maximum=5.0, jitter=0.1)

DEFAULT_SMTP_PORT = 8025
DEFAULT_REJECT_RECIPIENT = "bad@example.com"


@dataclass(frozen=True)
class ExampleSettings:
    """The example's own settings, built by :meth:`from_env`."""

    data_dir: Path
    smtp_port: int = DEFAULT_SMTP_PORT
    reject_recipient: str | None = DEFAULT_REJECT_RECIPIENT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ExampleSettings:
        """Read the ``EXAMPLE_*`` variables of *environ* (default ``os.environ``).

        :raises ValueError: if ``EXAMPLE_SMTP_PORT`` is not a port number.
        """
        source = os.environ if environ is None else environ
        reject = source.get("EXAMPLE_REJECT_RECIPIENT", DEFAULT_REJECT_RECIPIENT)
        return cls(
            data_dir=Path(source.get("EXAMPLE_DATA_DIR") or "data").absolute(),
            smtp_port=_port(source.get("EXAMPLE_SMTP_PORT"), DEFAULT_SMTP_PORT),
            reject_recipient=reject.strip().lower() or None,
        )

    @property
    def mail_dir(self) -> Path:
        """The Maildir where the SMTP server stores every accepted message."""
        return self.data_dir / "mail"


def make_queue() -> Queue:
    """Open the ``emails`` queue with automatic retry turned on."""
    return Queue(TOPIC, max_retries=MAX_RETRIES, retry_backoff=RETRY_BACKOFF)


def _port(text: str | None, default: int) -> int:
    if text is None or not text.strip():
        return default
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ValueError(
            f"invalid EXAMPLE_SMTP_PORT {text!r}; set it to a port from 1 to 65535"
        )
    return port
