"""Reading and checking the request bodies of the example's ``/api/emails`` API.

The API reads bodies with the console's :func:`read_json_object`, so every way
a body can fail to parse becomes a 400 with a message. :func:`validate_email`
accepts only emails that the worker can send through ``smtplib`` to the local
SMTP server, which does not offer SMTPUTF8.
"""

from __future__ import annotations

import json
import unicodedata
from email.errors import HeaderParseError
from email.headerregistry import Address

EMAIL_FIELDS = ("to", "subject", "body")

# RFC 5321 section 4.5.3.1: a local part is at most 64 octets, and a path at
# most 256 including its angle brackets, so an address at most 254.
MAX_LOCAL_PART_OCTETS = 64
MAX_ADDRESS_OCTETS = 254

# Characters that end or split a header line, or do not print: every C0 and
# C1 control (tab, CR and LF included) and the Unicode line and paragraph
# separators, which str.splitlines() and some mail clients treat as newlines.
_LINE_CATEGORIES = ("Cc", "Zl", "Zp")


def encoded_size(payload: dict[str, str]) -> int:
    """Return the size in bytes of *payload* as the queue stores it.

    The queue encodes payloads as compact UTF-8 JSON, like this.
    """
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return len(text.encode("utf-8", "surrogatepass"))


def validate_email(data: dict[str, object]) -> dict[str, str]:
    """Return one error message per invalid field of *data*, or an empty dict."""
    errors: dict[str, str] = {}
    for name in EMAIL_FIELDS:
        problem = _text_problem(name, data.get(name))
        if problem:
            errors[name] = problem
    if "to" not in errors:
        problem = _address_problem(str(data["to"]))
        if problem:
            errors["to"] = problem
    return errors


def _text_problem(name: str, value: object) -> str | None:
    if value is None:
        return f"{name} is required"
    if not isinstance(value, str):
        return f"{name} must be a string"
    if not value.strip():
        return f"{name} must not be empty"

    for index, character in enumerate(value):
        if 0xD800 <= ord(character) <= 0xDFFF:
            return (
                f"{name} contains a lone surrogate {character!r} at index {index}, "
                "which is not valid Unicode"
            )
        if name == "body":
            if character == "\x00":
                return f"body must not contain NUL characters (index {index})"
        elif unicodedata.category(character) in _LINE_CATEGORIES:
            return (
                f"{name} must be a single line without control characters or "
                f"line separators; found {character!r} at index {index}"
            )
    return None


def _address_problem(to: str) -> str | None:
    example = "such as alice@example.com"
    if not to.isascii():
        return (
            f"to must be an ASCII email address {example}, not {to!r}; the SMTP "
            "server does not accept internationalised (SMTPUTF8) addresses"
        )
    try:
        address = Address(addr_spec=to)
    except (ValueError, HeaderParseError, IndexError):
        address = None
    if address is None or not address.domain or address.addr_spec != to:
        return f"to must be a single email address {example}, not {to!r}"
    local_part = to.rpartition("@")[0]
    if len(local_part) > MAX_LOCAL_PART_OCTETS:
        return (
            f"to has a local part of {len(local_part)} characters; the limit "
            f"is {MAX_LOCAL_PART_OCTETS}"
        )
    if len(to) > MAX_ADDRESS_OCTETS:
        return f"to is {len(to)} characters long; the limit is {MAX_ADDRESS_OCTETS}"
    return None
