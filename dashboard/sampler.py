"""The background thread that samples queue counts into the history store.

It wakes at the start of every sample interval, claims the interval in the
store (so of several processes sharing the store only one samples it), takes
a :func:`queue_core.rates.take_snapshot` of every topic and records it. A
request never waits for it: the snapshot runs on the thread, and a failed
snapshot is logged and retried at the next interval.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping

from queue_core import QueueError
from queue_core.rates import TopicSnapshot

from .history import HistoryStore

logger = logging.getLogger(__name__)

Snapshot = Callable[[], Mapping[str, TopicSnapshot]]


class Sampler:
    """Samples *snapshot* into *store* once per ``store.interval`` seconds.

    :meth:`sample` takes one sample now; :meth:`start` runs it on a daemon
    thread until :meth:`stop`. The thread calls *after_sample* after each
    interval's sample, whichever process took it.
    """

    def __init__(
        self,
        store: HistoryStore,
        snapshot: Snapshot,
        after_sample: Callable[[], object] | None = None,
    ) -> None:
        self.store = store
        self._snapshot = snapshot
        self._after_sample = after_sample
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        """Whether the sampling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def sample(self, now: float | None = None) -> bool:
        """Record the sample of the interval that contains *now* (default: now).

        Returns ``False`` when another sampler already claimed that interval.
        """
        at = self.store.slot(self.store.clock() if now is None else now)
        if not self.store.claim(at):
            return False
        self.store.record(at, self._snapshot())
        return True

    def start(self) -> None:
        """Start the sampling thread unless it is running."""
        with self._lock:
            if self.running:
                return
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._run, name="queuedeck-sampler", daemon=True
            )
            self._thread.start()
        logger.info(
            "history sampler started: every %g s into %s",
            self.store.interval,
            self.store.path,
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the sampling thread, waiting up to *timeout* seconds for it."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        thread.join(timeout)
        if thread.is_alive():
            logger.warning("history sampler did not stop within %g s", timeout)
        else:
            logger.info("history sampler stopped")

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.sample()
                # Runs in every process, also when another one took the
                # sample, because each keeps its own chart cache.
                if self._after_sample is not None:
                    self._after_sample()
            except (QueueError, OSError, sqlite3.Error) as exc:
                # An unreachable broker or a locked store: try again at the
                # next interval.
                logger.warning("history sample failed: %s", exc)
            except Exception:
                logger.exception("history sample failed")
            self._stopping.wait(self._seconds_to_next_slot())

    def _seconds_to_next_slot(self) -> float:
        interval = self.store.interval
        now = self.store.clock()
        return interval - (now % interval)
