"""Isolation shared by every test module."""

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run each test in its own directory with no ``TINA4_QUEUE_*`` variables.

    ``Settings.from_env()`` reads ``.env`` from the working directory and
    resolves the default ``data/queue`` path against it, so a test must never
    run in the repository root.
    """
    for name in list(os.environ):
        if name.startswith("TINA4_QUEUE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
