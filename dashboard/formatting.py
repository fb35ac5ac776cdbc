"""Jinja filters: payload previews, visible control characters, times and ages."""

from __future__ import annotations

import json
import re
import time
import unicodedata
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

PREVIEW_CHARACTERS = 160
ERROR_PREVIEW_CHARACTERS = 200
PRETTY_PAYLOAD_CHARACTERS = 64 * 1024

_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_PRETTY_ENCODER = json.JSONEncoder(ensure_ascii=False, indent=2)

# Characters that act on the text around them instead of showing: C0 and C1
# controls and DEL (tab and newline excepted), the Unicode line and paragraph
# separators, the bidirectional marks, embeddings, overrides and isolates,
# and the zero-width characters. An error text such as "gpj\u202e.exe" would
# otherwise display reversed. The zero-width joiner is left alone because
# emoji sequences need it.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b\u200c\u200e\u200f"
    "\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)


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


def visible(text: object) -> Markup:
    """Return *text* HTML-escaped, with each control or bidi character shown.

    Every character that would act on the page instead of showing (see
    ``_INVISIBLE``) becomes its escape, such as ``\\u202e``, in a
    ``<span class="ctrl">`` whose title names the character.
    """
    if text is None:
        return Markup("")
    escaped = str(escape(text))
    return Markup(_INVISIBLE.sub(_control_span, escaped))


def escape_invisible_json(text: str) -> str:
    """Return JSON *text* with each control or bidi character as a ``\\uXXXX`` escape.

    Such characters occur only inside JSON strings, where the escape decodes
    to the same character, so the text still parses to the same value.
    """
    return _INVISIBLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """Return *count* with thousands separators and *noun* in the right number.

    ``plural(1, "job")`` is ``"1 job"``, ``plural(1200, "job")`` is
    ``"1,200 jobs"``.
    """
    word = noun if count == 1 else plural_noun or noun + "s"
    return f"{count:,} {word}"


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


def _control_span(match: re.Match[str]) -> str:
    character = match.group()
    code = ord(character)
    shown = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    name = unicodedata.name(character, "control character")
    return f'<span class="ctrl" title="U+{code:04X} {name}">{shown}</span>'


def _as_datetime(value: datetime | float) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromtimestamp(value, tz=UTC)
