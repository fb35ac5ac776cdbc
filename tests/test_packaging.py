"""The wheel's package list, which pyproject.toml names by hand."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setuptools_config() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        config = tomllib.load(file)
    return config["tool"]["setuptools"]  # type: ignore[no-any-return]


def test_every_package_is_listed() -> None:
    listed = set(_setuptools_config()["packages"])  # type: ignore[call-overload]
    for top in ("queue_core", "dashboard"):
        for init in (ROOT / top).rglob("__init__.py"):
            package = ".".join(init.parent.relative_to(ROOT).parts)
            assert package in listed, f"add {package!r} to pyproject.toml"


def test_console_assets_are_mapped() -> None:
    package_dir = _setuptools_config()["package-dir"]

    assert package_dir == {  # type: ignore[comparison-overlap]
        "dashboard.templates": "templates",
        "dashboard.static": "static",
    }
    assert (ROOT / "templates" / "queuedeck" / "base.html").is_file()
    assert (ROOT / "static" / "console.css").is_file()
