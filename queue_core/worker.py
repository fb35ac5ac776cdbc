"""The worker loop: claim jobs of one topic, run a handler on each, settle them.

>>> from queue_core import Queue
>>> from queue_core.worker import Worker
>>> def send_email(job):
...     print(job.payload["to"])
>>> Worker(Queue(topic="emails"), send_email).run()  # doctest: +SKIP

A handler that returns completes its job, and one that raises fails it with
``"ExceptionType: message"``. Run from the main thread, the worker stops on
SIGTERM or SIGINT after the job in hand. A second signal during a job
interrupts the handler and puts the job back to pending with no attempt
counted. While it runs, the worker stores a heartbeat that
:meth:`queue_core.Queue.workers` returns.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from types import FrameType
from typing import Any

from .backends.base import WorkerRecord
from .errors import BackendError, QueueError
from .job import Job
from .queue import Queue

logger = logging.getLogger(__name__)

Handler = Callable[[Job], object]
"""A function called with each claimed :class:`Job`. Its return value is ignored."""

DEFAULT_POLL_INTERVAL = 1.0
DEFAULT_HEARTBEAT_INTERVAL = 5.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_SignalHandler = Callable[[int, FrameType | None], Any] | int | None


class WorkerInterrupted(BaseException):
    """Raised inside a running handler when a second stop signal arrives.

    It derives from :class:`BaseException`, like :class:`KeyboardInterrupt`,
    so that a handler's ``except Exception`` clause does not swallow it. A
    handler blocked in C code that does not check for signals is interrupted
    only when it returns to Python.
    """


class Worker:
    """A loop that claims jobs from *queue* and calls *handler* on each one.

    :param queue: the queue whose topic the worker consumes; its
        ``max_retries`` decides when a failed job becomes a dead letter.
    :param handler: called with each :class:`Job`. Returning completes the
        job, and raising an :class:`Exception` fails it.
    :param poll_interval: seconds to wait before polling again when the topic
        has no available job.
    :param heartbeat_interval: seconds between heartbeats.
    :param handle_signals: whether :meth:`run` handles SIGTERM and SIGINT.
        Signal handlers can only be set from the main thread, so a worker run
        in another thread ignores this and is stopped with :meth:`stop`.

    A handler that runs longer than ``TINA4_QUEUE_VISIBILITY_TIMEOUT`` must
    call ``job.extend_lease()``, or the queue gives its job to another worker.
    """

    def __init__(
        self,
        queue: Queue,
        handler: Handler,
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        heartbeat_interval: float = DEFAULT_HEARTBEAT_INTERVAL,
        handle_signals: bool = True,
    ) -> None:
        _check_interval(poll_interval, "poll_interval")
        _check_interval(heartbeat_interval, "heartbeat_interval")
        self.queue = queue
        self.handler = handler
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.handle_signals = handle_signals
        self.id = uuid.uuid4().hex

        self._stop = threading.Event()
        self._processed = 0
        self._failed = 0
        self._current_job: str | None = None
        self._started_at = time.time()
        self._handler_running = False
        self._stop_signals = 0
        self._polling_failed = False

    def __repr__(self) -> str:
        return f"<Worker {self.id} topic={self.queue.topic!r}>"

    @property
    def processed(self) -> int:
        """Jobs whose handler returned or raised, so completed plus failed."""
        return self._processed

    @property
    def failed(self) -> int:
        """Jobs whose handler raised."""
        return self._failed

    @property
    def current_job(self) -> str | None:
        """The id of the job whose handler is running, or ``None``."""
        return self._current_job

    def stop(self) -> None:
        """Ask the worker to stop after the job in hand. Safe from any thread.

        Returns at once. :meth:`run` returns once the job in hand is settled,
        or at once when the worker is waiting for jobs. A worker stopped
        before :meth:`run` returns from it at once.
        """
        self._stop.set()

    def run(self, *, burst: bool = False) -> None:
        """Process jobs until :meth:`stop` is called or a stop signal arrives.

        :param burst: return as soon as no job is available instead of
            waiting for more. Delayed jobs that are not due yet are left.
        :raises QueueError: if the backend cannot be reached at start or its
            settings are invalid, or in burst mode if a poll fails. Otherwise
            a failed poll is logged and retried every ``poll_interval``.
        """
        self._started_at = time.time()
        self._stop_signals = 0
        heartbeat = _Heartbeat(self)
        # Signals are handled before the first heartbeat, so a worker that
        # shows up in Queue.workers() already stops cleanly on SIGTERM.
        previous = self._install_signal_handlers()
        try:
            heartbeat.beat(raise_errors=True)
            heartbeat.start()
            logger.info(
                "worker %s started on topic %r (pid %d, backend %s)",
                self.id,
                self.queue.topic,
                os.getpid(),
                self.queue.settings.backend,
            )
            self._loop(burst)
        finally:
            self._restore_signal_handlers(previous)
            heartbeat.stop()
            self._remove_record()
            logger.info(
                "worker %s stopped; jobs processed: %d, failed: %d",
                self.id,
                self._processed,
                self._failed,
            )

    def _heartbeat_record(self) -> WorkerRecord:
        """Build this worker's heartbeat record, stamped with the current time."""
        return WorkerRecord(
            id=self.id,
            topic=self.queue.full_topic(),
            hostname=socket.gethostname(),
            pid=os.getpid(),
            started_at=self._started_at,
            last_seen=time.time(),
            current_job=self._current_job,
            processed=self._processed,
            failed=self._failed,
        )

    # The loop ------------------------------------------------------------------

    def _loop(self, burst: bool) -> None:
        while not self._stop.is_set():
            job = self.queue.pop() if burst else self._next_job()
            if job is not None:
                if not self._process(job):
                    return
                continue
            if burst:
                logger.info("worker %s found no more jobs; burst finished", self.id)
                return
            self._stop.wait(self.poll_interval)

    def _next_job(self) -> Job | None:
        try:
            job = self.queue.pop()
        except BackendError as exc:
            # A broker restart should not end the worker. Log the first failure
            # of a run of failures and the recovery, not every poll.
            if not self._polling_failed:
                logger.error(
                    "worker %s cannot poll topic %r: %s; retrying every %g s",
                    self.id,
                    self.queue.topic,
                    exc,
                    self.poll_interval,
                )
            self._polling_failed = True
            return None
        if self._polling_failed:
            logger.info("worker %s can poll topic %r again", self.id, self.queue.topic)
            self._polling_failed = False
        return job

    def _process(self, job: Job) -> bool:
        """Run the handler on *job* and settle it.

        Returns ``False`` if a second stop signal interrupted the handler.
        """
        self._current_job = job.id
        logger.info("job %s started (attempt %d)", job.id, job.attempts + 1)
        started = time.monotonic()
        try:
            error = self._call_handler(job)
        except WorkerInterrupted:
            self._release(job)
            return False
        except KeyboardInterrupt as exc:
            if self.handle_signals:
                # The worker turns SIGINT into a stop request, so this came
                # from the handler's own code: it counts as a failed attempt.
                self._fail(job, exc, time.monotonic() - started)
            else:
                # Without the worker's signal handlers this is Ctrl-C: the
                # operator interrupted the job, so it goes back unharmed.
                self._release(job)
            raise
        except SystemExit as exc:
            # A handler that exits the process still failed this job. Counting
            # the attempt keeps it from running again forever under a
            # supervisor that restarts the worker.
            self._failed += 1
            self._fail(job, exc, time.monotonic() - started)
            raise
        finally:
            self._current_job = None

        elapsed = time.monotonic() - started
        self._processed += 1
        if error is None:
            self._complete(job, elapsed)
        else:
            self._failed += 1
            self._fail(job, error, elapsed)
        return True

    def _call_handler(self, job: Job) -> Exception | None:
        try:
            self._handler_running = True
            self.handler(job)
        except Exception as exc:
            return exc
        finally:
            self._handler_running = False
        return None

    # Settling ------------------------------------------------------------------

    def _complete(self, job: Job, elapsed: float) -> None:
        try:
            done = job.complete()
        except BackendError as exc:
            _log_settle_error(job, "completed", exc)
            return
        if done:
            logger.info("job %s completed in %.3f s", job.id, elapsed)

    def _fail(self, job: Job, error: BaseException, elapsed: float) -> None:
        try:
            done = job.fail(error)
        except BackendError as exc:
            _log_settle_error(job, "failed", exc)
            return
        if done:
            logger.error(
                "job %s failed after %.3f s (attempt %d of %d, now %s): %s",
                job.id,
                elapsed,
                job.attempts,
                max(self.queue.max_retries, 1),
                job.status.value,
                job.error,
                exc_info=error,
            )

    def _release(self, job: Job) -> None:
        try:
            released = job.release()
        except BackendError as exc:
            _log_settle_error(job, "released", exc)
            return
        if released:
            logger.warning(
                "job %s released back to pending; the handler was interrupted",
                job.id,
            )

    # Signals -------------------------------------------------------------------

    def _install_signal_handlers(self) -> dict[int, _SignalHandler]:
        if not self.handle_signals:
            return {}
        if threading.current_thread() is not threading.main_thread():
            logger.debug(
                "worker %s runs outside the main thread; stop it with stop()",
                self.id,
            )
            return {}
        return {
            number: signal.signal(number, self._on_signal) for number in STOP_SIGNALS
        }

    def _restore_signal_handlers(self, previous: dict[int, _SignalHandler]) -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        # Python runs this between two bytecodes of the main thread, which may
        # be holding the lock of the stop event or of a logging handler. Taking
        # those locks here could deadlock, so a short-lived thread logs the
        # signal and sets the event.
        self._stop_signals += 1
        name = signal.Signals(number).name
        if self._stop_signals == 1:
            threading.Thread(
                target=self._stop_after_signal, args=(name,), daemon=True
            ).start()
        elif self._handler_running:
            raise WorkerInterrupted(f"{name} received again while a job was running")

    def _stop_after_signal(self, name: str) -> None:
        job_id = self._current_job
        if job_id is None:
            logger.info("worker %s received %s; stopping", self.id, name)
        else:
            logger.info(
                "worker %s received %s; stopping after job %s (send it again to "
                "release the job and stop now)",
                self.id,
                name,
                job_id,
            )
        self._stop.set()

    # Heartbeats ----------------------------------------------------------------

    def _remove_record(self) -> None:
        try:
            self.queue.backend.remove_worker(self.id)
        except QueueError as exc:
            logger.warning(
                "worker %s could not remove its heartbeat record: %s", self.id, exc
            )


class _Heartbeat:
    """A daemon thread that stores the worker's heartbeat every interval."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"queuedeck-heartbeat-{worker.id}", daemon=True
        )
        self._failing = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it, so no heartbeat follows the removal."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()

    def beat(self, *, raise_errors: bool = False) -> None:
        """Store one heartbeat, logging a failure unless *raise_errors*."""
        worker = self._worker
        try:
            worker.queue.backend.record_heartbeat(worker._heartbeat_record())
        except QueueError as exc:
            if raise_errors:
                raise
            if not self._failing:
                logger.warning(
                    "worker %s could not store its heartbeat: %s", worker.id, exc
                )
            self._failing = True
            return
        if self._failing:
            logger.info("worker %s stores its heartbeat again", worker.id)
            self._failing = False

    def _run(self) -> None:
        while not self._stopped.wait(self._worker.heartbeat_interval):
            self.beat()


def _check_interval(seconds: float, name: str) -> None:
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not math.isfinite(seconds)
        or seconds <= 0
    ):
        raise ValueError(
            f"{name} must be a positive number of seconds, not {seconds!r}"
        )


def _log_settle_error(job: Job, outcome: str, exc: BackendError) -> None:
    logger.error(
        "job %s could not be marked %s: %s; it returns to the queue when its "
        "lease expires",
        job.id,
        outcome,
        exc,
    )
