"""Error signatures: error texts with ids, addresses and numbers replaced."""

from __future__ import annotations

import time

import pytest

from queue_core.signature import MAX_SIGNATURE_CHARACTERS, error_signature


@pytest.mark.parametrize(
    ("error", "signature"),
    [
        (
            "TimeoutError: no reply from 10.0.0.7:25 after 30 s",
            "TimeoutError: no reply from <ip> after <n> s",
        ),
        ("order 123 failed for bob@example.com", "order <n> failed for <email>"),
        ("job 01a241fcfd4c5a05a063ac8a14a4c5de gone", "job <id> gone"),
        (
            "row 123e4567-e89b-12d3-a456-426614174000 locked",
            "row <id> locked",
        ),
        ("ValueError: -3.5 and 1,000", "ValueError: <n> and <n>"),
        ("KeyError: 'user_80002'", "KeyError: 'user_<n>'"),
        ("E11000 duplicate key on v2", "E11000 duplicate key on v2"),
        ("first line 1\nsecond line 2", "first line <n>"),
        ("", "(no error message)"),
        ("   \n  ", "(no error message)"),
    ],
    ids=[
        "ip",
        "email",
        "hex-id",
        "uuid",
        "numbers",
        "after-underscore",
        "inside-word",
        "first-line",
        "empty",
        "blank",
    ],
)
def test_signature_normalises(error: str, signature: str) -> None:
    assert error_signature(error) == signature


def test_none_has_no_signature() -> None:
    assert error_signature(None) is None


def test_same_reason_same_signature() -> None:
    first = error_signature("SMTP 421 from relay 10.1.2.3 for alice@example.com")
    second = error_signature("SMTP 451 from relay 10.9.9.9 for bob@example.org")

    assert first == second


def test_long_signature_shortened() -> None:
    signature = error_signature("word " * 100)

    assert signature is not None
    assert len(signature) == MAX_SIGNATURE_CHARACTERS
    assert signature.endswith("...")


def test_long_word_signed_quickly() -> None:
    # A worker's fail() computes the signature, so a pathological error text
    # (one 30,000-character token, as from a base64 blob in an exception) must
    # not make it slow.
    started = time.monotonic()
    signature = error_signature("x" * 30_000)
    elapsed = time.monotonic() - started

    assert signature is not None
    assert elapsed < 0.5, f"error_signature took {elapsed:.1f} s"
