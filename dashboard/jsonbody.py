"""The console's one reader of JSON request bodies.

Every way a body can fail to parse becomes a 400 with a message. That
includes two failures that ``request.get_json(silent=True)`` turns into a
500: nesting deep enough to exhaust Python's recursion limit, and an integer
with more digits than ``int()`` converts (4300 by default in Python 3.11, see
``sys.set_int_max_str_digits``).
"""

from __future__ import annotations

import json
from typing import Any

from flask import request
from werkzeug.exceptions import BadRequest


class _NumberTooLarge(Exception):
    """Raised by the JSON parser for an integer that ``int()`` rejects."""


def read_json_object(*, allow_surrogates: bool = False) -> dict[str, Any]:
    """Parse the request body as a JSON object and return it.

    With *allow_surrogates*, lone surrogates pass through, for a caller that
    checks each field itself and names the field in its error.

    :raises werkzeug.exceptions.BadRequest: if the body is not UTF-8 JSON, is
        nested too deeply, contains a number too large to convert or a lone
        surrogate, or is not an object. The message names the cause.
    :raises werkzeug.exceptions.RequestEntityTooLarge: if the body is over
        the app's ``MAX_CONTENT_LENGTH``.
    """
    data = request.get_data(cache=True)
    try:
        value = json.loads(data, parse_int=_parse_int)
    except RecursionError:
        raise BadRequest(
            "the request body is nested too deeply to parse; flatten the JSON"
        ) from None
    except _NumberTooLarge as exc:
        raise BadRequest(str(exc)) from None
    except UnicodeDecodeError:
        raise BadRequest("the request body is not valid UTF-8") from None
    except ValueError as exc:
        raise BadRequest(
            f"the request body is not valid JSON ({exc}); send a JSON object"
        ) from None
    if not isinstance(value, dict):
        raise BadRequest(
            f"the request body must be a JSON object, not {_json_type(value)}"
        )
    if not allow_surrogates:
        _check_surrogates(value)
    return value


def _check_surrogates(value: dict[str, Any]) -> None:
    # A \ud800-style escape decodes to a lone surrogate, which no backend can
    # store or compare as UTF-8; encoding the whole value finds one anywhere.
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        character = exc.object[exc.start : exc.end]
        raise BadRequest(
            f"the request body contains the lone surrogate {character!r}, which "
            "is not valid Unicode; send the whole character as a surrogate pair"
        ) from None


def _parse_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _NumberTooLarge(
            f"the request body contains a number with {len(text.lstrip('-'))} "
            "digits, which is too large; send large numbers as strings"
        ) from None


def _json_type(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")
