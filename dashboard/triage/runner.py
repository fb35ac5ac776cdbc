"""The background thread that steps bulk retry runs at their rates."""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import uuid

from queue_core import QueueError

from .runs import QueueFor, active_run_ids, step
from .store import TriageStore

logger = logging.getLogger(__name__)

# The longest wait between two looks at the store, so that a run started,
# paused or resumed by another process is seen within it.
IDLE_SECONDS = 1.0


class Runner:
    """Steps every running run in *store* until :meth:`stop`.

    :meth:`run_once` steps each running run once; :meth:`start` does so on a
    daemon thread. Each runner has its own lease owner name, so of several
    processes only the one holding a run's lease steps it.
    """

    def __init__(self, store: TriageStore, queue_for: QueueFor) -> None:
        self.store = store
        self.queue_for = queue_for
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        """Whether the runner thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def run_once(self) -> float:
        """Step every running run once; return the seconds until the next is due."""
        wait = IDLE_SECONDS
        for run_id in active_run_ids(self.store):
            try:
                due = step(self.store, self.queue_for, run_id, self.owner)
            except (QueueError, OSError, sqlite3.Error) as exc:
                # An unreachable broker or a locked store: try again later.
                logger.warning("bulk retry run %d step failed: %s", run_id, exc)
                continue
            if due is not None:
                wait = min(wait, due)
        return wait

    def start(self) -> None:
        """Start the runner thread unless it is running."""
        with self._lock:
            if self.running:
                return
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._loop, name="queuedeck-runs", daemon=True
            )
            self._thread.start()
        logger.info("bulk retry runner %s started on %s", self.owner, self.store.path)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the runner thread, waiting up to *timeout* seconds for it."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        thread.join(timeout)
        logger.info("bulk retry runner %s stopped", self.owner)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                wait = self.run_once()
            except Exception:
                logger.exception("bulk retry runner failed; retrying in 1 s")
                wait = IDLE_SECONDS
            self._stopping.wait(max(wait, 0.0))
