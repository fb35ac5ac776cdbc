"""The queuedeck command line, run through click's CliRunner on a temporary store."""

from __future__ import annotations

import json
import sys
import time
import types
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from queue_core import JobStatus, Queue
from queue_core.cli import cli


@pytest.fixture(autouse=True)
def queue_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the file backend at a fresh directory and ignore any .env file."""
    for name in ("TINA4_QUEUE_BACKEND", "TINA4_QUEUE_PREFIX", "TINA4_QUEUE_URL"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "queue"
    monkeypatch.setenv("TINA4_QUEUE_PATH", str(path))
    monkeypatch.chdir(tmp_path)
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def table(output: str) -> list[list[str]]:
    return [line.split() for line in output.splitlines()]


def make_dead_letter(topic: str, payload: dict[str, object], error: str) -> str:
    with Queue(topic, max_retries=1) as queue:
        job_id = queue.push(payload)
        job = queue.pop()
        assert job is not None
        assert job.fail(error)
    return job_id


def make_failed_job(topic: str, error: str) -> str:
    with Queue(topic, max_retries=3) as queue:
        job_id = queue.push({"n": 1})
        job = queue.pop()
        assert job is not None
        assert job.fail(error)
    return job_id


# push -----------------------------------------------------------------------


def test_push_prints_id_and_stores_job() -> None:
    result = run("push", "emails", '{"to": "alice@example.com"}')

    assert result.exit_code == 0, result.output
    job_id = result.stdout.strip()
    with Queue("emails") as queue:
        job = queue.require(job_id)
    assert job.payload == {"to": "alice@example.com"}
    assert job.status is JobStatus.PENDING
    assert job.priority == 0


def test_push_sets_delay_and_priority() -> None:
    before = time.time()
    result = run("push", "emails", '{"n": 1}', "--delay", "60", "--priority", "7")

    assert result.exit_code == 0, result.output
    with Queue("emails") as queue:
        job = queue.require(result.stdout.strip())
        assert queue.pop() is None
    assert job.priority == 7
    assert job.available_at.timestamp() >= before + 60


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "payload must be a dict"),
        ('{"n": NaN}', "JSON has no NaN"),
        ('{"n": 99999999999999999999}', "outside the signed 64-bit range"),
    ],
    ids=["not-json", "array", "nan", "huge-int"],
)
def test_push_rejects_bad_payload(payload: str, message: str) -> None:
    result = run("push", "emails", payload)

    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    with Queue("emails") as queue:
        assert queue.topics() == []


def test_push_rejects_payload_over_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINA4_QUEUE_MAX_PAYLOAD_BYTES", "20")

    result = run("push", "emails", json.dumps({"body": "x" * 50}))

    assert result.exit_code == 2
    assert "over the limit of 20 bytes" in result.stderr
    with Queue("emails") as queue:
        assert queue.counts()["pending"] == 0


def test_push_rejects_invalid_topic() -> None:
    result = run("push", "no spaces", "{}")

    assert result.exit_code == 2
    assert "invalid topic 'no spaces'" in result.stderr


@pytest.mark.parametrize(
    "option", [["--priority", "10"], ["--priority", "-1"], ["--delay", "-5"]]
)
def test_push_rejects_out_of_range_options(option: list[str]) -> None:
    result = run("push", "emails", "{}", *option)

    assert result.exit_code == 2
    assert option[0] in result.stderr


# stats ----------------------------------------------------------------------


def test_stats_table_lists_every_topic() -> None:
    with Queue("alpha") as queue:
        queue.push({"n": 1})
        queue.push({"n": 2})
        job = queue.pop()
        assert job is not None
        assert job.complete()
    make_dead_letter("beta", {"n": 3}, "boom")

    result = run("stats")

    assert result.exit_code == 0, result.output
    assert table(result.stdout) == [
        ["TOPIC", "PENDING", "RESERVED", "COMPLETED", "FAILED", "DEAD"],
        ["alpha", "1", "0", "1", "0", "0"],
        ["beta", "0", "0", "0", "0", "1"],
    ]


def test_stats_one_topic_as_json() -> None:
    with Queue("alpha") as queue:
        queue.push({"n": 1})
        queue.pop()
    Queue("beta").push({"n": 2})

    result = run("stats", "alpha", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "alpha": {"pending": 0, "reserved": 1, "completed": 0, "failed": 0, "dead": 0}
    }


def test_stats_all_topics_as_json() -> None:
    Queue("alpha").push({"n": 1})
    make_failed_job("beta", "try again")

    result = run("stats", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "alpha": {"pending": 1, "reserved": 0, "completed": 0, "failed": 0, "dead": 0},
        "beta": {"pending": 0, "reserved": 0, "completed": 0, "failed": 1, "dead": 0},
    }


def test_stats_without_jobs(queue_path: Path) -> None:
    result = run("stats")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "no jobs on any topic yet"
    assert not queue_path.exists()


def test_stats_unknown_topic_shows_zeros() -> None:
    result = run("stats", "nothing-here")

    assert result.exit_code == 0, result.output
    assert table(result.stdout)[1] == ["nothing-here", "0", "0", "0", "0", "0"]


# dead -----------------------------------------------------------------------


def test_dead_lists_dead_letters() -> None:
    job_id = make_dead_letter(
        "emails", {"to": "bob@example.com"}, "SMTPError: mailbox full"
    )
    make_failed_job("emails", "not dead yet")

    result = run("dead", "emails")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "ATTEMPTS", "ERROR", "PAYLOAD"]
    assert len(lines) == 2
    assert lines[1].split()[:2] == [job_id, "1"]
    assert "SMTPError: mailbox full" in lines[1]
    assert '{"to":"bob@example.com"}' in lines[1]


def test_dead_shortens_long_errors_to_one_line() -> None:
    make_dead_letter("emails", {"n": 1}, "first line\nsecond line " + "x" * 200)

    result = run("dead", "emails")

    assert result.exit_code == 0, result.output
    row = result.stdout.splitlines()[1]
    assert "first line second line xxx" in row
    assert "..." in row
    assert "x" * 100 not in row


def test_dead_as_json_with_limit() -> None:
    make_dead_letter("emails", {"n": 1}, "older")
    newest = make_dead_letter("emails", {"n": 2}, "newer")

    result = run("dead", "emails", "--limit", "1", "--json")

    assert result.exit_code == 0, result.output
    letters = json.loads(result.stdout)
    assert len(letters) == 1
    assert letters[0]["id"] == newest
    assert letters[0]["attempts"] == 1
    assert letters[0]["error"] == "newer"
    assert letters[0]["payload"] == {"n": 2}


def test_dead_without_dead_letters() -> None:
    result = run("dead", "emails")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "no dead letters on topic 'emails'"


# retry ----------------------------------------------------------------------


def test_retry_one_dead_letter_by_id() -> None:
    job_id = make_dead_letter("emails", {"n": 1}, "boom")

    result = run("retry", "emails", job_id)

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "1 job moved to pending"
    with Queue("emails") as queue:
        job = queue.require(job_id)
    assert job.status is JobStatus.PENDING
    assert job.attempts == 1


def test_retry_all_moves_failed_not_dead() -> None:
    failed_ids = [make_failed_job("emails", "flaky") for _ in range(2)]
    dead_id = make_dead_letter("emails", {"n": 9}, "fatal")

    result = run("retry", "emails", "--all")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "2 jobs moved to pending"
    with Queue("emails") as queue:
        for job_id in failed_ids:
            assert queue.require(job_id).status is JobStatus.PENDING
        assert queue.require(dead_id).status is JobStatus.DEAD


def test_retry_all_uses_workers_limit() -> None:
    # The job was claimed by a worker with max_retries=5, so after 4 failed
    # attempts it still has one left, whatever limit the CLI's queue has.
    with Queue("emails", max_retries=5) as queue:
        job_id = queue.push({"n": 1})
        for _ in range(3):
            job = queue.pop()
            assert job is not None
            assert job.fail("flaky")
            queue.retry(job_id)
        job = queue.pop()
        assert job is not None
        assert job.fail("flaky")

    result = run("retry", "emails", "--all")

    assert result.stdout.strip() == "1 job moved to pending"
    with Queue("emails") as queue:
        assert queue.require(job_id).status is JobStatus.PENDING
        assert queue.require(job_id).attempts == 4


def test_retry_unknown_id_fails() -> None:
    Queue("emails").push({"n": 1})

    result = run("retry", "emails", "no-such-job")

    assert result.exit_code == 1
    assert "no job 'no-such-job' on topic 'emails'" in result.stderr
    assert "Traceback" not in result.output


def test_retry_pending_job_fails() -> None:
    job_id = Queue("emails").push({"n": 1})

    result = run("retry", "emails", job_id)

    assert result.exit_code == 1
    assert f"job {job_id!r} is pending" in result.stderr


@pytest.mark.parametrize("args", [[], ["some-id", "--all"]], ids=["neither", "both"])
def test_retry_needs_id_or_all(args: list[str]) -> None:
    result = run("retry", "emails", *args)

    assert result.exit_code == 2
    assert "give either a job ID or --all" in result.stderr


# purge ----------------------------------------------------------------------


def test_purge_removes_jobs_of_status() -> None:
    with Queue("emails") as queue:
        queue.push({"n": 1})
        queue.push({"n": 2})
    make_failed_job("emails", "flaky")
    make_dead_letter("emails", {"n": 3}, "fatal")

    pending = run("purge", "emails", "pending")
    failed = run("purge", "emails", "failed")

    assert pending.exit_code == 0, pending.output
    assert pending.stdout.strip() == "2 jobs removed"
    assert failed.stdout.strip() == "2 jobs removed"
    with Queue("emails") as queue:
        assert queue.counts() == dict.fromkeys(
            ["pending", "reserved", "completed", "failed", "dead"], 0
        )


def test_purge_rejects_invalid_status() -> None:
    Queue("emails").push({"n": 1})

    result = run("purge", "emails", "reserved")

    assert result.exit_code == 2
    assert "use one of: pending, completed, failed, dead" in result.stderr
    assert Queue("emails").size("pending") == 1


# errors and the console -----------------------------------------------------


def test_library_error_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINA4_QUEUE_BACKEND", "kafkaa")

    result = run("stats")

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: unknown TINA4_QUEUE_BACKEND 'kafkaa'; use one of: file, rabbitmq, "
        "kafka, mongodb. Did you mean 'kafka'?"
    )


def test_serve_without_dashboard(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import raise ImportError.
    monkeypatch.setitem(sys.modules, "dashboard", None)
    monkeypatch.setitem(sys.modules, "dashboard.cli", None)

    result = run("serve", "--port", "8000")

    assert result.exit_code == 1
    assert "pip install 'queuedeck[dashboard]'" in result.stderr
    assert "Traceback" not in result.output


def test_serve_runs_dashboard_command(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    @click.command()
    @click.option("--port", type=int)
    def serve(port: int) -> None:
        calls.append(port)

    module = types.ModuleType("dashboard.cli")
    module.serve = serve  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "dashboard", types.ModuleType("dashboard"))
    monkeypatch.setitem(sys.modules, "dashboard.cli", module)

    result = run("serve", "--port", "8123")

    assert result.exit_code == 0, result.output
    assert calls == [8123]


def test_help_lists_every_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dashboard.cli", None)

    result = run("--help")

    assert result.exit_code == 0, result.output
    for name in ("push", "stats", "dead", "retry", "purge", "worker", "serve"):
        assert f"\n  {name} " in result.stdout


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ('{"a": ' + "[" * 50000 + "]" * 50000 + "}", "nested too deeply"),
        ('{"a": ' + "9" * 5000 + "}", "number that is too long"),
    ],
    ids=["deep", "long-number"],
)
def test_push_hostile_json_rejected(payload: str, message: str) -> None:
    result = run("push", "emails", payload)

    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert Queue("emails").size() == 0


@pytest.mark.parametrize("delay", ["nan", "inf", "-1"])
def test_push_invalid_delay_is_usage_error(delay: str) -> None:
    result = run("push", "emails", "{}", "--delay", delay)

    assert result.exit_code == 2
    assert Queue("emails").size() == 0


def test_handler_syntax_error_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "broken_handler.py").write_text("def send(:\n")

    result = run("worker", "emails", "--handler", "broken_handler:send", "--burst")

    assert result.exit_code == 2
    assert "importing module 'broken_handler' failed: SyntaxError" in result.stderr
    assert "Traceback" not in result.output


# stats --rates and --watch -------------------------------------------------------


class FakeTime:
    """A replacement for the time module of queue_core.cli_rates.

    Each sleep moves the monotonic clock and then runs the next action, so a
    test decides what happens between two counts without waiting. An action
    may raise KeyboardInterrupt, as Ctrl-C does.
    """

    def __init__(self, *actions) -> None:  # type: ignore[no-untyped-def]
        self.now = 1000.0
        self.actions = list(actions)
        self.sleeps: list[float] = []
        self.time = time.time
        self.gmtime = time.gmtime
        self.strftime = time.strftime

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.actions.pop(0)()


def interrupt() -> None:
    raise KeyboardInterrupt


def push_and_settle(topic: str, pushed: int, completed: int = 0) -> None:
    with Queue(topic) as queue:
        for n in range(pushed):
            queue.push({"n": n})
        for _ in range(completed):
            job = queue.pop()
            assert job is not None
            assert job.complete()


def test_stats_rates_prints_per_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    push_and_settle("alpha", 1)
    fake = FakeTime(lambda: push_and_settle("alpha", 3, completed=2))
    monkeypatch.setattr("queue_core.cli_rates.time", fake)

    result = run("stats", "--rates", "--interval", "5")

    assert result.exit_code == 0, result.output
    assert fake.sleeps == [5.0]
    lines = table(result.stdout)
    assert lines[0][:6] == ["jobs", "per", "minute", "over", "the", "last"]
    assert lines[0][6] == "5.0"
    assert lines[1] == [
        "TOPIC",
        "PENDING",
        "OLDEST",
        "PUSHED/MIN",
        "COMPLETED/MIN",
        "FAILED/MIN",
    ]
    assert lines[2][0] == "alpha"
    assert lines[2][1] == "2"
    assert lines[2][2].endswith("s")
    assert lines[2][3:] == ["36.0", "24.0", "0.0"]


def test_stats_rates_total_row(monkeypatch: pytest.MonkeyPatch) -> None:
    push_and_settle("alpha", 1)
    make_dead_letter("beta", {"n": 1}, "boom")

    def work() -> None:
        push_and_settle("alpha", 2)
        make_dead_letter("beta", {"n": 2}, "boom")

    monkeypatch.setattr("queue_core.cli_rates.time", FakeTime(work))

    result = run("stats", "--rates", "--interval", "60")

    assert result.exit_code == 0, result.output
    rows = {line[0]: line[1:] for line in table(result.stdout)[2:] if line}
    assert rows["alpha"] == ["3", rows["alpha"][1], "2.0", "0.0", "0.0"]
    assert rows["beta"] == ["0", "-", "1.0", "0.0", "1.0"]
    assert rows["(all"][1:] == ["3", rows["(all"][2], "3.0", "0.0", "1.0"]


def test_stats_rates_purge_counts_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    push_and_settle("alpha", 5, completed=5)

    def purge_and_push() -> None:
        with Queue("alpha") as queue:
            assert queue.purge("completed") == 5
        push_and_settle("alpha", 1)

    monkeypatch.setattr("queue_core.cli_rates.time", FakeTime(purge_and_push))

    result = run("stats", "alpha", "--rates", "--interval", "10", "--json")

    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["topics"]
    assert row["topic"] == "alpha"
    assert row["pending"] == 1
    assert row["pushed_per_minute"] == 0.0
    assert row["completed_per_minute"] == 0.0


def test_stats_watch_refreshes_until_interrupt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    push_and_settle("alpha", 1)
    fake = FakeTime(
        lambda: push_and_settle("alpha", 2),
        lambda: push_and_settle("alpha", 0, completed=1),
        interrupt,
    )
    monkeypatch.setattr("queue_core.cli_rates.time", fake)

    result = run("stats", "--watch", "--interval", "10", "--json")

    assert result.exit_code == 0, result.output
    assert fake.sleeps == [10.0, 10.0, 10.0]
    frames = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(frames) == 2
    assert frames[0]["topics"][0]["pushed_per_minute"] == 12.0
    assert frames[0]["topics"][0]["completed_per_minute"] == 0.0
    assert frames[1]["topics"][0]["pushed_per_minute"] == 0.0
    assert frames[1]["topics"][0]["completed_per_minute"] == 6.0
    assert "Aborted" not in result.output


def test_stats_interval_below_one_second() -> None:
    result = run("stats", "--rates", "--interval", "0.5")

    assert result.exit_code == 2
    assert "--interval" in result.output


# The audit log ------------------------------------------------------------------


def test_retry_and_purge_are_audited() -> None:
    job_id = make_dead_letter("emails", {"n": 1}, "boom")
    make_dead_letter("emails", {"n": 2}, "boom")

    assert run("retry", "emails", job_id).exit_code == 0
    assert run("purge", "emails", "dead").exit_code == 0
    result = run("audit", "--json")

    assert result.exit_code == 0, result.output
    purge, retry = json.loads(result.output)["entries"]
    assert retry["action"] == "retry"
    assert retry["job_ids"] == [job_id]
    assert retry["count"] == 1
    assert retry["actor"].endswith(" (cli)")
    assert purge["action"] == "purge"
    assert purge["count"] == 1
    assert purge["scope"] == "every dead job of topic 'emails'"


def test_retry_of_pending_job_audited_with_zero() -> None:
    job_id = run("push", "emails", "{}").output.strip()

    result = run("retry", "emails", job_id)
    entries = json.loads(run("audit", "--json").output)["entries"]

    assert result.exit_code == 1
    [entry] = entries
    assert entry["action"] == "retry"
    assert entry["count"] == 0
    assert entry["job_ids"] == [job_id]
    assert entry["scope"] == f"job {job_id}"


def test_audit_table_and_cursor() -> None:
    for n in range(3):
        make_dead_letter("emails", {"n": n}, "boom")
        run("purge", "emails", "dead")

    first = run("audit", "--limit", "2")
    cursor = first.output.splitlines()[-1].split("--cursor ")[1]
    second = run("audit", "--limit", "2", "--cursor", cursor)

    assert first.exit_code == 0, first.output
    assert len(first.output.splitlines()) == 3
    assert "  purge  emails  1  every dead job of topic 'emails'" in first.output
    assert second.output.count("  purge  emails  ") == 1
    assert "older entries" not in second.output


@pytest.mark.parametrize("cursor", ["abc", "-1", "99999999999999999999999"])
def test_audit_rejects_invalid_cursor(cursor: str) -> None:
    result = run("audit", "--cursor", cursor)

    assert result.exit_code == 1
    assert not isinstance(result.exception, OverflowError)
    assert f"invalid audit cursor {cursor!r}" in result.output


def test_audit_empty() -> None:
    result = run("audit")

    assert result.exit_code == 0
    assert result.output == "no operator actions recorded\n"


# Lineage and sending ------------------------------------------------------------


def test_send_and_lineage_commands() -> None:
    old_id = make_dead_letter("emails", {"to": "bad@example.com"}, "SMTPError: 550")

    sent = run("send", "emails", old_id, "--to", "manual", "--payload", '{"to": "b"}')
    new_id = sent.output.strip()
    text = run("lineage", "manual", new_id)
    data = json.loads(run("lineage", "emails", old_id, "--json").output)

    assert sent.exit_code == 0, sent.output
    with Queue("manual") as queue:
        job = queue.get(new_id)
    assert job is not None
    assert job.payload == {"to": "b"}
    assert job.retry_of == old_id
    assert f"sent from job {old_id} of topic emails by " in text.output
    assert "attempt 1  dead  SMTPError: 550" in text.output
    assert data["sent_as"]["job_id"] == new_id
    assert data["sent_as"]["topic"] == "manual"
    audit = json.loads(run("audit", "--json").output)["entries"]
    assert [entry["action"] for entry in audit] == ["send"]


def test_send_rejects_pending_job() -> None:
    job_id = run("push", "emails", "{}").output.strip()

    result = run("send", "emails", job_id, "--to", "other")

    assert result.exit_code == 1
    assert "only failed and dead jobs can be sent" in result.output


def test_lineage_under_other_topic_is_empty() -> None:
    old_id = make_dead_letter("emails", {"n": 1}, "SMTPError: 550")
    run("send", "emails", old_id, "--to", "manual")

    text = run("lineage", "billing", old_id)
    data = json.loads(run("lineage", "billing", old_id, "--json").output)

    assert text.exit_code == 0
    assert text.output == (
        f"no failed attempt of job {old_id} of topic billing recorded\n"
    )
    assert data == {"job_id": old_id, "attempts": [], "sent_from": [], "sent_as": None}


def test_lineage_of_unrecorded_job() -> None:
    result = run("lineage", "emails", "0" * 16)

    assert result.exit_code == 0
    assert "no failed attempt of job 0000000000000000 of topic emails recorded" in (
        result.output
    )


# Payload edits ------------------------------------------------------------------


def test_edit_retries_after_confirmation() -> None:
    job_id = make_dead_letter("emails", {"to": "bad"}, "boom")

    declined = CliRunner().invoke(
        cli, ["edit", "emails", job_id, '{"to": "ok"}'], input="n\n"
    )
    accepted = CliRunner().invoke(
        cli, ["edit", "emails", job_id, '{"to": "ok"}'], input="y\n"
    )

    assert declined.exit_code == 1
    assert '-  "to": "bad"' in declined.output
    assert '+  "to": "ok"' in declined.output
    assert accepted.exit_code == 0, accepted.output
    assert "moved to pending with edit 1" in accepted.output
    with Queue("emails") as queue:
        job = queue.get(job_id)
    assert job is not None
    assert job.payload == {"to": "ok"}
    assert job.status == JobStatus.PENDING


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ('{"n": NaN}', "payload['n'] is nan"),
        ('{"n": Infinity}', "payload['n'] is inf"),
        ("[1]", "payload must be a dict (a JSON object), not list"),
        ('{"text": "' + "x" * 2000 + '"}', "over the limit of 1024 bytes"),
    ],
)
def test_edit_rejects_invalid_payload_before_prompt(
    monkeypatch: pytest.MonkeyPatch, payload: str, message: str
) -> None:
    monkeypatch.setenv("TINA4_QUEUE_MAX_PAYLOAD_BYTES", "1024")
    job_id = make_dead_letter("emails", {"to": "bad"}, "boom")

    result = CliRunner().invoke(cli, ["edit", "emails", job_id, payload], input="y\n")

    assert result.exit_code == 1
    assert message in result.output
    assert "Retry the job with this payload?" not in result.output
    with Queue("emails") as queue:
        job = queue.get(job_id)
    assert job is not None
    assert job.status == JobStatus.DEAD
    assert job.payload == {"to": "bad"}


def test_edit_undo_and_revisions() -> None:
    job_id = make_dead_letter("emails", {"to": "bad"}, "boom")
    run("edit", "emails", job_id, '{"to": "ok"}', "--yes")
    with Queue("emails", max_retries=1) as queue:
        job = queue.pop()
        assert job is not None
        assert job.fail("boom again")

    undone = run("edit", "emails", job_id, "--undo", "1", "--yes")
    listed = run("revisions", "emails", job_id)
    data = json.loads(run("revisions", "emails", job_id, "--json").output)

    assert undone.exit_code == 0, undone.output
    assert "moved to pending with edit 2" in undone.output
    assert "edit 2: " in listed.output
    assert ", undoing 1" in listed.output
    assert [r["after"] for r in data["revisions"]] == [{"to": "bad"}, {"to": "ok"}]


def test_revisions_under_other_topic_empty() -> None:
    job_id = make_dead_letter("emails", {"to": "bad"}, "boom")
    run("edit", "emails", job_id, '{"to": "ok"}', "--yes")

    listed = run("revisions", "billing", job_id)

    assert listed.exit_code == 0
    assert (
        listed.output == f"no payload edit of job {job_id} of topic billing recorded\n"
    )


def test_edit_needs_payload_or_undo() -> None:
    job_id = make_dead_letter("emails", {"to": "bad"}, "boom")

    result = run("edit", "emails", job_id)

    assert result.exit_code == 2
    assert "give either the new payload JSON or --undo EDIT" in result.output


# Bulk retry runs ----------------------------------------------------------------


def test_runs_start_work_and_list() -> None:
    for n in range(3):
        make_dead_letter("emails", {"n": n}, "boom")

    started = run("runs", "start", "emails", "dead", "--rate", "1000")
    run_id = started.output.strip()
    worked = run("runs", "work")
    listed = run("runs", "list")
    shown = json.loads(run("runs", "show", run_id).output)

    assert started.exit_code == 0, started.output
    assert worked.exit_code == 0, worked.output
    assert f"run {run_id}  finished  3 of 3 retried" in listed.output
    assert shown["retried"] == 3
    with Queue("emails") as queue:
        assert queue.counts()["pending"] == 3


def test_runs_start_rejects_huge_min_sample() -> None:
    make_dead_letter("emails", {"n": 1}, "boom")

    result = run(
        "runs", "start", "emails", "dead", "--rate", "1", "--min-sample", "1000001"
    )

    assert result.exit_code == 2
    assert "--min-sample" in result.output
    assert "1<=x<=1000000" in result.output


def test_runs_control_commands() -> None:
    make_dead_letter("emails", {"n": 1}, "boom")
    run_id = run("runs", "start", "emails", "dead", "--rate", "1").output.strip()

    paused = run("runs", "control", "pause", run_id)
    resumed_twice = run("runs", "control", "pause", run_id)
    missing = run("runs", "show", "99")
    huge = run("runs", "show", str(2**70))

    assert paused.exit_code == 0
    assert f"run {run_id}  paused" in paused.output
    assert resumed_twice.exit_code == 1
    assert "cannot pause run" in resumed_twice.output
    assert missing.exit_code == 1
    assert "no bulk retry run 99" in missing.output
    assert huge.exit_code == 1
    assert f"no bulk retry run {2**70}" in huge.output
