"""The RabbitMQ test node: Debian's rabbitmq-server run as an isolated node."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

from .common import (
    HOST,
    STATE,
    ServiceError,
    apt_install,
    is_alive,
    log,
    port_open,
    read_pid,
    stop_pid,
)

# RabbitMQ: AMQP 5682, Erlang distribution 25682 and epmd 4382 instead of the
# defaults 5672, 25672 and 4369, so a system install can run beside it.
RABBITMQ_PORT = 5682
RABBITMQ_DIST_PORT = 25682
RABBITMQ_EPMD_PORT = 4382
RABBITMQ_NODE = "queuedeck-test@localhost"
RABBITMQ_USER = "queuedeck"
RABBITMQ_PASSWORD = "queuedeck-test-secret"
RABBITMQ_VHOST = "queuedeck"
RABBITMQ_SBIN = Path("/usr/lib/rabbitmq/bin")
RABBITMQ_START_TIMEOUT = 90


def external() -> bool:
    """Return whether QUEUEDECK_TEST_RABBITMQ_URL names a broker not started here."""
    url = os.environ.get("QUEUEDECK_TEST_RABBITMQ_URL")
    return bool(url) and url != rabbitmq_url()


# RabbitMQ -------------------------------------------------------------------


def rabbitmq_dir() -> Path:
    return STATE / "rabbitmq"


def rabbitmq_url() -> str:
    return (
        f"amqp://{RABBITMQ_USER}:{RABBITMQ_PASSWORD}@{HOST}:{RABBITMQ_PORT}/"
        f"{RABBITMQ_VHOST}"
    )


def rabbitmq_env() -> dict[str, str]:
    """Return the environment that isolates the test node from any other."""
    base = rabbitmq_dir()
    return dict(
        os.environ,
        # Its own HOME gives the node and rabbitmqctl their own Erlang cookie.
        HOME=str(base / "home"),
        RABBITMQ_NODENAME=RABBITMQ_NODE,
        RABBITMQ_NODE_IP_ADDRESS=HOST,
        RABBITMQ_NODE_PORT=str(RABBITMQ_PORT),
        RABBITMQ_DIST_PORT=str(RABBITMQ_DIST_PORT),
        ERL_EPMD_PORT=str(RABBITMQ_EPMD_PORT),
        ERL_EPMD_ADDRESS=HOST,
        RABBITMQ_MNESIA_BASE=str(base / "mnesia"),
        RABBITMQ_LOG_BASE=str(base / "log"),
        RABBITMQ_PID_FILE=str(base / "rabbitmq.pid"),
        RABBITMQ_CONFIG_FILE=str(base / "rabbitmq.conf"),
        RABBITMQ_ENABLED_PLUGINS_FILE=str(base / "enabled_plugins"),
        RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface "
        "{127,0,0,1}",
    )


def rabbitmqctl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(RABBITMQ_SBIN / "rabbitmqctl"), "-n", RABBITMQ_NODE, *args],
        env=rabbitmq_env(),
        check=check,
        capture_output=True,
        text=True,
    )


def write_rabbitmq_config() -> None:
    base = rabbitmq_dir()
    for folder in ("home", "mnesia", "log"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    (base / "rabbitmq.conf").write_text(
        f"listeners.tcp.default = {HOST}:{RABBITMQ_PORT}\n"
        "loopback_users.guest = true\n"
        # Test machines often have little free disk; the default limit of
        # 50 MB is kept explicit so a full disk blocks publishers visibly.
        "disk_free_limit.absolute = 50MB\n"
        "log.console = false\n"
        "log.file.level = info\n"
    )
    (base / "enabled_plugins").write_text("[].\n")


def start_epmd() -> None:
    """Start the epmd that the test node registers with, on its own port."""
    pid_file = rabbitmq_dir() / "epmd.pid"
    if is_alive(read_pid(pid_file)):
        return
    epmd = shutil.which("epmd") or next(
        iter(glob.glob("/usr/lib/erlang/erts-*/bin/epmd")), None
    )
    if epmd is None:
        raise ServiceError("epmd is missing; run: apt-get install -y erlang-base")
    process = subprocess.Popen(
        [epmd, "-port", str(RABBITMQ_EPMD_PORT), "-address", HOST],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    pid_file.write_text(f"{process.pid}\n")
    deadline = time.monotonic() + 10
    while not port_open(RABBITMQ_EPMD_PORT):
        if process.poll() is not None or time.monotonic() > deadline:
            raise ServiceError(
                f"epmd did not listen on {HOST}:{RABBITMQ_EPMD_PORT}; is the port "
                "in use?"
            )
        time.sleep(0.1)


def start() -> None:
    if external():
        log("QUEUEDECK_TEST_RABBITMQ_URL is set; using that server")
        return
    if not (RABBITMQ_SBIN / "rabbitmq-server").exists():
        apt_install("rabbitmq-server")

    base = rabbitmq_dir()
    pid_file = base / "rabbitmq.pid"
    if is_alive(read_pid(pid_file)) and ready():
        log(f"rabbitmq already running on {HOST}:{RABBITMQ_PORT}")
        return
    # Each start begins with empty queues: the backend replays its whole
    # events stream when it connects, so old test runs would slow new ones.
    shutil.rmtree(base / "mnesia", ignore_errors=True)
    write_rabbitmq_config()
    start_epmd()

    started = time.monotonic()
    log(f"starting rabbitmq node {RABBITMQ_NODE} on {HOST}:{RABBITMQ_PORT}")
    with open(base / "log" / "startup.log", "ab") as output:
        subprocess.run(
            [str(RABBITMQ_SBIN / "rabbitmq-server"), "-detached"],
            env=rabbitmq_env(),
            stdout=output,
            stderr=output,
            check=True,
        )
    # await_startup fails at once until the node has registered with epmd,
    # so it is retried until the node is up or the time runs out.
    deadline = started + RABBITMQ_START_TIMEOUT
    while True:
        result = rabbitmqctl("await_startup", "--timeout", "30", check=False)
        if result.returncode == 0 or time.monotonic() > deadline:
            break
        if not is_alive(read_pid(pid_file)) and time.monotonic() > started + 15:
            break
        time.sleep(0.5)
    if result.returncode != 0:
        raise ServiceError(
            f"rabbitmq did not start within {RABBITMQ_START_TIMEOUT} s: "
            f"{result.stderr.strip()[-500:]}; see the logs in {base / 'log'}"
        )
    create_rabbitmq_user()
    log(f"rabbitmq ready in {time.monotonic() - started:.1f} s")


def create_rabbitmq_user() -> None:
    """Create the test vhost and user; both survive restarts of the node."""
    if rabbitmqctl("add_vhost", RABBITMQ_VHOST, check=False).returncode not in (0, 65):
        raise ServiceError(f"rabbitmqctl add_vhost {RABBITMQ_VHOST} failed")
    added = rabbitmqctl("add_user", RABBITMQ_USER, RABBITMQ_PASSWORD, check=False)
    if added.returncode not in (0, 65):
        raise ServiceError(f"rabbitmqctl add_user failed: {added.stderr.strip()}")
    rabbitmqctl(
        "set_permissions", "-p", RABBITMQ_VHOST, RABBITMQ_USER, ".*", ".*", ".*"
    )


def ready() -> bool:
    return port_open(RABBITMQ_PORT)


def stop() -> None:
    if external():
        return
    base = rabbitmq_dir()
    pid_file = base / "rabbitmq.pid"
    pid = read_pid(pid_file)
    if is_alive(pid):
        log(f"stopping rabbitmq node {RABBITMQ_NODE} (pid {pid})")
        # A clean stop lets the node flush its message store; SIGTERM on the
        # recorded PID follows if it does not exit in time.
        rabbitmqctl("stop", str(pid_file), check=False)
    stop_pid(pid_file, "rabbitmq")
    stop_pid(base / "epmd.pid", "epmd")


def status() -> str:
    if external():
        return "external (QUEUEDECK_TEST_RABBITMQ_URL is set)"
    base = rabbitmq_dir()
    pid = read_pid(base / "rabbitmq.pid")
    if not is_alive(pid):
        return "stopped"
    state = "ready" if ready() else "starting or stuck"
    epmd = read_pid(base / "epmd.pid")
    return f"running, {state} (pid {pid}, epmd pid {epmd}, {HOST}:{RABBITMQ_PORT})"


def env() -> str | None:
    if external():
        return os.environ["QUEUEDECK_TEST_RABBITMQ_URL"]
    if is_alive(read_pid(rabbitmq_dir() / "rabbitmq.pid")):
        return rabbitmq_url()
    return None
