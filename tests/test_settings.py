"""Settings from the environment and ``.env``, and choosing a backend."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from queue_core import ConfigurationError, Queue, Settings


def test_invalid_value_names_env_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TINA4_QUEUE_VISIBILITY_TIMEOUT=abc\n")

    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env()

    assert "'abc' (set in .env)" in str(raised.value)


def test_visibility_timeout_has_maximum(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINA4_QUEUE_VISIBILITY_TIMEOUT", "1e12")

    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env()

    assert "TINA4_QUEUE_VISIBILITY_TIMEOUT '1e12'" in str(raised.value)
    assert "at most 604800" in str(raised.value)


def test_unknown_variable_warns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TINA4_QUEUE_BACKNED", "rabbitmq")

    settings = Settings.from_env()

    assert settings.backend == "file"
    assert "unknown setting TINA4_QUEUE_BACKNED is ignored" in caplog.text
    assert "did you mean TINA4_QUEUE_BACKEND?" in caplog.text


def test_defaults_without_variables(tmp_path: Path) -> None:
    settings = Settings.from_env()

    assert settings.backend == "file"
    assert settings.url is None
    assert settings.path == tmp_path / "data" / "queue"
    assert settings.visibility_timeout == 300.0
    assert settings.prefix == ""
    assert settings.max_payload_bytes == 1024 * 1024
    assert settings.file_sync == "normal"


def test_reads_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINA4_QUEUE_BACKEND", " File ")
    monkeypatch.setenv("TINA4_QUEUE_PATH", "stores/queue")
    monkeypatch.setenv("TINA4_QUEUE_VISIBILITY_TIMEOUT", "2.5")
    monkeypatch.setenv("TINA4_QUEUE_PREFIX", "staging")
    monkeypatch.setenv("TINA4_QUEUE_MAX_PAYLOAD_BYTES", "2048")
    monkeypatch.setenv("TINA4_QUEUE_FILE_SYNC", "FULL")

    settings = Settings.from_env()

    assert settings.backend == "file"
    assert settings.path == tmp_path / "stores" / "queue"
    assert settings.path.is_absolute()
    assert settings.visibility_timeout == 2.5
    assert settings.prefix == "staging"
    assert settings.max_payload_bytes == 2048
    assert settings.file_sync == "full"


def test_reads_dotenv_in_cwd(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "TINA4_QUEUE_VISIBILITY_TIMEOUT=7\n"
        "TINA4_QUEUE_PREFIX=fromfile\n"
        "OTHER_APP_SETTING=ignored\n",
        encoding="utf-8",
    )

    settings = Settings.from_env()

    assert settings.visibility_timeout == 7.0
    assert settings.prefix == "fromfile"
    assert Queue("emails").settings.prefix == "fromfile"


def test_environment_wins_over_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "TINA4_QUEUE_PREFIX=fromfile\nTINA4_QUEUE_VISIBILITY_TIMEOUT=7\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("TINA4_QUEUE_PREFIX", "fromenv")

    settings = Settings.from_env()

    assert settings.prefix == "fromenv"
    assert settings.visibility_timeout == 7.0


def test_explicit_mapping_ignores_os_environ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TINA4_QUEUE_PREFIX", "fromenv")

    settings = Settings.from_env({"TINA4_QUEUE_VISIBILITY_TIMEOUT": "3"})

    assert settings.prefix == ""
    assert settings.visibility_timeout == 3.0


def test_env_file_none_skips_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TINA4_QUEUE_PREFIX=fromfile\n", encoding="utf-8")

    assert Settings.from_env(env_file=None).prefix == ""


INVALID_VALUES = [
    ("VISIBILITY_TIMEOUT", "soon"),
    ("VISIBILITY_TIMEOUT", "0"),
    ("VISIBILITY_TIMEOUT", "-5"),
    ("VISIBILITY_TIMEOUT", "nan"),
    ("VISIBILITY_TIMEOUT", "inf"),
    ("MAX_PAYLOAD_BYTES", "lots"),
    ("MAX_PAYLOAD_BYTES", "0"),
    ("MAX_PAYLOAD_BYTES", "0.5"),
    ("FILE_SYNC", "sometimes"),
    ("PREFIX", "bad prefix"),
    ("PREFIX", "../x"),
    ("PREFIX", "p" * 41),
]


@pytest.mark.parametrize(
    ("name", "value"),
    INVALID_VALUES,
    ids=[f"{name}={value[:10]}" for name, value in INVALID_VALUES],
)
def test_invalid_value_names_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"TINA4_QUEUE_{name}", value)

    with pytest.raises(ConfigurationError) as error:
        Settings.from_env()

    assert f"TINA4_QUEUE_{name}" in str(error.value)
    assert isinstance(error.value, ValueError)


def test_invalid_dotenv_value_names_variable(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "TINA4_QUEUE_VISIBILITY_TIMEOUT=forever\n", encoding="utf-8"
    )

    with pytest.raises(ConfigurationError, match="TINA4_QUEUE_VISIBILITY_TIMEOUT"):
        Queue("emails")


def test_unknown_backend_suggests_name() -> None:
    settings = Settings.from_env({"TINA4_QUEUE_BACKEND": "rabbitmg"})

    with pytest.raises(ConfigurationError) as error:
        Queue("emails", settings=settings).size()

    message = str(error.value)
    assert "'rabbitmg'" in message
    assert "Did you mean 'rabbitmq'?" in message
    assert "file, rabbitmq, kafka, mongodb" in message


def test_unknown_backend_without_match() -> None:
    settings = Settings.from_env({"TINA4_QUEUE_BACKEND": "zzz"})

    with pytest.raises(ConfigurationError) as error:
        Queue("emails", settings=settings).push({"n": 1})

    message = str(error.value)
    assert "'zzz'" in message
    assert "file, rabbitmq, kafka, mongodb" in message
    assert "Did you mean" not in message


def test_backend_module_missing_from_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # An install that lost a backend's module (a broken wheel, a stripped
    # image) names the module and the fix instead of failing on import.
    import importlib.util

    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        if name == "queue_core.backends.kafka":
            return None
        return real_find_spec(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    settings = Settings.from_env(
        {"TINA4_QUEUE_BACKEND": "kafka", "TINA4_QUEUE_URL": "127.0.0.1:1"}
    )

    with pytest.raises(ConfigurationError) as error:
        Queue("emails", settings=settings).push({"n": 1})

    message = str(error.value)
    assert "TINA4_QUEUE_BACKEND='kafka' is missing from this installation" in message
    assert "'queue_core.backends.kafka'" in message
    assert "reinstall queuedeck" in message


@pytest.mark.parametrize(
    ("backend", "driver", "url"),
    [("rabbitmq", "pika", "amqp://127.0.0.1:5672/")],
)
def test_missing_driver_names_extra(
    monkeypatch: pytest.MonkeyPatch, backend: str, driver: str, url: str
) -> None:
    # A None entry in sys.modules makes "import <driver>" raise ImportError,
    # whether or not the driver is installed.
    monkeypatch.setitem(sys.modules, driver, None)
    settings = Settings.from_env(
        {"TINA4_QUEUE_BACKEND": backend, "TINA4_QUEUE_URL": url}
    )

    with pytest.raises(ConfigurationError) as error:
        Queue("emails", settings=settings).push({"n": 1})

    message = str(error.value)
    assert f"pip install 'queuedeck[{backend}]'" in message
    assert repr(driver) in message


def test_settings_repr_hides_url() -> None:
    settings = Settings.from_env(
        {"TINA4_QUEUE_URL": "amqp://user:secret@127.0.0.1:5672/"}
    )

    assert settings.url == "amqp://user:secret@127.0.0.1:5672/"
    assert "secret" not in repr(settings)
