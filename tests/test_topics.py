"""The portable topic naming rule."""

from __future__ import annotations

import pytest

from queue_core import ConfigurationError, TopicError
from queue_core.topics import (
    MAX_PREFIX_LENGTH,
    MAX_TOPIC_LENGTH,
    validate_prefix,
    validate_topic,
)

RULE_TEXT = "ASCII letters, digits, '.', '_' and '-'"


@pytest.mark.parametrize(
    "name",
    ["emails", "a.b-c_d", "x" * MAX_TOPIC_LENGTH, "0", "Invoices.EU"],
    ids=["emails", "punctuation", "longest", "one-digit", "mixed-case"],
)
def test_valid_names_returned(name: str) -> None:
    assert validate_topic(name) == name


INVALID_NAMES = {
    "parent-path": "../x",
    "slash": "a/b",
    "backslash": "a\\b",
    "dot-dot": "..",
    "dot": ".",
    "empty": "",
    "space": "a b",
    "leading-underscore": "_emails",
    "trailing-newline": "emails\n",
    "colon": "a:b",
    "non-ascii": "café",
    "nul": "a\x00b",
}


@pytest.mark.parametrize("name", list(INVALID_NAMES.values()), ids=list(INVALID_NAMES))
def test_invalid_names_state_rule(name: str) -> None:
    with pytest.raises(TopicError) as error:
        validate_topic(name)

    message = str(error.value)
    assert RULE_TEXT in message
    assert f"1 to {MAX_TOPIC_LENGTH} characters" in message
    assert repr(name) in message


def test_overlong_name_shortened_in_message() -> None:
    name = "a" * 300

    with pytest.raises(TopicError) as error:
        validate_topic(name)

    message = str(error.value)
    assert "300 characters is too long" in message
    assert name not in message
    assert "..." in message


def test_one_past_limit_rejected() -> None:
    with pytest.raises(TopicError, match="101 characters"):
        validate_topic("x" * (MAX_TOPIC_LENGTH + 1))


@pytest.mark.parametrize("name", [None, 42, b"emails", ["emails"]])
def test_non_string_rejected(name: object) -> None:
    with pytest.raises(TopicError) as error:
        validate_topic(name)

    assert type(name).__name__ in str(error.value)
    assert isinstance(error.value, ValueError)


def test_prefix_has_shorter_limit() -> None:
    what = "TINA4_QUEUE_PREFIX"
    longest = "p" * MAX_PREFIX_LENGTH

    assert validate_prefix(longest) == longest
    with pytest.raises(ConfigurationError) as error:
        validate_prefix(longest + "p")
    assert what in str(error.value)
    assert f"1 to {MAX_PREFIX_LENGTH} characters" in str(error.value)
