"""Automatic retry with exponential backoff, opt-in per queue."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .limits import MAX_DELAY_SECONDS


@dataclass(frozen=True)
class Backoff:
    """How long a failed job waits before its next attempt.

    Attempt *n* (counting from 1) waits ``base * factor ** (n - 1)`` seconds,
    capped at ``maximum``, then spread by up to ``jitter`` of that value either
    way so that jobs failing together do not all return together.

    Pass one to :class:`queue_core.Queue` as ``retry_backoff`` to turn on
    automatic retry: a failed job with attempts left goes back to pending
    after the delay instead of waiting in ``failed`` for an operator.
    """

    base: float = 1.0
    factor: float = 2.0
    maximum: float = 300.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        for name in ("base", "factor", "maximum", "jitter"):
            value = getattr(self, name)
            if (
                not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise ValueError(
                    f"Backoff {name} must be a finite number >= 0, not {value!r}"
                )
        if self.base > MAX_DELAY_SECONDS or self.maximum > MAX_DELAY_SECONDS:
            raise ValueError(
                f"Backoff base and maximum must be at most {MAX_DELAY_SECONDS} "
                f"seconds (10 years), not {self.base!r} and {self.maximum!r}"
            )
        if self.factor < 1:
            raise ValueError(f"Backoff factor must be >= 1, not {self.factor!r}")
        if self.jitter > 1:
            raise ValueError(
                f"Backoff jitter is a fraction from 0 to 1, not {self.jitter!r}"
            )

    def delay(self, attempt: int) -> float:
        """Return the wait in seconds after failed attempt number *attempt*."""
        exponent = max(attempt - 1, 0)
        try:
            delay = min(self.maximum, self.base * self.factor**exponent)
        except OverflowError:
            delay = self.maximum
        if self.jitter:
            delay *= 1 + random.uniform(-self.jitter, self.jitter)
        return max(delay, 0.0)
