"""The MongoDB connection: URL parsing, redaction, retries and error mapping.

pymongo reconnects by itself, but an operation that runs while the server is
down raises ``AutoReconnect`` or ``ServerSelectionTimeoutError``. The
:class:`Connection` retries such an operation with backoff for up to
``reconnect_timeout`` seconds before it raises
:class:`~queue_core.errors.BackendUnavailableError`, so a worker survives a
server restart or a replica set election.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pymongo
from pymongo.collection import Collection
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from ...errors import BackendError, BackendUnavailableError, ConfigurationError

logger = logging.getLogger(__name__)

JOBS = "queuedeck_jobs"
WORKERS = "queuedeck_workers"
TOPICS = "queuedeck_topics"

# Seconds an operation keeps retrying while the server cannot be reached.
RECONNECT_TIMEOUT_SECONDS = 30.0
FIRST_RETRY_DELAY_SECONDS = 0.1
MAX_RETRY_DELAY_SECONDS = 2.0
# pymongo's own defaults are 30 s for server selection and 20 s to connect;
# shorter waits let the retry loop log progress and back off. A value in the
# URL wins over these.
DEFAULT_CLIENT_OPTIONS = {
    "serverSelectionTimeoutMS": 5000,
    "connectTimeoutMS": 5000,
}
# Server error codes: a conflicting index definition, a failed login, and a
# command the user has no privilege for.
INDEX_CONFLICT_CODES = {85, 86}
AUTHENTICATION_FAILED = 18
UNAUTHORIZED = 13

# Connection-string options whose values are secrets: key file passwords
# and authMechanismProperties, which can carry an AWS session token.
SECRET_OPTION_WORDS = ("password", "secret", "token", "authmechanismproperties")

# MongoDB's rules for database names: fewer than 64 bytes, none of these.
MAX_DATABASE_NAME_BYTES = 64
DATABASE_NAME_FORBIDDEN = '/\\. "$*<>:|?\x00'

R = TypeVar("R")
Document = dict[str, Any]


def redact(url: str) -> str:
    """Return *url* with its password and secret options replaced by ``***``.

    Works on seed lists such as ``mongodb://u:p@h1:27017,h2:27017/db``, which
    ``urllib.parse`` cannot split into host and port, and on passwords with an
    unescaped ``/``, ``?`` or ``@``, which pymongo rejects but a log line must
    still hide.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    userinfo, after = split_userinfo(rest)
    if userinfo is not None and ":" in userinfo:
        rest = f"{userinfo.partition(':')[0]}:***@{after}"
    address, question, query = rest.partition("?")
    if query:
        query = "&".join(_redact_option(option) for option in query.split("&"))
    return f"{scheme}://{address}{question}{query}"


def split_userinfo(rest: str) -> tuple[str | None, str]:
    """Split the part of a URL after ``://`` into its userinfo and the rest.

    The userinfo is ``None`` when the URL has none. A well-formed URL has it
    before the first ``/`` or ``?``, but an unescaped ``/``, ``?`` or ``@``
    in a password moves its end to a later ``@``. An ``@`` inside a query
    option's value does not count.
    """
    authority = re.split(r"[/?]", rest, maxsplit=1)[0]
    userinfo, at, _ = authority.rpartition("@")
    if not at:
        userinfo, at, _ = rest.rpartition("@")
        if not at or "=" in userinfo.partition("?")[2]:
            return None, rest
    return userinfo, rest[len(userinfo) + 1 :]


def _redact_option(option: str) -> str:
    name, equals, value = option.partition("=")
    return f"{name}=***" if equals and value and _is_secret(name) else option


def _is_secret(option_name: str) -> bool:
    lowered = option_name.lower()
    return any(word in lowered for word in SECRET_OPTION_WORDS)


def database_name(url: str) -> str:
    """Return the database named in the path of *url*.

    :raises ConfigurationError: if the path names no database.
    """
    scheme, separator, rest = url.partition("://")
    if scheme not in ("mongodb", "mongodb+srv") or not separator:
        raise ConfigurationError(
            f"invalid TINA4_QUEUE_URL {redact(url)!r} for the mongodb backend; "
            "use mongodb://user:password@host:27017/database"
        )
    userinfo, hosts_and_path = split_userinfo(rest)
    if userinfo is not None and re.search(r"[/?]", userinfo):
        raise ConfigurationError(
            f"invalid TINA4_QUEUE_URL {redact(url)!r}: its user name or password "
            "contains an unescaped '/', '?' or '@'; percent-encode them as "
            "%2F, %3F and %40"
        )
    name = urllib.parse.unquote(hosts_and_path.partition("?")[0].partition("/")[2])
    if not name:
        raise ConfigurationError(
            f"TINA4_QUEUE_URL {redact(url)!r} names no database; add one to the "
            "path, for example mongodb://host:27017/queuedeck"
        )
    bad = sorted(set(name) & set(DATABASE_NAME_FORBIDDEN))
    if bad or len(name.encode("utf-8")) >= MAX_DATABASE_NAME_BYTES:
        raise ConfigurationError(
            f"invalid database name {name!r} in TINA4_QUEUE_URL {redact(url)!r}: "
            f"MongoDB database names are under {MAX_DATABASE_NAME_BYTES} bytes "
            f"without any of {DATABASE_NAME_FORBIDDEN!r}; pick another name"
        )
    return name


def with_database(url: str, name: str) -> str:
    """Return *url* with its path set to the database *name*, options kept."""
    scheme, _, rest = url.partition("://")
    authority, _, tail = rest.partition("/")
    query = tail.partition("?")[2] or rest.partition("?")[2]
    if "/" not in rest:
        authority = authority.partition("?")[0]
    path = urllib.parse.quote(name, safe="")
    return f"{scheme}://{authority}/{path}" + (f"?{query}" if query else "")


def client_options(url: str) -> dict[str, Any]:
    """Return the client options queuedeck adds to those in *url*."""
    query = url.partition("?")[2]
    in_url = {name.lower() for name in urllib.parse.parse_qs(query)}
    options: dict[str, Any] = {"appname": "queuedeck"}
    for name, value in DEFAULT_CLIENT_OPTIONS.items():
        if name.lower() not in in_url:
            options[name] = value
    return options


@dataclass(frozen=True)
class Collections:
    """The three collections of one queuedeck database."""

    jobs: Collection[Document]
    workers: Collection[Document]
    topics: Collection[Document]


class Connection:
    """One pymongo client per process, with retries across lost connections."""

    def __init__(
        self, url: str, *, reconnect_timeout: float = RECONNECT_TIMEOUT_SECONDS
    ) -> None:
        self.url = url
        self.shown_url = redact(url)
        self.database_name = database_name(url)
        self.reconnect_timeout = reconnect_timeout
        self._lock = threading.Lock()
        self._client: pymongo.MongoClient[Document] | None = None
        self._collections: Collections | None = None
        self._pid = 0
        self._ready = False
        self._on_connect: list[Callable[[Collections], None]] = []

    def on_connect(self, setup: Callable[[Collections], None]) -> None:
        """Run *setup* once on each new client before its first operation."""
        self._on_connect.append(setup)

    def collections(self) -> Collections:
        """Return the collections, opening a client in this process if needed."""
        with self._lock:
            # A client must not cross fork(): the child opens its own and
            # leaves the parent's alone.
            if self._collections is None or self._pid != os.getpid():
                self._open()
            assert self._collections is not None
            if not self._ready:
                for setup in self._on_connect:
                    setup(self._collections)
                self._ready = True
            return self._collections

    def _open(self) -> None:
        try:
            client: pymongo.MongoClient[Document] = pymongo.MongoClient(
                self.url, **client_options(self.url)
            )
        except (PyMongoError, ValueError, TypeError, OSError) as exc:
            # pymongo raises ValueError for some malformed hosts and OSError
            # for a TLS file it cannot read.
            raise ConfigurationError(
                f"invalid TINA4_QUEUE_URL {self.shown_url!r}: "
                f"{self.hide_password(str(exc))}"
            ) from None
        database = client[self.database_name]
        self._client = client
        self._collections = Collections(
            database[JOBS], database[WORKERS], database[TOPICS]
        )
        self._pid = os.getpid()
        self._ready = False

    def close(self) -> None:
        """Close this process's client; the next operation opens a new one."""
        with self._lock:
            client, self._client, self._collections = self._client, None, None
            if client is not None and self._pid == os.getpid():
                client.close()

    def run(self, operation: Callable[[Collections, bool], R]) -> R:
        """Run *operation*, retrying while the server cannot be reached.

        *operation* gets the collections and ``retried``, which is true after
        a try failed that may have reached the server. A write then checks
        whether that try was applied before it repeats itself.

        :raises BackendUnavailableError: if the server stays unreachable for
            ``reconnect_timeout`` seconds.
        :raises BackendError: if the server rejects the operation.
        """
        lost_at: float | None = None
        delay = FIRST_RETRY_DELAY_SECONDS
        while True:
            try:
                result = operation(self.collections(), lost_at is not None)
            except ConnectionFailure as exc:
                now = time.monotonic()
                if lost_at is None:
                    lost_at = now
                    logger.warning(
                        "MongoDB connection to %s lost (%s); retrying for up to %g s",
                        self.shown_url,
                        type(exc).__name__,
                        self.reconnect_timeout,
                    )
                if now - lost_at >= self.reconnect_timeout:
                    raise BackendUnavailableError(
                        f"MongoDB server {self.shown_url} unreachable for "
                        f"{now - lost_at:.0f} s: {self.hide_password(str(exc))}; "
                        "check that it runs and that TINA4_QUEUE_URL is right"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY_SECONDS)
                continue
            except OperationFailure as exc:
                raise self.operation_error(exc) from None
            except PyMongoError as exc:
                raise BackendError(
                    f"MongoDB operation on {self.shown_url} failed: "
                    f"{self.hide_password(str(exc))}"
                ) from None
            if lost_at is not None:
                logger.info(
                    "MongoDB connection to %s restored after %.1f s",
                    self.shown_url,
                    time.monotonic() - lost_at,
                )
            return result

    def operation_error(self, exc: OperationFailure) -> BackendError:
        """Return a :class:`BackendError` for a command the server rejected."""
        text = self.hide_password(
            str(exc.details.get("errmsg") if exc.details else exc)
        )
        if exc.code == AUTHENTICATION_FAILED:
            return BackendUnavailableError(
                f"MongoDB server {self.shown_url} rejected the login: {text}; "
                "check the user and password in TINA4_QUEUE_URL"
            )
        if exc.code == UNAUTHORIZED:
            return BackendError(
                f"MongoDB server {self.shown_url} denied an operation: {text}; "
                f"grant the user the readWrite role on {self.database_name!r}"
            )
        if exc.code in INDEX_CONFLICT_CODES:
            return BackendError(
                f"MongoDB database {self.database_name!r} has an index that "
                f"conflicts with queuedeck's: {text}; drop that index and "
                "queuedeck recreates it"
            )
        return BackendError(
            f"MongoDB server {self.shown_url} rejected an operation "
            f"(code {exc.code}): {text}"
        )

    def hide_password(self, text: str) -> str:
        """Return *text* with the URL's secrets replaced by ``***``."""
        for secret in _secrets(self.url):
            text = text.replace(secret, "***")
            text = text.replace(urllib.parse.unquote(secret), "***")
        return text.replace(self.url, self.shown_url)


def _secrets(url: str) -> list[str]:
    """Return the password and secret option values written in *url*."""
    userinfo, after = split_userinfo(url.partition("://")[2])
    secrets = []
    if userinfo is not None and userinfo.partition(":")[2]:
        secrets.append(userinfo.partition(":")[2])
    for option in after.partition("?")[2].split("&"):
        name, _, value = option.partition("=")
        if value and _is_secret(name):
            secrets.append(value)
    return secrets
