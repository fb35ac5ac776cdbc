"""MongoDB behaviour beyond the contract suite: URLs, indexes, claims, faults."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pymongo
import pytest
from pymongo.collection import Collection
from pymongo.errors import AutoReconnect

from queue_core import ConfigurationError, Job, PayloadTooLargeError, Queue, Settings
from queue_core.backends.mongodb import (
    MAX_DOCUMENT_BYTES,
    MAX_PAYLOAD_BYTES,
    MongoDBBackend,
    redact,
)
from queue_core.backends.mongodb.connection import JOBS, database_name
from queue_core.errors import BackendUnavailableError

from .conftest import MakeQueue, restart_server

# SecantusDB, the test server, scans every pending job on each claim and
# retries claims that conflict, so four processes draining 1,000 jobs take a
# few minutes there; on MongoDB the same test takes seconds.
PROCESS_JOB_COUNT = 1000
PROCESS_COUNT = 4


def jobs_collection(queue: Queue) -> Any:
    backend = queue.backend
    assert isinstance(backend, MongoDBBackend)
    return backend.connection.collections().jobs


def pop_within(queue: Queue, seconds: float) -> Job | None:
    deadline = time.monotonic() + seconds
    while (job := queue.pop()) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    return job


# URLs -------------------------------------------------------------------------


def test_redact_hides_password() -> None:
    shown = redact("mongodb://user:p%40ss@h1:27017,h2:27017/db?replicaSet=rs")

    assert shown == "mongodb://user:***@h1:27017,h2:27017/db?replicaSet=rs"
    assert redact("mongodb://host:27017/db") == "mongodb://host:27017/db"
    assert redact("mongodb://user@host/db") == "mongodb://user@host/db"


def test_database_comes_from_path() -> None:
    assert database_name("mongodb://host:27017/queue%2Bdb?w=1") == "queue+db"


def test_url_without_database_rejected() -> None:
    settings = Settings(
        backend="mongodb", url="mongodb://user:hunter2secret@host:27017/?w=1"
    )

    with pytest.raises(ConfigurationError) as error:
        Queue("jobs", settings=settings).pop()

    message = str(error.value)
    assert "names no database" in message
    assert "mongodb://user:***@host:27017/?w=1" in message
    assert "mongodb://host:27017/queuedeck" in message
    assert "hunter2secret" not in message


@pytest.mark.parametrize("character", ["/", "?", "@"])
def test_unescaped_password_character_rejected(character: str) -> None:
    url = f"mongodb://user:pa{character}hunter2secret@127.0.0.1:27027/db1"

    assert redact(url) == "mongodb://user:***@127.0.0.1:27027/db1"
    if character == "@":
        # pymongo itself rejects an "@" in the password on first use.
        backend = MongoDBBackend(url, reconnect_timeout=0.5)
        with pytest.raises(ConfigurationError) as error:
            backend.counts("jobs")
        assert "hunter2secret" not in repr(backend)
    else:
        with pytest.raises(ConfigurationError) as error:
            MongoDBBackend(url, reconnect_timeout=0.5)
        assert "percent-encode" in str(error.value)
    assert "TINA4_QUEUE_URL" in str(error.value)
    assert "hunter2secret" not in str(error.value)


def test_at_sign_in_query_is_no_password() -> None:
    url = "mongodb://127.0.0.1:27027/db1?appname=ops@example"

    assert redact(url) == url
    assert database_name(url) == "db1"


@pytest.mark.parametrize("name", ["bad.db", "x" * 64, "a$b"])
def test_invalid_database_name_rejected(name: str) -> None:
    with pytest.raises(ConfigurationError, match="invalid database name") as error:
        database_name(f"mongodb://127.0.0.1:27027/{name}")

    assert repr(name) in str(error.value)


@pytest.mark.parametrize(
    "url",
    [
        # pymongo raises FileNotFoundError for a TLS key file it cannot read.
        "mongodb://user:hunter2secret@127.0.0.1:27027/db1"
        "?tls=true&tlsCertificateKeyFile=/nonexistent/queuedeck-key.pem",
        # pymongo raises ValueError for a host with two ports.
        "mongodb://user:hunter2secret@127.0.0.1:27027:99/db1",
    ],
    ids=["missing-key-file", "two-ports"],
)
def test_invalid_url_option_rejected(url: str) -> None:
    backend = MongoDBBackend(url, reconnect_timeout=0.5)

    with pytest.raises(ConfigurationError) as error:
        backend.counts("jobs")
    backend.close()

    message = str(error.value)
    assert "TINA4_QUEUE_URL" in message
    assert "hunter2secret" not in message


def test_query_secrets_hidden() -> None:
    url = (
        "mongodb://127.0.0.1:27027/db1?tlsCertificateKeyFilePassword=hunter2secret"
        "&authMechanismProperties=AWS_SESSION_TOKEN:hunter3token"
    )

    assert redact(url) == (
        "mongodb://127.0.0.1:27027/db1?tlsCertificateKeyFilePassword=***"
        "&authMechanismProperties=***"
    )


def test_password_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # Port 1 refuses connections, so every try fails fast.
    url = "mongodb://user:hunter2secret@127.0.0.1:1/queuedeck?serverSelectionTimeoutMS=200"
    backend = MongoDBBackend(url, reconnect_timeout=1.0)

    with pytest.raises(BackendUnavailableError) as error:
        backend.counts("jobs")
    backend.close()

    assert "mongodb://user:***@127.0.0.1:1/queuedeck" in str(error.value)
    assert "hunter2secret" not in str(error.value)
    assert "hunter2secret" not in repr(backend)
    assert "***" in caplog.text
    assert "hunter2secret" not in caplog.text


# Storage ----------------------------------------------------------------------


def test_indexes_created_on_first_use(make_queue: MakeQueue) -> None:
    queue = make_queue()
    queue.push({"n": 1})

    indexes = jobs_collection(queue).index_information()

    assert {
        "queuedeck_claim",
        "queuedeck_page",
        "queuedeck_signature",
        "queuedeck_lease",
    } <= set(indexes)
    assert indexes["queuedeck_claim"]["partialFilterExpression"] == {
        "status": "pending"
    }
    assert indexes["queuedeck_lease"]["partialFilterExpression"] == {
        "status": "reserved"
    }


def test_indexes_survive_second_client(make_queue: MakeQueue) -> None:
    first = make_queue()
    first.push({"n": 1})
    second = make_queue()

    assert second.size() == 1
    assert len(jobs_collection(second).index_information()) == 5


def test_job_stored_as_document(make_queue: MakeQueue) -> None:
    queue = make_queue()
    job_id = queue.push({"to": "alice@example.com"}, priority=4)

    document = jobs_collection(queue).find_one({"_id": job_id})

    assert document is not None
    assert document["topic"] == f"{queue.settings.prefix}.jobs"
    assert document["status"] == "pending"
    assert document["priority"] == 4
    assert document["payload"] == '{"to":"alice@example.com"}'
    assert document["lease_token"] is None
    assert len(job_id) == 32


def test_ids_sort_by_push_order(make_queue: MakeQueue) -> None:
    queue = make_queue()
    ids = [queue.push({"n": n}) for n in range(50)]

    assert ids == sorted(ids)


def test_recovery_splits_by_max_retries(make_queue: MakeQueue) -> None:
    # One pass moves each expired job by its own max_retries: a job with
    # attempts left goes back to pending, the others become dead letters.
    lenient = make_queue(max_retries=3, visibility_timeout=1)
    strict = make_queue(max_retries=1, visibility_timeout=1)
    lenient_id = lenient.push({"n": 1})
    strict_id = lenient.push({"n": 2})
    assert lenient.pop() is not None
    assert strict.pop() is not None

    moved = lenient.recover_expired(now=time.time() + 5)

    assert moved == 2
    retried = lenient.get(lenient_id)
    dead = lenient.get(strict_id)
    assert retried is not None
    assert retried.status == "pending"
    assert retried.attempts == 1
    assert dead is not None
    assert dead.status == "dead"
    assert dead.attempts == 1
    assert "lease expired" in (dead.error or "")


def test_search_text_is_literal(make_queue: MakeQueue) -> None:
    # Search text is no regex: "." matches only a dot, and regex syntax
    # or a "$" operator name matches nothing.
    queue = make_queue()
    plain = queue.push({"name": "Alice"})
    dotted = queue.push({"name": "a.ice"})

    assert [job.id for job in queue.search("ALICE")] == [plain]
    assert [job.id for job in queue.search("A.I")] == [dotted]
    assert len(queue.search("(")) == 0
    assert len(queue.search("$where")) == 0


def test_long_search_text_found(make_queue: MakeQueue) -> None:
    # Too long for one regex on SecantusDB, which compiles at most 1,000
    # characters, or on MongoDB, when each letter takes four.
    queue = make_queue()
    text = "ab" * 4500
    job_id = queue.push({"text": text})
    queue.push({"text": "ab"})

    assert [job.id for job in queue.search(text.upper())] == [job_id]
    assert [job.id for job in queue.search(text + "c")] == []


@pytest.mark.parametrize(
    "size",
    [MAX_DOCUMENT_BYTES - 100, MAX_DOCUMENT_BYTES + 200_000],
    ids=["server-would-reject", "pymongo-would-reject"],
)
def test_payload_over_document_limit_rejected(make_queue: MakeQueue, size: int) -> None:
    queue = make_queue(max_payload_bytes=20_000_000)

    with pytest.raises(PayloadTooLargeError) as error:
        queue.push({"data": "x" * size})

    message = str(error.value)
    assert str(MAX_DOCUMENT_BYTES) in message
    assert "TINA4_QUEUE_MAX_PAYLOAD_BYTES" in message
    assert queue.counts()["pending"] == 0
    assert queue.topics() == []


def test_largest_payload_fails_with_longest_error(make_queue: MakeQueue) -> None:
    # A payload at the pushed limit still has room for the longest error.
    queue = make_queue(max_payload_bytes=20_000_000, max_retries=1)
    queue.push({"data": "x" * (MAX_PAYLOAD_BYTES - 100)})
    job = queue.pop()
    assert job is not None

    assert job.fail("\u00e9" * 200_000)

    assert queue.counts()["dead"] == 1


def test_invalid_cursor_rejected(make_queue: MakeQueue) -> None:
    queue = make_queue()
    queue.push({"n": 1})

    with pytest.raises(ValueError, match="invalid page cursor"):
        queue.jobs("pending", cursor="not-a-cursor")


# Concurrency ------------------------------------------------------------------


def drain(settings: Settings, barrier: Any, output: Path) -> None:
    queue = Queue("bulk", settings=settings)
    barrier.wait(timeout=60)
    lines: list[str] = []
    while (job := queue.pop()) is not None:
        lines.append(job.id if job.complete() else f"lost:{job.id}")
    queue.close()
    output.write_text("\n".join(lines), encoding="utf-8")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_processes_claim_each_job_once(make_queue: MakeQueue, tmp_path: Path) -> None:
    queue = make_queue("bulk")
    pushed = {queue.push({"n": n}) for n in range(PROCESS_JOB_COUNT)}
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESS_COUNT)
    outputs = [tmp_path / f"worker-{n}.txt" for n in range(PROCESS_COUNT)]
    processes = [
        context.Process(target=drain, args=(queue.settings, barrier, output))
        for output in outputs
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=800)

    assert all(process.exitcode == 0 for process in processes)
    claimed = [
        line
        for output in outputs
        for line in output.read_text(encoding="utf-8").splitlines()
    ]
    assert [line for line in claimed if line.startswith("lost:")] == []
    assert len(claimed) == PROCESS_JOB_COUNT
    assert set(claimed) == pushed
    assert sum(1 for output in outputs if output.read_text()) > 1
    counts = queue.counts()
    assert counts["completed"] == PROCESS_JOB_COUNT
    assert counts["reserved"] == 0


# Server restarts --------------------------------------------------------------


@pytest.mark.slow
def test_restart_with_job_in_hand(
    make_queue: MakeQueue, environ: dict[str, str]
) -> None:
    # The job is completed while the server is down, so the settle waits
    # in the backend's retries and lands once the server is back.
    worker = make_queue(
        url=environ["TINA4_QUEUE_URL"] + "?serverSelectionTimeoutMS=500"
    )
    other = make_queue()
    job_id = worker.push({"n": 1})
    job = worker.pop()
    assert job is not None
    results: list[bool] = []
    errors: list[BaseException] = []

    def complete_later() -> None:
        time.sleep(1)
        try:
            results.append(job.complete())
        except BaseException as exc:  # reported by the assert below
            errors.append(exc)

    thread = threading.Thread(target=complete_later)
    thread.start()
    restart_server(down_seconds=3)
    thread.join(timeout=60)

    assert errors == []
    assert results == [True]
    assert pop_within(other, 1) is None
    done = worker.get(job_id)
    assert done is not None
    assert done.status == "completed"
    counts = worker.counts()
    assert counts["completed"] == 1
    assert counts["pending"] == 0
    assert counts["reserved"] == 0


@pytest.mark.slow
def test_restart_while_waiting(
    make_queue: MakeQueue,
    environ: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    # pymongo hides a short outage by retrying once after waiting for the
    # server. A 0.5 s server selection timeout and 3 s of downtime outlast
    # that, so the backend's own retries must carry the consumer through.
    url = environ["TINA4_QUEUE_URL"] + "?serverSelectionTimeoutMS=500"
    consumer = make_queue(url=url)
    producer = make_queue()
    consumer.push({"n": 0})
    seen: list[int] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            for job in consumer.consume(poll_interval=0.2):
                seen.append(job.payload["n"])
                job.complete()
                if len(seen) == 2:
                    return
        except BaseException as exc:  # reported by the assert below
            errors.append(exc)

    thread = threading.Thread(target=consume)
    thread.start()
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.1)

    restart_server(down_seconds=3)
    producer.push({"n": 1})
    thread.join(timeout=60)

    assert not thread.is_alive()
    assert errors == []
    assert seen == [0, 1]
    assert "lost" in caplog.text
    assert "restored" in caplog.text
    assert consumer.counts()["completed"] == 2


def test_unreachable_server_raises_after_wait(make_queue: MakeQueue) -> None:
    queue = make_queue()
    backend = MongoDBBackend(
        "mongodb://127.0.0.1:1/queuedeck?serverSelectionTimeoutMS=100",
        reconnect_timeout=0.5,
    )
    started = time.monotonic()

    with pytest.raises(BackendUnavailableError, match="unreachable"):
        backend.claim(
            "jobs",
            now=time.time(),
            lease_token="t",
            lease_expires_at=time.time() + 30,
            max_retries=3,
        )

    assert time.monotonic() - started < 5
    assert queue.size() == 0


def test_pymongo_sees_same_jobs(make_queue: MakeQueue, environ: dict[str, str]) -> None:
    queue = make_queue()
    queue.push({"n": 1})
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        environ["TINA4_QUEUE_URL"]
    )
    try:
        name = database_name(environ["TINA4_QUEUE_URL"])
        assert client[name][JOBS].count_documents({"status": "pending"}) == 1
    finally:
        client.close()


# Lost replies -----------------------------------------------------------------


def lose_first_reply(monkeypatch: pytest.MonkeyPatch, method: str) -> list[str]:
    """Make the first call of a Collection *method* apply, then raise AutoReconnect.

    Returns a list that records each call, so a test can check the retry ran.
    """
    original = getattr(Collection, method)
    calls: list[str] = []

    def applied_then_lost(self: Collection[Any], *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        calls.append(method)
        if len(calls) == 1:
            raise AutoReconnect("connection closed before the reply")
        return result

    monkeypatch.setattr(Collection, method, applied_then_lost)
    return calls


def test_lost_claim_reply_keeps_job(
    make_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = make_queue()
    first_id = queue.push({"n": 1})
    queue.push({"n": 2})
    calls = lose_first_reply(monkeypatch, "find_one_and_update")

    job = queue.pop()

    # The retry finds the job the lost try reserved, instead of reserving a
    # second one that no worker would hold.
    assert job is not None
    assert job.id == first_id
    assert calls == ["find_one_and_update"]
    assert queue.counts()["reserved"] == 1
    assert queue.counts()["pending"] == 1


def test_lost_settle_reply_reports_success(
    make_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = make_queue()
    queue.push({"n": 1})
    job = queue.pop()
    assert job is not None
    calls = lose_first_reply(monkeypatch, "update_one")

    assert job.complete()
    assert calls == ["update_one", "update_one"]
    assert queue.counts()["completed"] == 1


def test_lost_push_reply_stores_once(
    make_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = make_queue()
    queue.push({"n": 0})  # registers the topic before the patch
    calls = lose_first_reply(monkeypatch, "insert_one")

    job_id = queue.push({"n": 1})

    # The retry's insert fails on the id the lost try stored, so only the
    # first call is recorded, and the backend finds its own job there.
    assert calls == ["insert_one"]
    assert queue.size() == 2
    stored = queue.get(job_id)
    assert stored is not None
    assert stored.payload == {"n": 1}
