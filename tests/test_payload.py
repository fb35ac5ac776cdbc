"""Checking and encoding payloads, below the queue."""

from __future__ import annotations

import enum
import json
import uuid
from collections import OrderedDict
from decimal import Decimal
from typing import Any

import pytest

from queue_core import PayloadError, PayloadTypeError
from queue_core.payload import decode_payload, encode_payload

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


class Colour(enum.IntEnum):
    RED = 1


def test_encodes_compact_utf8_json() -> None:
    text = encode_payload({"to": "zoë@example.com", "n": [1, 2.5, True, None]})

    assert text == '{"to":"zoë@example.com","n":[1,2.5,true,null]}'


def test_tuples_come_back_as_lists() -> None:
    text = encode_payload({"pair": (1, (2, 3))})

    assert decode_payload(text) == {"pair": [1, [2, 3]]}


def test_accepts_builtin_subclasses() -> None:
    payload = {"colour": Colour.RED, "ordered": OrderedDict(a=1)}

    assert decode_payload(encode_payload(payload)) == {
        "colour": 1,
        "ordered": {"a": 1},
    }


@pytest.mark.parametrize("value", [INT64_MAX, INT64_MIN, 0, -1])
def test_int64_range_accepted(value: int) -> None:
    assert decode_payload(encode_payload({"n": value})) == {"n": value}


@pytest.mark.parametrize("value", [INT64_MAX + 1, INT64_MIN - 1, 10**30])
def test_beyond_int64_rejected(value: int) -> None:
    with pytest.raises(PayloadError) as error:
        encode_payload({"n": value})

    assert "payload['n']" in str(error.value)
    assert "64-bit" in str(error.value)


@pytest.mark.parametrize(
    ("value", "fix"),
    [
        (b"raw", "base64"),
        (bytearray(b"raw"), "base64"),
        ({1, 2}, "convert it to a list"),
        (frozenset({1}), "convert it to a list"),
        (Decimal("1.10"), "string or a float"),
        (uuid.UUID(int=1), "str(value)"),
        (object(), "convert it to a str"),
    ],
    ids=["bytes", "bytearray", "set", "frozenset", "decimal", "uuid", "object"],
)
def test_unsupported_type_suggests_fix(value: object, fix: str) -> None:
    with pytest.raises(PayloadTypeError) as error:
        encode_payload({"field": value})

    message = str(error.value)
    assert "payload['field']" in message
    assert type(value).__name__ in message
    assert fix in message
    assert isinstance(error.value, TypeError)


def test_error_shows_nested_path() -> None:
    with pytest.raises(PayloadTypeError) as error:
        encode_payload({"order": {"lines": [{"sku": "a"}, {"qty": b"2"}]}})

    assert "payload['order']['lines'][1]['qty']" in str(error.value)


def test_non_dict_rejected_with_fix() -> None:
    with pytest.raises(PayloadTypeError) as error:
        encode_payload([1, 2])

    assert "not list" in str(error.value)
    assert "{'items': value}" in str(error.value)


def test_non_string_key_named() -> None:
    with pytest.raises(PayloadTypeError) as error:
        encode_payload({"outer": {(1, 2): "x"}})

    message = str(error.value)
    assert "payload['outer']" in message
    assert "(1, 2)" in message
    assert "tuple" in message


def test_lone_surrogate_located() -> None:
    with pytest.raises(PayloadError) as error:
        encode_payload({"name": "ab\udc80"})

    assert "payload['name']" in str(error.value)
    assert "index 2" in str(error.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_float_rejected(value: float) -> None:
    with pytest.raises(PayloadError) as error:
        encode_payload({"x": value})

    assert "payload['x']" in str(error.value)
    assert "NaN or infinity" in str(error.value)


def test_size_limit_counts_utf8_bytes() -> None:
    # {"t":"..."} encodes to 8 bytes plus the text, and "€" is 3 bytes.
    assert encode_payload({"t": "€" * 4}, max_bytes=20) == '{"t":"€€€€"}'

    with pytest.raises(PayloadError) as error:
        encode_payload({"t": "€" * 5}, max_bytes=20)
    assert "23 bytes" in str(error.value)
    assert "TINA4_QUEUE_MAX_PAYLOAD_BYTES" in str(error.value)


def test_circular_reference_rejected() -> None:
    payload: dict[str, Any] = {}
    payload["self"] = payload

    with pytest.raises(PayloadError):
        encode_payload(payload)


def test_deep_nesting_rejected_cleanly() -> None:
    payload: dict[str, Any] = {}
    inner = payload
    for _ in range(5000):
        inner["x"] = {}
        inner = inner["x"]

    with pytest.raises(PayloadError):
        encode_payload(payload)


def test_decode_rejects_non_object() -> None:
    with pytest.raises(PayloadError, match="list"):
        decode_payload(json.dumps([1, 2]))
