"""The test servers' URLs, as ``scripts/services env`` prints them."""

from __future__ import annotations

import os

import pytest


def server_url(service: str) -> str:
    """Return ``QUEUEDECK_TEST_<SERVICE>_URL``.

    When it is not set, the test fails under ``CI=true`` and is skipped
    elsewhere, with the command that starts the server.
    """
    variable = f"QUEUEDECK_TEST_{service.upper()}_URL"
    url = os.environ.get(variable)
    if url:
        return url
    message = (
        f"{variable} is not set; run: scripts/services start {service}, then "
        "export the output of scripts/services env"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
