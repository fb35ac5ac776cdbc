"""Error signatures: error texts with their variable parts normalised.

Jobs that failed for the same reason rarely have identical error texts, since
ids, addresses and numbers differ. The signature keeps the error type and the
wording and replaces those parts with placeholders, so that "4,000 timeouts"
group into one line an operator can retry or purge at once.
"""

from __future__ import annotations

import re

MAX_SIGNATURE_CHARACTERS = 200

# Order matters: longer, more specific shapes are replaced before the numbers
# inside them would be.
_PATTERNS = (
    (
        re.compile(
            r"\b[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\b",
            re.I,
        ),
        "<id>",
    ),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b", re.I), "<id>"),
    (re.compile(r"(?<![A-Za-z0-9<])[-+]?\d+(?:[.,]\d+)*"), "<n>"),
)


def error_signature(error: str | None) -> str | None:
    """Return the signature of *error*: its first line with ids and numbers replaced.

    >>> error_signature("TimeoutError: no reply from 10.0.0.7:25 after 30 s")
    'TimeoutError: no reply from <ip> after <n> s'
    """
    if error is None:
        return None
    # Only the start of the text is read: the patterns backtrack, so a long
    # unbroken token would cost time quadratic in its length.
    line = error.strip()[: MAX_SIGNATURE_CHARACTERS * 2].split("\n", 1)[0].strip()
    for pattern, placeholder in _PATTERNS:
        line = pattern.sub(placeholder, line)
    if len(line) > MAX_SIGNATURE_CHARACTERS:
        line = line[: MAX_SIGNATURE_CHARACTERS - 3] + "..."
    return line or "(no error message)"
