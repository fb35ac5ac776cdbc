"""Fixtures for the browser tests: console servers on 127.0.0.1 and Chromium.

Playwright drives Debian's Chromium at /usr/bin/chromium, because
``playwright install`` downloads a browser build and cannot run offline.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from dashboard import ConsoleSettings, create_app, init_app
from queue_core import Queue, Settings
from queue_core.backends import Backend, open_backend
from tests.browser.browser_helpers import serve

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
DOC_IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
# Set to 1 to write the screenshots of docs/triage.md into docs/images.
DOC_SCREENSHOTS_VARIABLE = "QUEUEDECK_DOC_SCREENSHOTS"


@pytest.fixture(scope="session")
def browser_type_launch_args(
    browser_type_launch_args: dict[str, Any],
) -> dict[str, Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing; install it with: apt-get install -y chromium"
        )
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1366, "height": 800}}


@pytest.fixture
def queue_settings(tmp_path: Path) -> Settings:
    return Settings(path=tmp_path / "queue")


@pytest.fixture
def backend(queue_settings: Settings) -> Iterator[Backend]:
    opened = open_backend(queue_settings)
    yield opened
    opened.close()


@pytest.fixture
def make_queue(queue_settings: Settings, backend: Backend) -> Callable[[str], Queue]:
    def make(topic: str) -> Queue:
        return Queue(topic, max_retries=1, settings=queue_settings, backend=backend)

    return make


@pytest.fixture
def console_url(queue_settings: Settings, backend: Backend) -> Iterator[str]:
    settings = ConsoleSettings(
        secret_key="browser tests", refresh_seconds=2, sample_seconds=0
    )
    yield from serve(create_app(settings, queue_settings, backend))


@pytest.fixture
def host_url(queue_settings: Settings, backend: Backend) -> Iterator[str]:
    host = Flask("host")
    host.config["SECRET_KEY"] = "host secret"

    @host.get("/")
    def home() -> str:
        return "host home"

    init_app(
        host,
        url_prefix="/admin/queues",
        settings=ConsoleSettings(sample_seconds=0),
        queue_settings=queue_settings,
        backend=backend,
    )
    yield from serve(host)


@pytest.fixture
def screenshot(page: Any) -> Callable[[str], None]:
    """Save the page in light and dark mode under test-output/screenshots."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> None:
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            page.screenshot(
                path=str(SCREENSHOTS / f"{name}-{scheme}.png"), full_page=True
            )
        page.emulate_media(color_scheme="light")

    return take


@pytest.fixture
def doc_screenshot(page: Any) -> Callable[[str, str], None]:
    """Save one element of the page, in light mode, as a documentation image.

    The PNG goes to test-output/screenshots, and also to docs/images when
    QUEUEDECK_DOC_SCREENSHOTS=1, so that an ordinary test run leaves the
    committed images alone.
    """
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    targets = [SCREENSHOTS]
    if os.environ.get(DOC_SCREENSHOTS_VARIABLE) == "1":
        targets.append(DOC_IMAGES)

    def take(name: str, selector: str) -> None:
        page.emulate_media(color_scheme="light")
        for directory in targets:
            page.locator(selector).screenshot(path=str(directory / f"{name}.png"))

    return take
