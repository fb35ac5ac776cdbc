"""Backoff validation and the delays it computes."""

from __future__ import annotations

import math

import pytest

from queue_core import Backoff


def test_delay_grows_exponentially() -> None:
    backoff = Backoff(base=0.5, factor=3.0, maximum=100.0, jitter=0.0)

    assert backoff.delay(1) == 0.5
    assert backoff.delay(2) == 1.5
    assert backoff.delay(3) == 4.5
    assert backoff.delay(4) == 13.5


def test_delay_capped_at_maximum() -> None:
    backoff = Backoff(base=1.0, factor=2.0, maximum=10.0, jitter=0.0)

    assert backoff.delay(5) == 10.0
    assert backoff.delay(50) == 10.0
    # 2.0 ** 9999 overflows a float.
    assert backoff.delay(10_000) == 10.0


def test_attempt_below_one_uses_base() -> None:
    backoff = Backoff(base=2.0, factor=2.0, maximum=10.0, jitter=0.0)

    assert backoff.delay(0) == 2.0
    assert backoff.delay(-3) == 2.0


def test_jitter_stays_within_fraction() -> None:
    backoff = Backoff(base=10.0, factor=1.0, maximum=100.0, jitter=0.2)

    delays = [backoff.delay(1) for _ in range(500)]

    assert min(delays) >= 8.0
    assert max(delays) <= 12.0
    assert len(set(delays)) > 1


def test_zero_base_means_no_wait() -> None:
    backoff = Backoff(base=0.0, factor=2.0, maximum=10.0, jitter=0.5)

    assert backoff.delay(3) == 0.0


def test_defaults() -> None:
    backoff = Backoff()

    assert backoff.base == 1.0
    assert backoff.factor == 2.0
    assert backoff.maximum == 300.0
    assert backoff.jitter == 0.1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("base", -1.0),
        ("base", math.nan),
        ("base", math.inf),
        ("base", "1"),
        ("maximum", -0.1),
        ("factor", 0.5),
        ("factor", math.inf),
        ("jitter", 1.5),
        ("jitter", -0.1),
    ],
)
def test_invalid_field_rejected(field: str, value: object) -> None:
    with pytest.raises(ValueError) as error:
        Backoff(**{field: value})  # type: ignore[arg-type]

    assert f"Backoff {field}" in str(error.value)
