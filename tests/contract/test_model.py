"""Random operation sequences checked against a reference model of the lifecycle.

Hypothesis drives pushes, pops, settles, retries, purges, lease expiry and
reopened queues on two topics. After every step it compares each topic's
counts, the ids listed under each status, and each job's status and attempts
with a plain dictionary that applies the documented rules. Every pushed job
must be in exactly one status, or purged. The seed is fixed, so a CI run
repeats the same sequences.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings, strategies
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from queue_core import Job, JobNotFoundError, JobStatus, Queue

from .conftest import QueueFactory
from .support import collect_ids, pop_within

# A broker operation takes milliseconds where the file backend takes
# microseconds, so the brokers run fewer and shorter sequences.
EXAMPLES = {"file": 150, "rabbitmq": 25, "kafka": 15, "mongodb": 25}
STEPS = {"file": 40, "rabbitmq": 30, "kafka": 25, "mongodb": 30}
# Seconds a broker gets to deliver a job that is pending in the model.
POP_WAIT_SECONDS = 5.0
VISIBILITY_TIMEOUT = 300
TOPICS = ("alpha", "beta")
PURGE_GROUPS = {
    "completed": {"completed"},
    "pending": {"pending"},
    "dead": {"dead"},
    "failed": {"failed", "dead"},
}


@dataclass
class ModelJob:
    topic: str
    status: str
    attempts: int = 0
    # False for a job that lease expiry sent back at a "now" in the future:
    # it is pending but not due yet, so a pop may not return it.
    due: bool = True


class LifecycleMachine(RuleBasedStateMachine):
    """Applies each operation to the real queues and to the model together."""

    factory: QueueFactory
    run_number = 0

    def __init__(self) -> None:
        super().__init__()
        LifecycleMachine.run_number += 1
        # Fresh topic names per run keep runs apart in one store.
        self.names = {
            topic: f"{topic}{LifecycleMachine.run_number}" for topic in TOPICS
        }
        self.max_retries = 1
        self.queues: dict[str, Queue] = {}
        # Rules draw from these in insertion order, not sorted by id: ids that
        # two queues draw in one millisecond sort either way, and Hypothesis
        # must make the same choices when it replays a case.
        self.model: dict[str, ModelJob] = {}
        self.held: dict[str, Job] = {}

    @initialize(max_retries=strategies.integers(min_value=1, max_value=3))
    def open_queues(self, max_retries: int) -> None:
        self.max_retries = max_retries
        self.reopen()

    def teardown(self) -> None:
        # Jobs left reserved would be counted by the next run's lease expiry.
        if self.queues:
            later = time.time() + VISIBILITY_TIMEOUT + 60
            self.queues[TOPICS[0]].recover_expired(now=later)
        for queue in self.queues.values():
            queue.close()

    # Operations ----------------------------------------------------------------

    @rule(
        topic=strategies.sampled_from(TOPICS),
        priority=strategies.integers(min_value=0, max_value=2),
    )
    def push(self, topic: str, priority: int) -> None:
        job_id = self.queues[topic].push({"n": len(self.model)}, priority=priority)
        assert job_id not in self.model
        self.model[job_id] = ModelJob(topic, "pending")

    @rule(topic=strategies.sampled_from(TOPICS))
    def produce_from_other_queue(self, topic: str) -> None:
        other = TOPICS[1 - TOPICS.index(topic)]
        job_id = self.queues[other].produce(self.names[topic], {"from": other})
        self.model[job_id] = ModelJob(topic, "pending")

    @rule(topic=strategies.sampled_from(TOPICS))
    def pop(self, topic: str) -> None:
        queue = self.queues[topic]
        due = [
            job_id for job_id in self.ids(topic, "pending") if self.model[job_id].due
        ]
        if due:
            job = pop_within(queue, POP_WAIT_SECONDS)
            assert job is not None, f"no job popped although {topic} has due jobs"
        else:
            job = queue.pop()
            if job is None:
                return
        assert self.model[job.id].topic == topic
        assert self.model[job.id].status == "pending"
        self.model[job.id].status = "reserved"
        self.held[job.id] = job

    @precondition(lambda self: bool(self.held))
    @rule(data=strategies.data())
    def complete(self, data: strategies.DataObject) -> None:
        job = self.held.pop(data.draw(strategies.sampled_from(list(self.held))))
        assert job.complete() is True
        self.model[job.id].status = "completed"

    @precondition(lambda self: bool(self.held))
    @rule(data=strategies.data(), reject=strategies.booleans())
    def fail(self, data: strategies.DataObject, reject: bool) -> None:
        job = self.held.pop(data.draw(strategies.sampled_from(list(self.held))))
        settled = job.reject("rejected") if reject else job.fail("boom")
        assert settled is True
        self.count_attempt(job.id)

    @precondition(lambda self: bool(self.held))
    @rule(data=strategies.data())
    def release(self, data: strategies.DataObject) -> None:
        job = self.held.pop(data.draw(strategies.sampled_from(list(self.held))))
        assert job.release() is True
        self.mark_pending(job.id)

    @precondition(lambda self: bool(self.model))
    @rule(data=strategies.data())
    def retry(self, data: strategies.DataObject) -> None:
        job_id = data.draw(strategies.sampled_from(list(self.model)))
        known = self.model[job_id]
        queue = self.queues[known.topic]
        if known.status == "purged":
            with pytest.raises(JobNotFoundError):
                queue.retry(job_id)
            return
        retried = queue.retry(job_id)
        assert retried is (known.status in ("failed", "dead"))
        if retried:
            self.mark_pending(job_id)

    @rule(topic=strategies.sampled_from(TOPICS))
    def retry_failed(self, topic: str) -> None:
        movable = [
            job_id
            for job_id in self.ids(topic, "failed")
            if self.model[job_id].attempts < self.max_retries
        ]
        assert self.queues[topic].retry_failed() == len(movable)
        for job_id in movable:
            self.mark_pending(job_id)

    @rule(
        topic=strategies.sampled_from(TOPICS),
        group=strategies.sampled_from(sorted(PURGE_GROUPS)),
    )
    def purge(self, topic: str, group: str) -> None:
        doomed = [
            job_id
            for status in PURGE_GROUPS[group]
            for job_id in self.ids(topic, status)
        ]
        assert self.queues[topic].purge(group) == len(doomed)
        for job_id in doomed:
            self.model[job_id].status = "purged"

    @rule()
    def expire_leases(self) -> None:
        later = time.time() + VISIBILITY_TIMEOUT + 60
        expired = [
            job_id for job_id, job in self.model.items() if job.status == "reserved"
        ]
        recovered = self.queues[TOPICS[0]].recover_expired(now=later)
        if self.factory.backend == "rabbitmq":
            # RabbitMQ recovers the expired jobs of every prefix on its events
            # stream, so other tests' jobs may add to the count. The checks
            # after this step show whether this run's jobs moved as expected.
            assert recovered >= len(expired)
        else:
            assert recovered == len(expired)
        for job_id in expired:
            self.count_attempt(job_id, expired_lease=True)
        self.held.clear()

    @rule()
    def reopen(self) -> None:
        for queue in self.queues.values():
            queue.close()
        self.queues = {
            topic: self.factory(
                name,
                self.max_retries,
                visibility_timeout=VISIBILITY_TIMEOUT,
            )
            for topic, name in self.names.items()
        }

    # Checks --------------------------------------------------------------------

    @invariant()
    def stores_agree_with_model(self) -> None:
        if not self.queues:
            return
        for topic, queue in self.queues.items():
            expected = {
                status.value: len(self.ids(topic, status.value)) for status in JobStatus
            }
            assert queue.counts() == expected, f"{topic} counts"
            for status in JobStatus:
                listed = collect_ids(queue, status.value, page_size=10)
                assert sorted(listed) == sorted(self.ids(topic, status.value)), (
                    f"{topic} {status.value} list"
                )

    @invariant()
    def jobs_show_model_fields(self) -> None:
        for job_id, known in self.model.items():
            if not self.queues:
                return
            stored = self.queues[known.topic].get(job_id)
            if known.status == "purged":
                assert stored is None, f"purged job {job_id} still stored"
                continue
            assert stored is not None, f"job {job_id} lost"
            assert stored.status == known.status, f"job {job_id} status"
            assert stored.attempts == known.attempts, f"job {job_id} attempts"

    # Model helpers -------------------------------------------------------------

    def ids(self, topic: str, status: str) -> list[str]:
        return [
            job_id
            for job_id, job in self.model.items()
            if job.topic == topic and job.status == status
        ]

    def mark_pending(self, job_id: str) -> None:
        self.model[job_id].status = "pending"
        self.model[job_id].due = True

    def count_attempt(self, job_id: str, *, expired_lease: bool = False) -> None:
        known = self.model[job_id]
        known.attempts += 1
        if known.attempts >= self.max_retries:
            known.status = "dead"
        elif expired_lease:
            # Lease expiry sends the job back to pending, due at its "now".
            known.status = "pending"
            known.due = False
        else:
            known.status = "failed"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_random_operations_match_model(queue_factory: QueueFactory) -> None:
    backend = queue_factory.backend
    LifecycleMachine.factory = queue_factory
    run_state_machine_as_test(
        LifecycleMachine,
        settings=settings(
            max_examples=EXAMPLES[backend],
            stateful_step_count=STEPS[backend],
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        ),
    )
