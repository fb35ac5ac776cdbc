"""Hostile text for the console and API tests: markup, controls, bidi, sizes.

Each script in here sets ``window.__xss`` if it ever runs, so a browser test
can check one global. The only host named is ``example.invalid``, which never
resolves.
"""

from __future__ import annotations

import time

from queue_core import Queue, WorkerRecord
from queue_core.backends import Backend

SCRIPT_TAG = "<script>window.__xss = 'script'</script>"
DOUBLE_QUOTE_BREAK = '"><img src=x onerror="window.__xss=\'img\'">'
SINGLE_QUOTE_BREAK = "' onmouseover='window.__xss=\"hover\"' x='"
TEXTAREA_BREAK = "</textarea><svg onload=\"window.__xss='svg'\"></svg>"
TEMPLATE_SYNTAX = "{{ 7 * 7 }} {% raw %} ${7*7} #{7*7} [[7*7]]"
HTMX_ATTRIBUTE = "<div hx-get='/' hx-trigger='load' hx-on::load='window.__xss=1'>"
JAVASCRIPT_URL = "javascript:window.__xss='url'//https://example.invalid/"
COMMENT_BREAK = "--><!-- <![CDATA[ ]]> </pre></code></td></tr></table>"
C0_CONTROLS = "nul\x00 esc\x1b[31mred\x1b[0m bell\x07 bs\x08 vt\x0b ff\x0c cr\r del\x7f"
C1_CONTROLS = "nel\x85 csi\x9b2J st\x9c osc\x9d"
BIDI_CONTROLS = "rtl \u202eexe.gpj\u202c lri\u2066x\u2069 rlm\u200f alm\u061c"
ZERO_WIDTH = "zw\u200bs\u200cn\u200dj\u2060w\ufeffb"
RTL_WORDS = "שלום עולם 12-34"
# A woman technologist and a rainbow flag (joined by U+200D), Fraktur "Uni",
# a mahjong tile and the last code point of plane 16.
ASTRAL = (
    "\U0001f469\u200d\U0001f4bb \U0001f3f3\ufe0f\u200d\U0001f308 "
    "\U0001d518\U0001d52b\U0001d526 \U0001f004 \U0010fffd"
)
LONG_WORD = "W" * 5000

# Texts that every page must show as text, by a short name for test ids.
HOSTILE_TEXTS = {
    "script": SCRIPT_TAG,
    "double-quote": DOUBLE_QUOTE_BREAK,
    "single-quote": SINGLE_QUOTE_BREAK,
    "textarea": TEXTAREA_BREAK,
    "template": TEMPLATE_SYNTAX,
    "htmx": HTMX_ATTRIBUTE,
    "js-url": JAVASCRIPT_URL,
    "comment": COMMENT_BREAK,
    "c0": C0_CONTROLS,
    "c1": C1_CONTROLS,
    "bidi": BIDI_CONTROLS,
    "zero-width": ZERO_WIDTH,
    "rtl": RTL_WORDS,
    "astral": ASTRAL,
    "long-word": LONG_WORD,
}

# About a million characters (999,997), under the default 1 MiB payload
# limit once JSON-encoded.
MEGABYTE_TEXT = "<b>" + "M" * 999_990 + "</b>"

# Characters that act on the page instead of showing; the console shows each
# as an escape, so none may appear as itself in a page's text.
ACTING_CHARACTERS = (
    "\x00\x07\x08\x0b\x0c\r\x1b\x7f\x85\x9b\x9c\x9d"
    "\u061c\u200b\u200c\u200f\u202c\u202e\u2060\u2066\u2069\ufeff"
)

# Topic names the naming rule rejects, and odd ones it accepts.
REJECTED_TOPICS = (
    "<script>",
    "a b",
    ".hidden",
    "-dash",
    "emails\u202e",
    "caf\u00e9",
    "a/b",
    "x" * 101,
    "%00",
)
ODD_TOPICS = ("0", "a..b", "A.b_c-D", "x-", "9_", "t" * 100)


def hostile_payload(name: str, text: str) -> dict[str, object]:
    """Return a payload that carries *text* as a value, a key and in a list."""
    return {"case": name, "text": text, text[:200]: [text[:200], {"nested": text}]}


def seed_hostile(queue: Queue, backend: Backend) -> dict[str, str]:
    """Store one pending and one dead job per hostile text, and a worker.

    The dead job's error is ``ValueError: <text>``; the queue must have
    max_retries=1. Returns the dead job id per name, with ``"megabyte"`` for a
    job whose payload and error are :data:`MEGABYTE_TEXT`.
    """
    dead: dict[str, str] = {}
    for name, text in HOSTILE_TEXTS.items():
        queue.push(hostile_payload(name, text))
        dead[name] = fail_once(
            queue, hostile_payload(name, text), f"ValueError: {text}"
        )
    dead["megabyte"] = fail_once(queue, {"big": MEGABYTE_TEXT}, MEGABYTE_TEXT)

    now = time.time()
    backend.record_heartbeat(
        WorkerRecord(
            SCRIPT_TAG, queue.topic, DOUBLE_QUOTE_BREAK + BIDI_CONTROLS, 4242,
            now - 60, now, C0_CONTROLS + LONG_WORD, 5, 1,
        )
    )  # fmt: skip
    return dead


def fail_once(queue: Queue, payload: dict[str, object], error: str) -> str:
    """Push *payload*, fail it once with *error* and return its id."""
    job_id = queue.push(payload)
    job = next(queue.consume(id=job_id, poll_interval=0))
    assert job.fail(error)
    return job_id
