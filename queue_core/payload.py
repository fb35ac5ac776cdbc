"""Checking, encoding and decoding job payloads.

A payload is a JSON object: a ``dict`` with string keys whose values are
``None``, ``bool``, ``int``, ``float``, ``str``, ``list``, ``tuple`` or nested
dicts of the same. Everything else is rejected before anything is stored, with
the path of the offending value in the message, so a push either stores the
whole payload or nothing.

Integers are limited to the signed 64-bit range because MongoDB and most JSON
consumers outside Python cannot hold larger ones, and floats must be finite
because JSON has no NaN or infinity. Tuples are stored as JSON arrays and come
back as lists.
"""

from __future__ import annotations

import json
import math
from typing import Any, cast

from .errors import PayloadError, PayloadTooLargeError, PayloadTypeError

DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024

# One encoder for every call: json.dumps() with options builds a new one each time.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))

# MongoDB rejects documents nested deeper than 100 levels, and a payload that
# contains itself would otherwise recurse until Python's stack runs out.
MAX_DEPTH = 100

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

_FIXES = {
    "bytes": "decode it to str or encode it with base64",
    "bytearray": "decode it to str or encode it with base64",
    "datetime": "store an ISO 8601 string from .isoformat()",
    "date": "store an ISO 8601 string from .isoformat()",
    "time": "store an ISO 8601 string from .isoformat()",
    "set": "convert it to a list",
    "frozenset": "convert it to a list",
    "Decimal": "store it as a string or a float",
    "UUID": "store str(value)",
}


def encode_payload(
    payload: object, *, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
) -> str:
    """Check *payload* and return it as compact JSON text.

    :raises PayloadTypeError: if *payload* is not a dict or contains a value JSON
        cannot carry; the message names the key.
    :raises PayloadError: if a float is not finite, a string is not valid
        Unicode, or the encoded payload is larger than *max_bytes*.
    """
    if not isinstance(payload, dict):
        raise PayloadTypeError(
            f"payload must be a dict (a JSON object), not {type(payload).__name__}; "
            "wrap the value in a dict such as {'items': value}"
        )
    _check_value(payload, ())

    try:
        text = _ENCODER.encode(payload)
        size = len(text.encode("utf-8"))
    except (ValueError, UnicodeEncodeError) as exc:
        # Only a subclass that hides its value from the checks above gets
        # here, for example a float subclass holding NaN.
        raise PayloadError(f"payload cannot be encoded as JSON: {exc}") from None
    if size > max_bytes:
        raise PayloadTooLargeError(
            f"payload is {size} bytes, over the limit of {max_bytes} bytes; "
            "store large data elsewhere and push a reference to it, or raise "
            "TINA4_QUEUE_MAX_PAYLOAD_BYTES"
        )
    return text


def decode_payload(text: str | bytes) -> dict[str, Any]:
    """Return the payload dict stored as JSON *text*."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise PayloadError(
            f"stored payload is a {type(value).__name__}, not a JSON object"
        )
    return value


def _check_value(value: object, path: tuple[object, ...]) -> None:
    # The path is kept as a tuple and formatted only for an error message,
    # because building a string per value would double the cost of a push.
    kind = type(value)
    if kind is str:
        _check_text(value, path)  # type: ignore[arg-type]
    elif kind is dict or kind is list or kind is tuple:
        if len(path) >= MAX_DEPTH:
            raise PayloadError(
                f"{_format_path(path)} is nested more than {MAX_DEPTH} levels deep, "
                "or contains itself; flatten the payload"
            )
        if kind is dict:
            for key, item in value.items():  # type: ignore[attr-defined]
                if type(key) is not str:
                    raise PayloadTypeError(
                        f"{_format_path(path)} has a key {key!r} of type "
                        f"{type(key).__name__}; JSON object keys must be strings, "
                        "so convert it with str()"
                    )
                _check_text(key, path)
                _check_value(item, (*path, key))
        else:
            for index, item in enumerate(cast(list[object], value)):
                _check_value(item, (*path, index))
    elif kind is bool or value is None:
        return
    elif kind is int:
        if not _INT64_MIN <= value <= _INT64_MAX:  # type: ignore[operator]
            raise PayloadError(
                f"{_format_path(path)} is {value}, outside the signed 64-bit range; "
                "store it as a string"
            )
    elif kind is float:
        if not math.isfinite(value):  # type: ignore[arg-type]
            raise PayloadError(
                f"{_format_path(path)} is {value!r}; JSON has no NaN or infinity, "
                "so use None or a string"
            )
    else:
        _check_subclass(value, path)


def _check_subclass(value: object, path: tuple[object, ...]) -> None:
    # Subclasses such as IntEnum or OrderedDict are accepted as their base type;
    # everything else is rejected with a fix for the common cases.
    if isinstance(value, bool):
        return
    # The base type's own methods read the stored value, which is what the
    # JSON encoder writes, even when the subclass overrides __str__ or __int__.
    if isinstance(value, str):
        _check_value(str.__str__(value), path)
    elif isinstance(value, int):
        _check_value(int.__int__(value), path)
    elif isinstance(value, float):
        _check_value(float.__float__(value), path)
    elif isinstance(value, dict):
        _check_value(dict(dict.items(value)), path)
    elif isinstance(value, (list, tuple)):
        _check_value(list(cast(list[object], value)), path)
    else:
        name = type(value).__name__
        fix = _FIXES.get(name, "convert it to a str, number, bool, None, list or dict")
        raise PayloadTypeError(
            f"{_format_path(path)} is of type {name}, which JSON cannot store; {fix}"
        )


def _check_text(text: str, path: tuple[object, ...]) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PayloadError(
            f"{_format_path(path)} contains a lone surrogate {text[exc.start]!r} at "
            f"index {exc.start} of {text[:40]!r}, which is not valid Unicode; "
            "decode the source text with errors='replace'"
        ) from None


def _format_path(path: tuple[object, ...]) -> str:
    parts = [f"[{part!r}]" for part in path]
    if len(parts) > 8:
        parts[3:-3] = ["..."]
    return "payload" + "".join(parts)
