"""Jinja filters: payload previews, UTC timestamps and ages."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

PREVIEW_CHARACTERS = 160
ERROR_PREVIEW_CHARACTERS = 200
PRETTY_PAYLOAD_CHARACTERS = 64 * 1024

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_PRETTY_ENCODER = json.JSONEncoder(ensure_ascii=False, indent=2)


def payload_preview(payload: dict[str, Any], limit: int = PREVIEW_CHARACTERS) -> str:
    """Return the compact JSON of *payload*, cut to *limit* characters.

    Encoding stops once *limit* is reached, so a 5 MB payload costs no more
    than a small one.
    """
    return _encode_prefix(_ENCODER, payload, limit)


def pretty_payload(
    payload: dict[str, Any], limit: int = PRETTY_PAYLOAD_CHARACTERS
) -> str:
    """Return *payload* as indented JSON, cut to *limit* characters."""
    return _encode_prefix(_PRETTY_ENCODER, payload, limit)


def is_cut(text: str, limit: int) -> bool:
    """Return whether a preview made with *limit* was cut."""
    return text.endswith("…") and len(text) == limit + 1


def shorten(text: str | None, limit: int = ERROR_PREVIEW_CHARACTERS) -> str:
    """Return the first line of *text*, cut to *limit* characters."""
    if not text:
        return ""
    line = text.strip().split("\n", 1)[0]
    return line if len(line) <= limit else line[:limit] + "…"


def utc_text(value: datetime | float | None) -> str:
    """Return *value* (a datetime or Unix seconds) as ``YYYY-MM-DD HH:MM:SS UTC``."""
    if value is None:
        return "-"
    moment = _as_datetime(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def age_text(value: datetime | float | None, now: float | None = None) -> str:
    """Return how long ago *value* was, such as ``3 min ago`` or ``in 20 s``."""
    if value is None:
        return "-"
    moment = _as_datetime(value).timestamp()
    seconds = (time.time() if now is None else now) - moment
    if seconds < 0:
        return "in " + duration_text(-seconds)
    return duration_text(seconds) + " ago"


def duration_text(seconds: float | None) -> str:
    """Return *seconds* as a short duration such as ``45 s`` or ``2 h 5 min``."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, second = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {second} s" if minutes < 10 else f"{minutes} min"
    hours, minute = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minute} min"
    return f"{hours // 24} d {hours % 24} h"


def _encode_prefix(encoder: json.JSONEncoder, value: Any, limit: int) -> str:
    parts: list[str] = []
    size = 0
    for chunk in encoder.iterencode(value):
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            return "".join(parts)[:limit] + "…"
    return "".join(parts)


def _as_datetime(value: datetime | float) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromtimestamp(value, tz=UTC)
