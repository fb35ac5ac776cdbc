"""Upper limits on times and counts, checked before anything is stored."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from queue_core import Backoff, PayloadError, PayloadTooLargeError, Queue, Settings
from queue_core.job import utc_datetime
from queue_core.limits import MAX_DELAY_SECONDS, MAX_LEASE_SECONDS, MAX_RETRIES_LIMIT
from queue_core.payload import encode_payload


def test_delay_over_limit_stores_nothing() -> None:
    queue = Queue("emails")

    with pytest.raises(ValueError, match="from 0 to") as raised:
        queue.push({"n": 1}, delay=MAX_DELAY_SECONDS + 1)

    assert "10 years" in str(raised.value)
    assert queue.size() == 0


def test_delay_at_limit_accepted() -> None:
    queue = Queue("emails")

    queue.push({"n": 1}, delay=MAX_DELAY_SECONDS)

    assert queue.size() == 1
    assert queue.pop() is None


def test_extend_lease_over_limit_rejected() -> None:
    queue = Queue("emails")
    queue.push({"n": 1})
    job = queue.pop()
    assert job is not None
    expires_before = job.lease_expires_at

    with pytest.raises(ValueError, match="7 days"):
        job.extend_lease(MAX_LEASE_SECONDS + 1)

    assert job.lease_expires_at == expires_before
    assert job.extend_lease(MAX_LEASE_SECONDS)
    assert job.complete()


def test_max_retries_over_limit_rejected() -> None:
    with pytest.raises(ValueError, match=f"from 0 to {MAX_RETRIES_LIMIT}"):
        Queue("emails", max_retries=MAX_RETRIES_LIMIT + 1)


def test_backoff_over_limit_rejected() -> None:
    with pytest.raises(ValueError, match="10 years"):
        Backoff(base=1e12)
    with pytest.raises(ValueError, match="10 years"):
        Backoff(maximum=1e12)


def test_time_past_datetime_range_clamped() -> None:
    assert utc_datetime(1e13) == datetime.max.replace(tzinfo=UTC)
    assert utc_datetime(0) == datetime(1970, 1, 1, tzinfo=UTC)


def test_too_large_payload_error_type() -> None:
    with pytest.raises(PayloadTooLargeError, match="over the limit of 100 bytes"):
        encode_payload({"text": "x" * 200}, max_bytes=100)


def test_subclass_hiding_nan_rejected() -> None:
    class Sneaky(float):
        def __float__(self) -> float:
            return 1.0

    with pytest.raises(PayloadError, match="NaN"):
        encode_payload({"value": Sneaky("nan")})


def test_subclass_hiding_big_int_rejected() -> None:
    class Sneaky(int):
        def __int__(self) -> int:
            return 0

    with pytest.raises(PayloadError, match="64-bit"):
        encode_payload({"value": Sneaky(2**70)})


def test_settings_reject_huge_timeout() -> None:
    environ = {"TINA4_QUEUE_VISIBILITY_TIMEOUT": str(MAX_LEASE_SECONDS * 2)}

    with pytest.raises(ValueError, match="at most"):
        Settings.from_env(environ, env_file=None)
