"""The console's per-app state: settings, the shared backend and the auth hook."""

from __future__ import annotations

import atexit
import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, current_app

from queue_core import Queue, Settings
from queue_core.backends import Backend, open_backend
from queue_core.rates import TopicSnapshot, take_snapshot

from .charts import sparklines
from .history import HOUR, HistoryStore, history_path
from .sampler import Sampler
from .settings import ConsoleSettings
from .triage.runner import Runner
from .triage.store import TriageStore, triage_path

EXTENSION_NAME = "queuedeck"

#: A host app's access check: called before every console request, it returns
#: whether the current user may use the console (``False`` gives 403).
AuthCheck = Callable[[], bool]

#: A host app's name for the current user, recorded in the audit log; ``None``
#: or an empty name when it does not know one.
UserName = Callable[[], str | None]


logger = logging.getLogger(__name__)


@dataclass
class ConsoleState:
    """What one app's console needs, stored in ``app.extensions["queuedeck"]``.

    Every request shares :attr:`backend`: *shared_backend* when the app passed
    one, otherwise a backend opened on first use from *queue_settings*. The
    console so keeps one set of connections per process, not one per request.
    """

    settings: ConsoleSettings
    queue_settings: Settings
    auth_check: AuthCheck | None = None
    shared_backend: Backend | None = None
    user_name: UserName | None = None
    #: Where the console is mounted, such as ``/admin/queues``; empty at the root.
    url_prefix: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _history: HistoryStore | None = field(default=None, repr=False)
    _sampler: Sampler | None = field(default=None, repr=False)
    _failed_starts: set[str] = field(default_factory=set, repr=False)
    _triage: TriageStore | None = field(default=None, repr=False)
    _runner: Runner | None = field(default=None, repr=False)

    @property
    def backend(self) -> Backend:
        """The backend shared by every request of this app."""
        if self.shared_backend is None:
            with self._lock:
                if self.shared_backend is None:
                    self.shared_backend = open_backend(self.queue_settings)
        return self.shared_backend

    def queue(self, topic: str = "default") -> Queue:
        """Return a :class:`Queue` for *topic* on the shared backend.

        :raises queue_core.TopicError: if *topic* is not a valid topic name.
        """
        return Queue(topic, settings=self.queue_settings, backend=self.backend)

    @property
    def history(self) -> HistoryStore:
        """The history store, opened on first use.

        Its file is ``QUEUEDECK_HISTORY_PATH``, or by default the one that
        :func:`dashboard.history.history_path` picks beside the queue data.
        """
        if self._history is None:
            with self._lock:
                if self._history is None:
                    path = self.settings.history_path or history_path(
                        self.queue_settings
                    )
                    interval = self.settings.sample_seconds or 10.0
                    self._history = HistoryStore(path, interval=interval)
        return self._history

    @property
    def triage(self) -> TriageStore:
        """The triage store (audit log, lineage, edits, runs), opened on first use.

        Its file is ``QUEUEDECK_TRIAGE_PATH``, or by default the one that
        :func:`dashboard.triage.store.triage_path` picks beside the queue data.
        """
        if self._triage is None:
            with self._lock:
                if self._triage is None:
                    path = self.settings.triage_path or triage_path(self.queue_settings)
                    self._triage = TriageStore(path)
        return self._triage

    @property
    def sampler(self) -> Sampler:
        """The sampler of this console; it runs only once started."""
        if self._sampler is None:
            sampler = Sampler(self.history, self.snapshot, self.draw_sparklines)
            with self._lock:
                if self._sampler is None:
                    self._sampler = sampler
        return self._sampler

    def draw_sparklines(self) -> None:
        """Draw the overview's sparklines into the chart cache.

        The sampler calls this after each sample, so that the overview
        request after a new minute finds them drawn instead of drawing 100
        of them itself.
        """
        sparklines(self.history.series_by_topic(HOUR, complete=True))

    def snapshot(self) -> dict[str, TopicSnapshot]:
        """Return the counts and oldest pending age of every topic."""
        return take_snapshot(self.queue())

    def start_sampler(self) -> None:
        """Start sampling in the background unless ``sample_seconds`` is 0.

        The thread stops when the process exits or :meth:`close` is called.
        """
        if self.settings.sample_seconds <= 0:
            return
        sampler = self.sampler
        if sampler.running:
            return
        sampler.start()
        atexit.unregister(sampler.stop)
        atexit.register(sampler.stop)

    @property
    def runner(self) -> Runner:
        """The bulk retry runner of this console; it runs only once started."""
        if self._runner is None:
            runner = Runner(self.triage, self.queue)
            with self._lock:
                if self._runner is None:
                    self._runner = runner
        return self._runner

    def start_background(self) -> None:
        """Start the sampler and the bulk retry runner, each once.

        A history or triage store that cannot be opened is logged once and
        leaves its thread stopped, so that the console still serves counts
        and jobs. The pages that need the store show why it is missing.
        """
        for name, start in (
            ("sampler", self.start_sampler),
            ("runner", self.start_runner),
        ):
            if name in self._failed_starts:
                continue
            try:
                start()
            except (OSError, sqlite3.Error) as exc:
                self._failed_starts.add(name)
                logger.warning("%s not started: %s", name, console_store_failed(exc))

    def start_runner(self) -> None:
        """Start stepping bulk retry runs in the background.

        Unfinished runs in the triage store continue from where they stopped.
        The thread stops when the process exits or :meth:`close` is called.
        """
        runner = self.runner
        if runner.running:
            return
        runner.start()
        atexit.unregister(runner.stop)
        atexit.register(runner.stop)

    def owns_path(self, path: str) -> bool:
        """Return whether the request path *path* lies in the console's URL space."""
        prefix = self.url_prefix
        return not prefix or path == prefix or path.startswith(prefix + "/")

    def is_api_path(self, path: str) -> bool:
        """Return whether *path* is a URL of the console's JSON API."""
        api = self.url_prefix + "/api"
        return path == api or path.startswith(api + "/")

    def close(self) -> None:
        """Stop the sampler, then close the stores and the backend."""
        if self._sampler is not None:
            self._sampler.stop()
        if self._runner is not None:
            self._runner.stop()
        if self._history is not None:
            self._history.close()
        if self._triage is not None:
            self._triage.close()
        if self.shared_backend is not None:
            self.shared_backend.close()


def console_state(app: Flask | None = None) -> ConsoleState:
    """Return the console state of *app* (default: the current app).

    :raises RuntimeError: if the console was never set up on the app.
    """
    target = current_app if app is None else app
    state = target.extensions.get(EXTENSION_NAME)
    if not isinstance(state, ConsoleState):
        raise RuntimeError(
            "the queuedeck console is not set up on this app; call "
            "dashboard.init_app(app) first"
        )
    return state


def console_store_failed(error: BaseException) -> str:
    """Return the message for a console store that failed with *error*."""
    return (
        f"the console's own store failed: {error}; check that "
        "QUEUEDECK_HISTORY_PATH and QUEUEDECK_TRIAGE_PATH name writable SQLite "
        "files, or move a damaged file away so the console makes a new one"
    )
