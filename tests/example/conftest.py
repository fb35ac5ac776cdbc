"""Fixtures for the example tests: the example on sys.path, and Chromium.

The Chromium launch settings are the browser tests' own, loaded from
tests/browser/conftest.py so that both suites drive the same browser the same
way.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = ROOT / "examples" / "email_queue"

# The example's modules import each other by plain name (config, app), as
# they do when its Procfile runs them from their own directory.
if str(EXAMPLE_DIR) not in sys.path:
    sys.path.insert(0, str(EXAMPLE_DIR))


def _load_browser_conftest() -> ModuleType:
    path = ROOT / "tests" / "browser" / "conftest.py"
    spec = importlib.util.spec_from_file_location("browser_conftest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_browser = _load_browser_conftest()


@pytest.fixture(scope="session")
def browser_type_launch_args(
    browser_type_launch_args: dict[str, Any],
) -> dict[str, Any]:
    if not _browser.CHROMIUM.exists():
        pytest.fail(
            f"{_browser.CHROMIUM} is missing; install it with: "
            "apt-get install -y chromium"
        )
    return {
        **browser_type_launch_args,
        "executable_path": str(_browser.CHROMIUM),
        "args": _browser.CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1366, "height": 800}}
