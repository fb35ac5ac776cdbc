"""Bulk retry and purge: the scope an operator picked, its preview and its run.

The HTML views and the JSON API share these, so a preview and the action that
follows it always cover the same jobs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from queue_core import Job, JobNotFoundError, Queue
from queue_core.status import PURGE_GROUPS, JobStatus, parse_purge_group

from .formatting import plural

logger = logging.getLogger(__name__)

ACTIONS = ("retry", "purge")
RETRY_STATUSES = ("failed", "dead")
PURGE_STATUSES = tuple(PURGE_GROUPS)
SAMPLE_SIZE = 5
MAX_SELECTED = 500


@dataclass(frozen=True)
class BulkScope:
    """The jobs a bulk action covers.

    Every job of *status* on *topic*, narrowed to one error group by
    *signature*, or only the jobs in *ids* that are still in *status*.
    """

    topic: str
    action: str
    status: str
    signature: str | None = None
    ids: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls,
        topic: str,
        values: Mapping[str, str],
        ids: Sequence[str] | None = None,
    ) -> BulkScope:
        """Build a scope from request *values* (``action``, ``status``, ``signature``).

        *ids* is ``None`` for the whole status or error group, and the
        selected job ids otherwise.

        :raises ValueError: if the action or status is missing or invalid, or
            *ids* is empty or has more than :data:`MAX_SELECTED` ids.
        """
        action = values.get("action", "")
        status = values.get("status", "")
        if action not in ACTIONS:
            raise ValueError(f"invalid action {action!r}; use 'retry' or 'purge'")
        allowed = RETRY_STATUSES if action == "retry" else PURGE_STATUSES
        if status not in allowed:
            raise ValueError(
                f"cannot {action} status {status!r}; use one of: {', '.join(allowed)}"
            )
        if ids is None:
            return cls(topic, action, status, values.get("signature") or None)

        unique = tuple(dict.fromkeys(job_id for job_id in ids if job_id))
        if not unique:
            raise ValueError(
                f"no job selected; select at least one job to {action}, or use "
                f"the button for every {status} job"
            )
        if len(unique) > MAX_SELECTED:
            raise ValueError(
                f"{len(unique)} jobs selected; select at most {MAX_SELECTED} or act "
                "on the whole status or error group"
            )
        # Selected jobs were picked one by one, so no error group narrows them.
        return cls(topic, action, status, None, unique)

    @property
    def statuses(self) -> tuple[JobStatus, ...]:
        """The statuses the action takes jobs from ("failed" includes dead)."""
        return parse_purge_group(self.status)

    @property
    def status_names(self) -> str:
        """The statuses in words, such as ``failed and dead``."""
        return " and ".join(status.value for status in self.statuses)

    def describe(self) -> str:
        """Return the scope in words, such as ``every dead job of topic 'emails'``."""
        if self.ids:
            selected = plural(len(self.ids), "selected job")
            text = (
                f"{selected} of topic {self.topic!r} (only those still "
                f"{self.status_names})"
            )
        else:
            text = f"every {self.status_names} job of topic {self.topic!r}"
        if self.signature is not None:
            text += f" with error {self.signature!r}"
        return text

    def describe_count(self, count: int, *, done: bool = False) -> str:
        """Return the scope in words with *count*, the jobs it covers or moved.

        For selected jobs the sentence states how many of them are still in
        the status, such as ``2 of 4 selected jobs of topic 'emails' are dead and
        will be retried``; *done* puts it in the past tense.
        """
        verb = "retried" if self.action == "retry" else "purged"
        if not self.ids:
            return self.describe()
        selected = len(self.ids)
        noun = "selected job" if selected == 1 else "selected jobs"
        if done:
            return (
                f"{count:,} of {selected:,} {noun} of topic {self.topic!r} "
                f"{'was' if count == 1 else 'were'} {self.status_names} and "
                f"{'was' if count == 1 else 'were'} {verb}"
            )
        return (
            f"{count:,} of {selected:,} {noun} of topic {self.topic!r} "
            f"{'is' if count == 1 else 'are'} {self.status_names} and will be {verb}"
        )

    def to_dict(self) -> dict[str, object]:
        """Return the scope as JSON-ready values."""
        return {
            "topic": self.topic,
            "action": self.action,
            "status": self.status,
            "signature": self.signature,
            "ids": list(self.ids),
            "description": self.describe(),
        }


@dataclass(frozen=True)
class BulkPreview:
    """The count and a sample of the jobs a bulk action would change."""

    scope: BulkScope
    count: int
    sample: list[Job]


def preview(queue: Queue, scope: BulkScope) -> BulkPreview:
    """Count the jobs *scope* covers now and pick a sample, changing nothing."""
    if scope.ids:
        selected = _selected_jobs(queue, scope)
        return BulkPreview(scope, len(selected), selected[:SAMPLE_SIZE])
    return BulkPreview(scope, _count(queue, scope), _sample(queue, scope))


def execute(queue: Queue, scope: BulkScope) -> int:
    """Run the action on *scope* and return how many jobs it moved or deleted."""
    if scope.ids:
        moved = sum(_act_on_one(queue, scope, job_id) for job_id in scope.ids)
    elif scope.action == "retry":
        moved = queue.retry_all(scope.status, signature=scope.signature)
    else:
        moved = queue.purge(scope.status, signature=scope.signature)
    logger.info("%s of %s: %d jobs", scope.action, scope.describe(), moved)
    return moved


def _count(queue: Queue, scope: BulkScope) -> int:
    if scope.signature is None:
        counts = queue.counts()
        return sum(counts[status.value] for status in scope.statuses)
    groups = queue.error_groups(scope.status)
    return sum(group.count for group in groups if group.signature == scope.signature)


def _sample(queue: Queue, scope: BulkScope) -> list[Job]:
    sample: list[Job] = []
    for status in scope.statuses:
        page = queue.jobs(status, limit=SAMPLE_SIZE, signature=scope.signature)
        sample.extend(page.jobs)
    return sample[:SAMPLE_SIZE]


def _selected_jobs(queue: Queue, scope: BulkScope) -> list[Job]:
    jobs = (queue.get(job_id) for job_id in scope.ids)
    return [job for job in jobs if job is not None and job.status in scope.statuses]


def _act_on_one(queue: Queue, scope: BulkScope, job_id: str) -> bool:
    # A selected job acts only while it is still in the status it was picked
    # from, so a job that a worker took meanwhile is left alone.
    job = queue.get(job_id)
    if job is None or job.status not in scope.statuses:
        return False
    if scope.action == "retry":
        try:
            return queue.retry(job_id)
        except JobNotFoundError:
            return False
    return queue.delete(job_id)
