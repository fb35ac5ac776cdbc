"""Producing, consuming and inspecting jobs: the everyday calls."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from queue_core import ConfigurationError, JobStatus, Queue

from .conftest import QueueFactory
from .support import pop_within

# The chapter examples ---------------------------------------------------------


def test_push_consume_complete(queue_factory: QueueFactory) -> None:
    queue = queue_factory("emails", max_retries=3)
    job_id = queue.push({"to": "alice@example.com", "subject": "Welcome"})

    seen = []
    for job in queue.consume("emails", poll_interval=0):
        seen.append(job.id)
        assert job.payload == {"to": "alice@example.com", "subject": "Welcome"}
        assert job.status == JobStatus.RESERVED
        assert job.complete() is True

    assert seen == [job_id]
    stored = queue.get(job_id)
    assert stored is not None
    assert stored.status == JobStatus.COMPLETED
    assert stored.attempts == 0


def test_produce_onto_other_topic(queue_factory: QueueFactory) -> None:
    emails = queue_factory("emails")
    job_id = emails.produce("invoices", {"order": 42, "total": "19.99"})

    assert emails.size() == 0
    assert emails.counts("invoices")["pending"] == 1
    assert emails.pop() is None

    invoices = queue_factory("invoices")
    job = invoices.pop()
    assert job is not None
    assert job.id == job_id
    assert job.topic == "invoices"
    assert job.payload == {"order": 42, "total": "19.99"}


def test_consume_other_topic(queue_factory: QueueFactory) -> None:
    emails = queue_factory("emails")
    job_id = emails.produce("invoices", {"order": 7})

    jobs = list(emails.consume("invoices", poll_interval=0))

    assert [job.id for job in jobs] == [job_id]
    assert jobs[0].topic == "invoices"


def test_size_counts_pending(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    assert queue.size() == 0

    for n in range(3):
        queue.push({"n": n})
    assert queue.size() == 3

    job = queue.pop()
    assert job is not None
    assert queue.size() == 2
    assert queue.size("reserved") == 1

    assert job.complete()
    assert queue.size() == 2
    assert queue.size("completed") == 1
    assert queue.size(JobStatus.RESERVED) == 0


def test_consume_by_id_yields_that_job(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    first = queue.push({"n": 1})
    wanted = queue.push({"n": 2})
    last = queue.push({"n": 3})

    jobs = list(queue.consume("emails", id=wanted))

    assert [job.id for job in jobs] == [wanted]
    assert jobs[0].payload == {"n": 2}
    assert queue.size() == 2
    pending = {job.id for job in queue.jobs("pending")}
    assert pending == {first, last}


@pytest.mark.timeout(20)
def test_consume_missing_id_returns(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    queue.push({"n": 1})

    # The default poll_interval would wait forever if consume() kept polling
    # for a job that can never arrive.
    assert list(queue.consume(id="0" * 32)) == []
    assert queue.size() == 1


@pytest.mark.timeout(20)
def test_consume_settled_id_returns(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    job_id = queue.push({"n": 1})
    job = queue.pop()
    assert job is not None
    assert job.complete()

    assert list(queue.consume(id=job_id)) == []


def test_pop_empty_returns_none(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    assert queue.pop() is None

    queue.push({"n": 1})
    assert queue.pop() is not None
    assert queue.pop() is None


# Settling ---------------------------------------------------------------------


def test_release_counts_no_attempt(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    job_id = queue.push({"n": 1})
    job = queue.pop()
    assert job is not None

    assert job.release() is True

    stored = queue.get(job_id)
    assert stored is not None
    assert stored.status == JobStatus.PENDING
    assert stored.attempts == 0
    again = queue.pop()
    assert again is not None
    assert again.id == job_id


def test_settled_job_settles_once(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    job_id = queue.push({"n": 1})
    job = queue.pop()
    assert job is not None
    assert job.complete() is True

    assert job.complete() is False
    assert job.fail("too late") is False

    stored = queue.get(job_id)
    assert stored is not None
    assert stored.status == JobStatus.COMPLETED
    assert stored.attempts == 0
    assert stored.error is None


def test_listed_job_cannot_settle(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    job_id = queue.push({"n": 1})
    listed = queue.get(job_id)
    assert listed is not None

    with pytest.raises(RuntimeError, match="holds no lease"):
        listed.complete()
    assert queue.size() == 1


def test_fail_reason_stored_safely(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    surrogate_id = queue.push({"n": 1})
    long_id = queue.push({"n": 2})

    job = queue.pop()
    assert job is not None
    assert job.fail("decoder saw \udc80 in the input")
    job = queue.pop()
    assert job is not None
    assert job.fail("word " * 20_000)

    surrogate = queue.get(surrogate_id)
    assert surrogate is not None
    assert surrogate.error == "decoder saw ? in the input"
    long = queue.get(long_id)
    assert long is not None
    assert long.error is not None
    assert long.error.startswith("word " * 13_107 + "w [")
    assert long.error.endswith(" [34464 more characters cut]")


def test_fail_with_exception_stores_type(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    job_id = queue.push({"n": 1})
    job = queue.pop()
    assert job is not None

    assert job.fail(ConnectionError("smtp relay refused"))

    stored = queue.get(job_id)
    assert stored is not None
    assert stored.error == "ConnectionError: smtp relay refused"


# Inspecting -------------------------------------------------------------------


def test_counts_in_one_call(queue_factory: QueueFactory) -> None:
    queue = queue_factory("emails")
    queue.push({"n": 1})
    queue.push({"n": 2})
    job = queue.pop()
    assert job is not None
    assert job.complete()
    queue.produce("invoices", {"order": 1})

    assert queue.counts() == {
        "pending": 1,
        "reserved": 0,
        "completed": 1,
        "failed": 0,
        "dead": 0,
    }
    by_topic = queue.counts_by_topic()
    assert set(by_topic) == {"emails", "invoices"}
    assert by_topic["emails"] == queue.counts()
    assert by_topic["invoices"] == queue.counts("invoices")
    assert by_topic["invoices"]["pending"] == 1


def test_delete_skips_reserved(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    held_id = queue.push({"n": 1})
    waiting_id = queue.push({"n": 2})
    held = queue.pop()
    assert held is not None
    assert held.id == held_id

    assert queue.delete(waiting_id) is True
    assert queue.delete(held_id) is False
    assert queue.delete("0" * 32) is False

    assert queue.get(waiting_id) is None
    assert queue.get(held_id) is not None
    assert held.complete() is True


def test_oldest_pending_age(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    assert queue.oldest_pending_age() is None

    queue.push({"n": 1})
    time.sleep(0.2)
    queue.push({"n": 2})

    age = queue.oldest_pending_age()
    assert age is not None
    assert 0.2 <= age < 30


def test_closed_queue_reopens(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    job_id = queue.push({"n": 1})
    queue.close()

    job = queue.pop()
    assert job is not None
    assert job.id == job_id
    queue.close()
    assert job.complete() is True


def test_topics_lists_known_topics(queue_factory: QueueFactory) -> None:
    queue = queue_factory("emails")
    assert queue.topics() == []

    queue.push({"n": 1})
    queue.produce("invoices", {"n": 2})
    queue.produce("a.b-c_d", {"n": 3})

    assert sorted(queue.topics()) == ["a.b-c_d", "emails", "invoices"]


def test_get_returns_job_or_none(queue_factory: QueueFactory) -> None:
    queue = queue_factory("emails")
    job_id = queue.push({"to": "alice@example.com"})
    invoice_id = queue.produce("invoices", {"order": 1})

    job = queue.get(job_id)
    assert job is not None
    assert job.id == job_id
    assert job.topic == "emails"
    assert job.payload == {"to": "alice@example.com"}
    assert job.status == JobStatus.PENDING

    assert queue.get("0" * 32) is None
    assert queue.get(invoice_id) is None
    invoice = queue.get(invoice_id, topic="invoices")
    assert invoice is not None
    assert invoice.payload == {"order": 1}


def test_prefixes_isolate_queues(queue_factory: QueueFactory) -> None:
    alpha = queue_factory("emails", prefix=f"{queue_factory.prefix}-alpha")
    beta = queue_factory("emails", prefix=f"{queue_factory.prefix}-beta")
    job_id = alpha.push({"to": "alice@example.com"})
    alpha.produce("invoices", {"order": 1})

    assert beta.pop() is None
    assert beta.size() == 0
    assert beta.get(job_id) is None
    assert beta.topics() == []
    assert beta.counts_by_topic() == {}
    assert len(beta.search("alice")) == 0
    assert beta.purge("pending") == 0

    assert alpha.size() == 1
    assert sorted(alpha.topics()) == ["emails", "invoices"]
    job = alpha.pop()
    assert job is not None
    assert job.id == job_id


def test_dotted_prefix_rejected(queue_factory: QueueFactory) -> None:
    # Prefix and topic are joined with '.', so a prefix may not contain one:
    # prefix "P" with topic "eu.emails" must never meet prefix "P.eu" with
    # topic "emails".
    with pytest.raises(ConfigurationError) as raised:
        queue_factory("emails", prefix=f"{queue_factory.prefix}.eu")

    assert "TINA4_QUEUE_PREFIX" in str(raised.value)
    assert "'.'" not in str(raised.value).split("use", 1)[1]


# Job fields -------------------------------------------------------------------


def test_timestamps_are_utc(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    before = datetime.now(UTC)
    job_id = queue.push({"n": 1})
    job = queue.pop()
    assert job is not None
    assert job.complete()
    stored = queue.get(job_id)
    assert stored is not None

    for value in (job.created_at, stored.created_at, stored.updated_at):
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
    assert stored.available_at.utcoffset() == timedelta(0)
    assert stored.created_at <= stored.updated_at
    assert before - timedelta(seconds=5) <= stored.created_at
    assert stored.updated_at <= datetime.now(UTC) + timedelta(seconds=5)
    fields = stored.to_dict()
    assert fields["created_at"] == stored.created_at.isoformat()
    assert fields["created_at"].endswith("+00:00")
    assert fields["lease_expires_at"] is None


# Scripts from every direction, astral characters, emoji built with joiners and
# modifiers, decomposed accents that must not be normalised, and control
# characters that JSON has to escape.
UNICODE_TEXTS = {
    "latin": "Ça va? Ñandú, Straße, œuvre",
    "greek": "Καλημέρα κόσμε",
    "cyrillic": "Съешь же ещё этих мягких булок",
    "arabic": "مرحبا بالعالم",
    "hebrew": "שלום עולם",
    "devanagari": "नमस्ते दुनिया",
    "thai": "สวัสดีชาวโลก",
    "cjk": "你好，世界 こんにちは 안녕하세요",  # noqa: RUF001
    # A family joined by zero-width joiners, a flag with a variation selector,
    # a skin-tone modifier and a regional-indicator pair.
    "emoji": "👩\u200d👩\u200d👧\u200d👦 🏳\ufe0f\u200d🌈 👍🏽 🇿🇦",
    "math": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ∑ ∞ ≠",  # noqa: RUF001
    "decomposed": "e\u0301 a\u0308",
    "control": "tab\tnewline\nnul\x00bell\x07",
    "invisible": "a\u200bb\ufeffc\u202ed",
}


def test_unicode_round_trips(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    payload = {"texts": UNICODE_TEXTS, "键": "值", "🔑": ["🙂", "\u0301"]}
    job_id = queue.push(payload)

    job = queue.pop()
    assert job is not None
    assert job.payload == payload
    stored = queue.get(job_id)
    assert stored is not None
    assert stored.payload == payload
    assert stored.payload["texts"]["decomposed"] == "e\u0301 a\u0308"


def test_delay_hides_job_until_due(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    pushed_at = time.time()
    delayed = queue.push({"n": "later"}, delay=0.6)
    now = queue.push({"n": "now"})

    first = queue.pop()
    assert first is not None
    assert first.id == now
    assert queue.pop() is None
    assert queue.size() == 1

    due = pop_within(queue, seconds=5)
    assert due is not None
    assert due.id == delayed
    assert time.time() - pushed_at >= 0.6


def test_priority_nine_pops_first(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    low = queue.push({"n": "low"}, priority=0)
    high = queue.push({"n": "high"}, priority=9)

    first = queue.pop()
    second = queue.pop()

    assert first is not None
    assert first.id == high
    assert first.priority == 9
    assert second is not None
    assert second.id == low


def test_fifo_within_priority(queue_factory: QueueFactory) -> None:
    queue = queue_factory()
    low = [queue.push({"n": n}, priority=0) for n in range(5)]
    high = [queue.push({"n": n}, priority=5) for n in range(5)]

    popped = []
    while (job := queue.pop()) is not None:
        popped.append(job.id)

    assert popped == high + low


def test_queue_reads_environment(queue_factory: QueueFactory) -> None:
    job_id = queue_factory("emails").push({"n": 1})

    # The fixture exports the store's variables, so a queue built the way
    # application code builds one finds the same job.
    with Queue(topic="emails") as queue:
        job = queue.pop()
    assert job is not None
    assert job.id == job_id
