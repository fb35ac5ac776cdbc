"""Snapshots of the job index, so a new process need not replay every event.

A snapshot is one process's whole :class:`JobIndex`, as compressed JSON cut
into parts of at most 4 MB, published to the ``queuedeck/snapshots`` stream
and followed by a manifest: the snapshot's id, its number of parts and the
events-stream offset it covers. A new process reads the newest manifest
(stream offset ``last``), then the parts just before it, loads them, and
replays the events stream from the covered offset on.

A process writes a snapshot when 5,000 events (or one per two jobs, if that
is more) or 5 minutes have passed since the newest one, and announces it in
the events stream so other processes do not write one too. While it writes,
it holds an exclusive queue as a lock: the broker lets one connection at a
time declare it, and drops it when that connection closes, so a writer that
dies mid-way blocks nobody. Parts of an unfinished snapshot have no manifest
after them and are never read: a reader that finds them at the end of the
stream looks further back for the newest complete snapshot.

Both streams have a retention limit: ``queuedeck/snapshots`` keeps one day,
``queuedeck/events`` seven. RabbitMQ removes only whole segments that are
older than the limit and never the newest one, so the newest snapshot always
survives, and every event it does not cover is younger than it.
"""

from __future__ import annotations

import json
import time
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

import pika  # type: ignore[import-untyped]
import pika.exceptions  # type: ignore[import-untyped]

from .index import JobIndex

SNAPSHOTS_QUEUE = "queuedeck/snapshots"
LOCK_QUEUE = "queuedeck/snapshot-writer"
SNAPSHOTS_ARGUMENTS = {
    "x-queue-type": "stream",
    "x-max-age": "1D",
    "x-stream-max-segment-size-bytes": 64_000_000,
}
PART_BYTES = 4 * 1024 * 1024
SNAPSHOT_EVERY = 5_000
SNAPSHOT_INTERVAL = 300.0
# How long a reader waits for the next snapshot entry before it decides the
# stream has no more.
MANIFEST_WAIT = 0.5
# Entries read before the last chunk when that chunk contains no manifest; the
# window grows eightfold on each step back.
SEARCH_WINDOW = 64
READ_TIMEOUT = 60.0
RESOURCE_LOCKED = 405


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a snapshot covers and where its parts are."""

    snapshot: str
    parts: int
    offset: int
    at: float
    stream_offset: int


def declare(channel: Any) -> None:
    channel.queue_declare(SNAPSHOTS_QUEUE, durable=True, arguments=SNAPSHOTS_ARGUMENTS)


def due(index: JobIndex, *, every: int, interval: float, now: float) -> bool:
    """Return whether *index* has moved far enough past the newest snapshot.

    A snapshot is due after *every* events, or one event per two jobs in the
    index if that is more, so that writing snapshots costs each event at most
    about 20 us; or after *interval* seconds.
    """
    behind = index.next_offset - index.snapshot_offset
    if behind <= 0:
        return False
    return (
        behind >= max(every, len(index.jobs) // 2)
        or now - index.snapshot_at >= interval
    )


def write(connection: Any, index: JobIndex) -> dict[str, Any] | None:
    """Publish a snapshot of *index*; return its announcement event.

    Returns ``None`` without writing when another process holds the lock.
    """
    lock = connection.channel()
    try:
        lock.queue_declare(LOCK_QUEUE, exclusive=True, auto_delete=True)
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code == RESOURCE_LOCKED:
            return None
        raise
    try:
        data = index.dump()
        blob = zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 1)
        parts = [
            blob[start : start + PART_BYTES]
            for start in range(0, len(blob), PART_BYTES)
        ]
        snapshot = uuid.uuid4().hex
        channel = connection.channel()
        channel.confirm_delivery()
        declare(channel)
        for number, part in enumerate(parts):
            channel.basic_publish(
                "", SNAPSHOTS_QUEUE, part, _properties(snapshot, part=number)
            )
        taken_at = time.time()
        manifest = {
            "snapshot": snapshot,
            "parts": len(parts),
            "offset": data["next_offset"],
            "at": taken_at,
        }
        channel.basic_publish(
            "",
            SNAPSHOTS_QUEUE,
            json.dumps(manifest).encode(),
            _properties(snapshot, manifest=True),
        )
        channel.close()
        with index.lock:
            if data["next_offset"] >= index.snapshot_offset:
                index.snapshot_offset = data["next_offset"]
                index.snapshot_at = taken_at
        return {"op": "snapshot", "offset": data["next_offset"], "at": taken_at}
    finally:
        if lock.is_open:
            lock.queue_delete(LOCK_QUEUE)
            lock.close()


def read(connection: Any) -> tuple[dict[str, Any], float] | None:
    """Return the newest snapshot's data and time, or ``None`` if there is none.

    *connection* is a connection of the reader's own; the caller closes it.
    """
    manifest = _newest_manifest(connection)
    if manifest is None:
        return None
    channel = connection.channel()
    channel.basic_qos(prefetch_count=16)
    start = manifest.stream_offset - manifest.parts
    parts: list[bytes] = []
    deadline = time.monotonic() + READ_TIMEOUT
    for method, properties, body in channel.consume(
        SNAPSHOTS_QUEUE,
        arguments={"x-stream-offset": max(start, 0)},
        inactivity_timeout=1.0,
    ):
        if method is None:
            if time.monotonic() > deadline:
                return None
            continue
        channel.basic_ack(method.delivery_tag)
        headers = properties.headers or {}
        if headers.get("x-snapshot") != manifest.snapshot:
            # Parts are published back to back under the lock; anything else
            # between them means the snapshot was cut short by retention.
            return None
        if headers.get("x-manifest"):
            break
        parts.append(body)
    if len(parts) != manifest.parts:
        return None
    data = json.loads(zlib.decompress(b"".join(parts)))
    if data.get("next_offset") != manifest.offset:
        return None
    return data, manifest.at


def _newest_manifest(connection: Any) -> Manifest | None:
    """Return the manifest of the newest complete snapshot, if there is one.

    The stream's last chunk normally starts with the newest manifest. When it
    starts with a part instead (a writer died before its manifest, or is
    still writing), earlier entries are read until a manifest turns up.
    """
    first = _read_last(connection)
    if first is None:
        return None
    if isinstance(first, Manifest):
        return first
    window = SEARCH_WINDOW
    end = first
    while end > 0:
        start = max(end - window, 0)
        found = _scan(connection, start, end)
        if found is not None:
            return found
        end = start
        window *= 8
    return None


def _read_last(connection: Any) -> Manifest | int | None:
    """Return the manifest opening the stream's last chunk, or that chunk's offset.

    Returns ``None`` when the stream is empty.
    """
    channel = connection.channel()
    declare(channel)
    channel.basic_qos(prefetch_count=16)
    for method, properties, body in channel.consume(
        SNAPSHOTS_QUEUE,
        arguments={"x-stream-offset": "last"},
        inactivity_timeout=MANIFEST_WAIT,
    ):
        if method is None:
            return None
        channel.basic_ack(method.delivery_tag)
        manifest = _manifest(properties, body)
        if manifest is not None:
            return manifest
        return int((properties.headers or {})["x-stream-offset"])
    return None


def _scan(connection: Any, start: int, end: int) -> Manifest | None:
    """Return the newest manifest at stream offsets from *start* to *end*."""
    channel = connection.channel()
    channel.basic_qos(prefetch_count=16)
    newest = None
    for method, properties, body in channel.consume(
        SNAPSHOTS_QUEUE,
        arguments={"x-stream-offset": start},
        inactivity_timeout=MANIFEST_WAIT,
    ):
        if method is None:
            break
        channel.basic_ack(method.delivery_tag)
        offset = int((properties.headers or {})["x-stream-offset"])
        if offset >= end:
            break
        newest = _manifest(properties, body) or newest
    return newest


def _manifest(properties: Any, body: bytes) -> Manifest | None:
    headers = properties.headers or {}
    if not headers.get("x-manifest"):
        return None
    data = json.loads(body)
    return Manifest(
        snapshot=data["snapshot"],
        parts=int(data["parts"]),
        offset=int(data["offset"]),
        at=float(data["at"]),
        stream_offset=int(headers["x-stream-offset"]),
    )


def _properties(snapshot: str, *, part: int = 0, manifest: bool = False) -> Any:
    headers: dict[str, Any] = {"x-snapshot": snapshot}
    if manifest:
        headers["x-manifest"] = 1
    else:
        headers["x-part"] = part
    return pika.BasicProperties(
        delivery_mode=pika.DeliveryMode.Persistent, headers=headers
    )
