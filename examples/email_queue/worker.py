"""The example's worker: sends each queued email over SMTP.

Runs :class:`queue_core.worker.Worker` on the ``emails`` queue with automatic
retry turned on, which ``queuedeck worker`` has no option for. A message the
SMTP server accepts completes its job. Any SMTP or connection error fails the
attempt with the error's text, so a rejected recipient is retried after a
short backoff and becomes a dead letter after its third attempt.

    python worker.py
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from config import SENDER, SMTP_HOST, ExampleSettings, make_queue

from queue_core import Job
from queue_core.worker import Handler, Worker

POLL_INTERVAL = 0.5
SMTP_TIMEOUT = 10.0


def build_message(payload: dict[str, str]) -> EmailMessage:
    """Build the email of one job from its ``to``, ``subject`` and ``body``."""
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = payload["to"]
    message["Subject"] = payload["subject"]
    message.set_content(payload["body"])
    return message


def make_handler(settings: ExampleSettings) -> Handler:
    """Return a job handler that sends through the SMTP server in *settings*."""

    def send_email(job: Job) -> None:
        message = build_message(job.payload)
        with smtplib.SMTP(SMTP_HOST, settings.smtp_port, timeout=SMTP_TIMEOUT) as smtp:
            # Raises SMTPRecipientsRefused when the server rejects the
            # recipient, which fails this attempt with the server's reply.
            smtp.send_message(message)

    return send_email


def main() -> None:
    """Run the worker until SIGTERM or SIGINT."""
    logging.basicConfig(
        level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    settings = ExampleSettings.from_env()
    with make_queue() as queue:
        Worker(queue, make_handler(settings), poll_interval=POLL_INTERVAL).run()


if __name__ == "__main__":
    main()
