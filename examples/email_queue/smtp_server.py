"""A local SMTP server for the example: stores mail, rejects one recipient.

Listens on 127.0.0.1 at ``EXAMPLE_SMTP_PORT`` (default 8025) with aiosmtpd,
stores every accepted message in the Maildir ``mail`` under
``EXAMPLE_DATA_DIR``, and replies to ``RCPT TO`` for ``EXAMPLE_REJECT_RECIPIENT``
(default ``bad@example.com``) with a permanent ``550`` error, as a mail server
does for an address that does not exist. Stop it with SIGTERM or Ctrl-C.

    python smtp_server.py
"""

from __future__ import annotations

import asyncio
import logging
import signal
from email.message import Message

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, Envelope, Session
from config import SMTP_HOST, ExampleSettings

logger = logging.getLogger("smtp_server")


class ExampleMailbox(Mailbox):
    """An aiosmtpd handler that rejects one recipient and stores the rest."""

    def __init__(self, settings: ExampleSettings) -> None:
        # Maildir creates its cur, new and tmp folders only with the folder
        # itself, so only the parent is created here.
        settings.mail_dir.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(settings.mail_dir)
        self.reject_recipient = settings.reject_recipient

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.reject_recipient is not None and address.lower() == (
            self.reject_recipient
        ):
            logger.info("rejected recipient %s", address)
            return f"550 5.1.1 <{address}>: recipient address rejected"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def handle_message(self, message: Message) -> None:
        super().handle_message(message)
        logger.info(
            "stored message %s for %s", message["Message-ID"], message["X-RcptTo"]
        )


async def serve(settings: ExampleSettings) -> None:
    """Run the SMTP server until SIGTERM or SIGINT."""
    handler = ExampleMailbox(settings)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="localhost"), SMTP_HOST, settings.smtp_port
    )
    stopped = asyncio.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stopped.set)

    rejecting = settings.reject_recipient or "no recipient"
    logger.info(
        "SMTP server listening on %s:%d, storing mail in %s, rejecting %s",
        SMTP_HOST,
        settings.smtp_port,
        settings.mail_dir,
        rejecting,
    )
    async with server:
        await stopped.wait()
    logger.info("SMTP server stopped")


def main() -> None:
    """Configure logging and run the server with the environment's settings."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    # aiosmtpd logs every SMTP command at INFO, so its logger is raised to
    # WARNING and this server logs one line per stored or rejected message.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    asyncio.run(serve(ExampleSettings.from_env()))


if __name__ == "__main__":
    main()
