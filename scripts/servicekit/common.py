"""Helpers shared by the test services: processes, ports and packages."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
STATE = CACHE / "queuedeck" / "services"

HOST = "127.0.0.1"


class ServiceError(Exception):
    """Raised when a service cannot be installed, started or stopped."""


def log(message: str) -> None:
    print(f"services: {message}", file=sys.stderr, flush=True)


# Processes ------------------------------------------------------------------


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def is_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process still answers kill(0).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_pid(pid_file: Path, name: str, timeout: float = 20.0) -> None:
    """Send SIGTERM to the PID in *pid_file*, then SIGKILL after *timeout*."""
    pid = read_pid(pid_file)
    if not is_alive(pid):
        pid_file.unlink(missing_ok=True)
        return
    assert pid is not None
    log(f"stopping {name} (pid {pid})")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while is_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if is_alive(pid):
        log(f"{name} (pid {pid}) ignored SIGTERM for {timeout:g} s; sending SIGKILL")
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def apt_install(package: str) -> None:
    """Install a Debian package, with sudo when not root."""
    prefix = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log(f"installing Debian's {package} package")
    try:
        subprocess.run([*prefix, "apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            [*prefix, "apt-get", "install", "-y", "-qq", package],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ServiceError(
            f"installing {package} failed ({exc}); run: apt-get install -y {package}"
        ) from exc
