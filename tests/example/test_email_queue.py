"""The email queue example end to end: HTTP, worker, real SMTP, console.

The web app and the worker run as the README starts them, through
``scripts/example`` (honcho with examples/email_queue/Procfile), on free ports
and a temporary data directory. The SMTP server runs as a process of its own
with the Procfile's ``smtp`` command. honcho stops every process as soon as one
of them exits, so under honcho the SMTP server could not be restarted alone.

The SMTP server is restarted without the rejection before the dead letter is
retried, not after. An operator's retry gives a dead letter exactly one more
attempt, and the worker claims a pending job within its poll interval, so a
job retried while the server still rejects its recipient is dead again at once.
"""

from __future__ import annotations

import contextlib
import json
import mailbox
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.browser, pytest.mark.example]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = ROOT / "examples" / "email_queue"
SCREENSHOTS = ROOT / "test-output" / "screenshots"

EMAILS = 50
REJECTED = "bad@example.com"
REJECTED_EVERY = 10
START_TIMEOUT = 120.0  # the first run of scripts/example installs packages
SETTLE_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


# Processes --------------------------------------------------------------------


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"process exited with {process.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(
        f"nothing listens on port {port} after {START_TIMEOUT} s:\n{log.read_text()}"
    )


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop *process* and its process group: SIGTERM, then SIGKILL."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)


def stop_leftovers(honcho_log: Path) -> None:
    """Kill what honcho started if honcho died without stopping it.

    honcho starts each Procfile process in a session of its own and prints
    ``web.1 started (pid=N)``, where N is that session's process group.
    """
    for line in honcho_log.read_text(errors="replace").splitlines():
        if " started (pid=" not in line or "system" not in line:
            continue
        pid = int(line.rsplit("pid=", 1)[1].rstrip(")"))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


@dataclass
class Example:
    """The running example: honcho with the app and worker, and the SMTP server."""

    env: dict[str, str]
    data_dir: Path
    logs: Path
    app_port: int
    smtp_port: int
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    smtp: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    def start_app_and_worker(self) -> None:
        log = self.logs / "honcho.log"
        process = self._spawn([str(ROOT / "scripts" / "example"), "web", "worker"], log)
        wait_for_port(self.app_port, process, log)

    def start_smtp(self, *, reject: str) -> None:
        log = self.logs / f"smtp-{len(self.processes)}.log"
        env = {**self.env, "EXAMPLE_REJECT_RECIPIENT": reject}
        self.smtp = self._spawn(
            [str(ROOT / ".venv" / "bin" / "python"), "smtp_server.py"], log, env
        )
        wait_for_port(self.smtp_port, self.smtp, log)

    def stop_smtp(self) -> None:
        assert self.smtp is not None
        stop_group(self.smtp)

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_group(process)
        stop_leftovers(self.logs / "honcho.log")

    def _spawn(
        self, command: list[str], log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with log.open("wb") as output:
            process = subprocess.Popen(
                command,
                cwd=EXAMPLE_DIR,
                env=self.env if env is None else env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process


@pytest.fixture
def example(tmp_path: Path) -> Iterator[Example]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TINA4_QUEUE_", "EXAMPLE_", "QUEUEDECK_"))
    }
    app_port, smtp_port = free_port(), free_port()
    data_dir = tmp_path / "data"
    logs = tmp_path / "logs"
    logs.mkdir()
    env.update(
        EXAMPLE_PORT=str(app_port),
        EXAMPLE_SMTP_PORT=str(smtp_port),
        EXAMPLE_DATA_DIR=str(data_dir),
        QUEUEDECK_REFRESH_SECONDS="1",
        PYTHONUNBUFFERED="1",
    )
    running = Example(env, data_dir, logs, app_port, smtp_port)
    try:
        # scripts/example first: it installs aiosmtpd when it is missing.
        running.start_app_and_worker()
        running.start_smtp(reject=REJECTED)
        yield running
    finally:
        running.stop()
        for log in sorted(logs.iterdir()):
            print(f"--- {log.name}\n{log.read_text(errors='replace')}")


# HTTP -------------------------------------------------------------------------


def request_json(
    url: str, data: bytes | None = None, method: str = "GET"
) -> tuple[int, Any]:
    """Send a request with no cookie or token, as curl does.

    Returns the response status and its decoded JSON body.
    """
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


def post_json(url: str, body: object) -> tuple[int, Any]:
    return request_json(url, json.dumps(body).encode(), "POST")


def wait_until(
    check: Callable[[], Any], timeout: float = SETTLE_TIMEOUT, interval: float = 0.2
) -> Any:
    """Call *check* until it returns a true value or *timeout* seconds pass.

    Returns the last value *check* returned.
    """
    deadline = time.monotonic() + timeout
    result = check()
    while not result and time.monotonic() < deadline:
        time.sleep(interval)
        result = check()
    return result


def delivered_to(mail_dir: Path) -> list[str]:
    """Return the To address of every message the SMTP server stored."""
    if not (mail_dir / "new").is_dir():
        return []
    return [str(message["To"]) for message in mailbox.Maildir(mail_dir).values()]


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"example-{name}.png"), full_page=True)


# The test ---------------------------------------------------------------------


def test_email_queue_end_to_end(example: Example, page: Page) -> None:
    started = time.monotonic()
    api = example.url + "/api/emails"
    mail_dir = example.data_dir / "mail"

    # 50 emails over HTTP, every tenth to the address the SMTP server rejects.
    recipients = [
        REJECTED if n % REJECTED_EVERY == 3 else f"user{n}@example.com"
        for n in range(EMAILS)
    ]
    ids: dict[str, str] = {}
    for n, to in enumerate(recipients):
        status, body = post_json(
            api + "/send", {"to": to, "subject": f"Email {n}", "body": "Hello"}
        )
        assert status == 201, body
        ids[body["id"]] = to
    rejected_ids = {job_id for job_id, to in ids.items() if to == REJECTED}
    assert len(rejected_ids) == 5

    status, body = post_json(api + "/send", {"to": "", "subject": "s"})
    assert status == 400
    assert set(body["errors"]) == {"to", "body"}
    status, body = request_json(api + "/send", b"not json", "POST")
    assert status == 400
    assert "error" in body

    # The worker settles every job on its own: 45 sent, 5 dead after 3 attempts.
    def settled() -> dict[str, int] | None:
        counts: dict[str, int] = request_json(api + "/queue")[1]["counts"]
        return counts if counts["completed"] + counts["dead"] == EMAILS else None

    counts = wait_until(settled)
    assert counts, request_json(api + "/queue")[1]
    assert counts["completed"] == 45
    assert counts["dead"] == 5
    assert counts["pending"] == 0
    assert counts["failed"] == 0

    status, dead = request_json(api + "/dead")
    assert status == 200
    assert dead["count"] == 5
    assert {letter["id"] for letter in dead["dead"]} == rejected_ids
    for letter in dead["dead"]:
        assert letter["attempts"] == 3, letter
        assert letter["payload"]["to"] == REJECTED
        assert "SMTPRecipientsRefused" in letter["error"]
        assert "550" in letter["error"]
    assert sorted(delivered_to(mail_dir)) == sorted(
        to for to in recipients if to != REJECTED
    )

    # The console's own POST routes still need a CSRF token.
    job_id = sorted(rejected_ids)[0]
    console = example.url + "/admin/queues"
    status, body = request_json(
        f"{console}/api/topics/emails/jobs/{job_id}/retry", b"", "POST"
    )
    assert status == 400, body
    assert request_json(api + "/queue")[1]["counts"]["dead"] == 5

    # The console shows the same counts.
    page.goto(console + "/")
    row = page.locator('tr[data-topic="emails"]')
    expect(row.locator('td[data-status="completed"]')).to_have_text("45")
    expect(row.locator('td[data-status="dead"]')).to_have_text("5")
    expect(row.locator('td[data-status="pending"]')).to_have_text("0")
    expect(row.locator("td[data-workers]")).to_have_text("1")
    screenshot(page, "overview")

    row.locator('td[data-status="dead"] a').click()
    expect(page.locator("#job-list tr[data-job-id]")).to_have_count(5)
    job_row = page.locator(f'tr[data-job-id="{job_id}"]')
    expect(job_row).to_contain_text(REJECTED)
    screenshot(page, "dead")

    # Fix the cause first, then retry the dead letter with one click.
    example.stop_smtp()
    example.start_smtp(reject="")
    job_row.get_by_role("button", name="Retry").click()
    expect(job_row).to_contain_text("moved to pending")
    expect(page.locator('#topic-counts a[data-status="dead"] .count')).to_have_text("4")
    screenshot(page, "retried")

    # The worker sends it on its fourth attempt.
    def completed() -> bool:
        job = request_json(f"{console}/api/topics/emails/jobs/{job_id}")[1]
        return bool(job["status"] == "completed")

    assert wait_until(completed), request_json(
        f"{console}/api/topics/emails/jobs/{job_id}"
    )
    page.goto(f"{console}/topics/emails/jobs/{job_id}")
    expect(page.locator("span.badge[data-status]")).to_have_text("completed")
    screenshot(page, "job-completed")

    page.goto(console + "/")
    expect(row.locator('td[data-status="completed"]')).to_have_text("46")
    expect(row.locator('td[data-status="dead"]')).to_have_text("4")
    screenshot(page, "overview-after-retry")
    assert delivered_to(mail_dir).count(REJECTED) == 1
    assert request_json(api + "/dead")[1]["count"] == 4

    print(f"end-to-end run took {time.monotonic() - started:.1f} s")
