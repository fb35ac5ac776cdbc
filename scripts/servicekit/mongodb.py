"""The MongoDB test server: SecantusDB, a MongoDB-compatible server from PyPI.

SecantusDB speaks the MongoDB wire protocol and stores documents in
WiredTiger, so the tests need no MongoDB install and no Docker. It is a
Python package, installed into the project's .venv on the first start.

SecantusDB 0.7.0b3 applies find_one_and_update, update and delete atomically
per document, supports update pipelines, $expr, partial and compound indexes
and aggregation, and advertises itself as the primary of a one-node replica
set named "secantus". It plans queries far more simply than MongoDB and
often scans whole collections, so tests keep their collections small.
FerretDB 1.24 is not used because its findAndModify and update overwrite a
document by _id without re-checking the filter, so two clients can claim the
same job.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

from .common import (
    HOST,
    ROOT,
    STATE,
    ServiceError,
    is_alive,
    log,
    port_open,
    read_pid,
    stop_pid,
)

SECANTUSDB_REQUIREMENT = "secantusdb==0.7.0b3"
VENV = ROOT / ".venv"

# 27027 instead of MongoDB's default 27017, so a system install can run beside.
MONGODB_PORT = 27027
MONGODB_DATABASE = "queuedeck_test"
MONGODB_START_TIMEOUT = 60

# The opcode of an OP_MSG message in the MongoDB wire protocol.
OP_MSG = 2013


def external() -> bool:
    """Return whether QUEUEDECK_TEST_MONGODB_URL names a server not started here."""
    url = os.environ.get("QUEUEDECK_TEST_MONGODB_URL")
    return bool(url) and url != mongodb_url()


def mongodb_dir() -> Path:
    return STATE / "mongodb"


def mongodb_url() -> str:
    # SecantusDB runs without --auth here, so it needs no user.
    return f"mongodb://{HOST}:{MONGODB_PORT}/{MONGODB_DATABASE}"


def pid_file() -> Path:
    return mongodb_dir() / "secantusd.pid"


def log_file() -> Path:
    return mongodb_dir() / "log" / "secantusd.log"


# Install --------------------------------------------------------------------


def secantusd_binary() -> Path:
    """Return the secantusd-py launcher in .venv, installing SecantusDB if needed."""
    binary = VENV / "bin" / "secantusd-py"
    if binary.exists():
        return binary
    python = VENV / "bin" / "python"
    if not python.exists():
        raise ServiceError(
            f"{python} is missing, and the MongoDB test server (SecantusDB) is "
            "installed into it; create it with: python3 -m venv .venv "
            "(scripts/test does this), or set QUEUEDECK_TEST_MONGODB_URL"
        )
    log(f"installing {SECANTUSDB_REQUIREMENT} into {VENV}")
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", SECANTUSDB_REQUIREMENT],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 or not binary.exists():
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise ServiceError(
            f"pip install {SECANTUSDB_REQUIREMENT} failed (exit "
            f"{result.returncode}): {tail}; run it by hand with {python} -m pip"
        )
    return binary


# Server ---------------------------------------------------------------------


def start() -> None:
    """Start SecantusDB with an empty data dir, restarting it if it runs."""
    if external():
        log("QUEUEDECK_TEST_MONGODB_URL is set; using that server")
        return
    binary = secantusd_binary()
    if is_alive(read_pid(pid_file())):
        log("mongodb is running; restarting it so the tests start with no data")
        stop()
    shutil.rmtree(mongodb_dir() / "data", ignore_errors=True)
    launch(binary)


def restart(down_seconds: float = 0.0) -> None:
    """Stop SecantusDB, wait *down_seconds*, and start it again on the same data.

    The tests use this to check that clients survive a server restart.
    """
    if external():
        raise ServiceError(
            "the MongoDB test server comes from QUEUEDECK_TEST_MONGODB_URL; "
            "it is not ours to restart"
        )
    binary = secantusd_binary()
    stop()
    time.sleep(down_seconds)
    launch(binary)


def launch(binary: Path) -> None:
    """Start SecantusDB on the existing data dir and wait until it replies to ping."""
    if port_open(MONGODB_PORT):
        raise ServiceError(
            f"{HOST}:{MONGODB_PORT} is in use by a process not started here; "
            "stop it, or set QUEUEDECK_TEST_MONGODB_URL to use that server"
        )
    base = mongodb_dir()
    for folder in ("data", "log"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    # An empty config file stops SecantusDB from reading a secantusd.toml
    # found in the working or home directory.
    config = base / "secantusd.toml"
    config.write_text("")

    started = time.monotonic()
    log(f"starting SecantusDB on {HOST}:{MONGODB_PORT}")
    with open(log_file(), "ab") as output:
        process = subprocess.Popen(
            [
                str(binary),
                "--config",
                str(config),
                "--host",
                HOST,
                "--port",
                str(MONGODB_PORT),
                "--storage-path",
                str(base / "data"),
                "--log-level",
                "WARNING",
            ],
            cwd=base,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    pid_file().write_text(f"{process.pid}\n")
    wait_ready(process, started)
    log(f"mongodb ready in {time.monotonic() - started:.1f} s")


def wait_ready(process: subprocess.Popen[bytes], started: float) -> None:
    while not ping():
        if process.poll() is not None:
            tail = log_file().read_text(errors="replace").strip()[-500:]
            raise ServiceError(
                f"SecantusDB exited with code {process.returncode} at start: "
                f"{tail}; see {log_file()}"
            )
        if time.monotonic() > started + MONGODB_START_TIMEOUT:
            stop()
            raise ServiceError(
                f"SecantusDB start timed out: no reply to ping on {HOST}:"
                f"{MONGODB_PORT} within {MONGODB_START_TIMEOUT} s; see {log_file()}"
            )
        time.sleep(0.1)


def stop() -> None:
    if external():
        return
    stop_pid(pid_file(), "mongodb (SecantusDB)")


def status() -> str:
    if external():
        return "external (QUEUEDECK_TEST_MONGODB_URL is set)"
    pid = read_pid(pid_file())
    if not is_alive(pid):
        return "stopped"
    state = "ready" if ping() else "starting or stuck"
    return f"running, {state} (SecantusDB pid {pid}, {HOST}:{MONGODB_PORT})"


def env() -> str | None:
    if external():
        return os.environ["QUEUEDECK_TEST_MONGODB_URL"]
    if is_alive(read_pid(pid_file())):
        return mongodb_url()
    return None


# Readiness ------------------------------------------------------------------
# The services script runs on the system python3, which may lack pymongo, so
# readiness is one MongoDB ping sent as a raw OP_MSG: a reply shows that the
# server runs commands, which an open port alone does not.


def ping(timeout: float = 2.0) -> bool:
    """Send {ping: 1} to the admin database and return whether it returned ok."""
    command = bson_document({"ping": 1, "$db": "admin"})
    # OP_MSG: flagBits 0, then one section of kind 0 that contains the command.
    body = struct.pack("<I", 0) + b"\x00" + command
    header = struct.pack("<iiii", 16 + len(body), 1, 0, OP_MSG)
    try:
        with socket.create_connection((HOST, MONGODB_PORT), timeout=timeout) as sock:
            sock.sendall(header + body)
            length, _, _, opcode = struct.unpack("<iiii", receive(sock, 16))
            reply = receive(sock, length - 16)
    except (OSError, struct.error):
        return False
    if opcode != OP_MSG or len(reply) < 5 or reply[4] != 0:
        return False
    try:
        return bson_ok(reply[5:])
    except (ValueError, IndexError, struct.error):
        return False


def receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed during a reply")
        data += chunk
    return data


def bson_document(fields: dict[str, int | str]) -> bytes:
    """Encode a flat BSON document of int32 and string values."""
    elements = b""
    for key, value in fields.items():
        name = key.encode() + b"\x00"
        if isinstance(value, int):
            elements += b"\x10" + name + struct.pack("<i", value)
        else:
            text = value.encode() + b"\x00"
            elements += b"\x02" + name + struct.pack("<i", len(text)) + text
    return struct.pack("<i", len(elements) + 5) + elements + b"\x00"


# Sizes of the BSON values that have a fixed size, by type byte.
BSON_FIXED_SIZES = {0x01: 8, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8}
BSON_FIXED_SIZES |= {0x12: 8, 0x13: 16, 0x7F: 0, 0xFF: 0}


def bson_ok(document: bytes) -> bool:
    """Return whether the top-level "ok" field of a BSON reply equals 1."""
    position = 4
    while position < len(document) - 1:
        kind = document[position]
        name_end = document.index(b"\x00", position + 1)
        name = document[position + 1 : name_end]
        position = name_end + 1
        if name == b"ok":
            if kind == 0x01:
                return struct.unpack_from("<d", document, position)[0] == 1.0
            if kind == 0x10:
                return struct.unpack_from("<i", document, position)[0] == 1
            return kind == 0x08 and document[position] == 1
        if kind in BSON_FIXED_SIZES:
            position += BSON_FIXED_SIZES[kind]
        elif kind in (0x03, 0x04):
            position += struct.unpack_from("<i", document, position)[0]
        elif kind in (0x02, 0x0D, 0x0E):
            position += 4 + struct.unpack_from("<i", document, position)[0]
        elif kind == 0x05:
            position += 5 + struct.unpack_from("<i", document, position)[0]
        else:
            return False
    return False
