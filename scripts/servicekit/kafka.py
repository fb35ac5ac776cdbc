"""The Kafka test broker: Apache Kafka 4.x in KRaft mode, run from Maven jars.

Maven copies ``org.apache.kafka:kafka_2.13`` and its runtime dependencies, as
listed in ``kafka-pom.xml`` beside this file, into the cache folder once. Each
start then formats a fresh single-node cluster, with one JVM acting as broker
and controller, and runs ``kafka.Kafka`` from those jars. No Docker image or
Kafka release archive is needed, only Java 17 or newer and Maven.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path

from .common import (
    HOST,
    STATE,
    ServiceError,
    is_alive,
    log,
    port_open,
    read_pid,
    stop_pid,
)

# Kafka: client port 19092 and controller port 19093 instead of the defaults
# 9092 and 9093, so a system install can run beside it.
KAFKA_PORT = 19092
KAFKA_CONTROLLER_PORT = 19093
KAFKA_NODE_ID = 1
KAFKA_HEAP = "512m"
KAFKA_START_TIMEOUT = 90
KAFKA_DOWNLOAD_TIMEOUT = 900
KAFKA_JAVA_MIN_VERSION = 17
KAFKA_POM = Path(__file__).resolve().with_name("kafka-pom.xml")


def external() -> bool:
    """Return whether QUEUEDECK_TEST_KAFKA_URL names a broker not started here."""
    url = os.environ.get("QUEUEDECK_TEST_KAFKA_URL")
    return bool(url) and url != kafka_url()


def kafka_dir() -> Path:
    return STATE / "kafka"


def kafka_url() -> str:
    """Return the bootstrap address that clients use, as host:port."""
    return f"{HOST}:{KAFKA_PORT}"


# Java and jars --------------------------------------------------------------


def find_java() -> str:
    """Return the java binary, from JAVA_HOME when set, after a version check."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if java is None or not Path(java).exists():
        where = f"JAVA_HOME={java_home}" if java_home else "PATH"
        raise ServiceError(
            f"java is missing from {where}. Kafka 4 needs Java 17 or newer: run "
            "apt-get install -y openjdk-17-jre-headless, or set JAVA_HOME"
        )
    result = subprocess.run([java, "-version"], capture_output=True, text=True)
    match = re.search(r'version "(\d+)', result.stderr)
    if match is None:
        raise ServiceError(f"{java} -version failed: {result.stderr.strip()[-300:]}")
    if int(match.group(1)) < KAFKA_JAVA_MIN_VERSION:
        raise ServiceError(
            f"{java} is Java {match.group(1)}, but Kafka 4 needs Java "
            f"{KAFKA_JAVA_MIN_VERSION} or newer; set JAVA_HOME to a newer JDK"
        )
    return java


def install_jars() -> Path:
    """Download the jars that kafka-pom.xml lists, unless libs/ has them.

    ``libs/`` keeps the SHA-256 of the POM that listed its jars, so a warm
    start runs no Maven and a changed POM downloads again.
    """
    base = kafka_dir()
    libs = base / "libs"
    stamp = libs / "kafka-pom.sha256"
    digest = hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == digest:
        return libs

    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceError("mvn is missing; run: apt-get install -y maven")
    staging = base / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    (base / "log").mkdir(parents=True, exist_ok=True)
    maven_log = base / "log" / "maven.log"
    command = [
        mvn,
        "--batch-mode",
        "--quiet",
        "-Dstyle.color=never",
        "--file",
        str(KAFKA_POM),
        # A repository of its own keeps every download under the cache folder.
        f"-Dmaven.repo.local={base / 'maven-repository'}",
        f"-DoutputDirectory={staging}",
        "dependency:copy-dependencies",
    ]
    log(f"downloading Kafka's jars with Maven into {libs}")
    try:
        with open(maven_log, "wb") as output:
            result = subprocess.run(
                command,
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=KAFKA_DOWNLOAD_TIMEOUT,
            )
    except subprocess.TimeoutExpired as exc:
        raise ServiceError(
            f"downloading Kafka's jars timed out after {KAFKA_DOWNLOAD_TIMEOUT} s; "
            f"check that Maven Central is reachable and see {maven_log}"
        ) from exc
    if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        raise ServiceError(
            f"downloading Kafka's jars failed (mvn exit {result.returncode}): "
            f"{first_maven_error(maven_log)} See {maven_log}, fix the cause and "
            "run start again."
        )

    (staging / stamp.name).write_text(f"{digest}\n")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    return libs


def first_maven_error(path: Path) -> str:
    """Return the first [ERROR] line of a Maven log, which names the cause."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", tail(path, limit=20_000))
    for line in text.splitlines():
        if line.startswith("[ERROR]") and line[7:].strip():
            return line[7:].strip()[:400]
    return text[-400:]


def tail(path: Path, limit: int = 500) -> str:
    try:
        return path.read_text(errors="replace").strip()[-limit:]
    except OSError:
        return f"({path} is missing)"


# Configuration --------------------------------------------------------------


def server_properties() -> str:
    base = kafka_dir()
    controller = f"{HOST}:{KAFKA_CONTROLLER_PORT}"
    lines = [
        "process.roles=broker,controller",
        f"node.id={KAFKA_NODE_ID}",
        f"controller.quorum.bootstrap.servers={controller}",
        f"listeners=PLAINTEXT://{HOST}:{KAFKA_PORT},CONTROLLER://{controller}",
        f"advertised.listeners=PLAINTEXT://{HOST}:{KAFKA_PORT},"
        f"CONTROLLER://{controller}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        f"log.dirs={base / 'data'}",
        # One broker contains every replica, so internal topics and
        # min.insync.replicas must accept a single copy. Topics may still be
        # created with more partitions than num.partitions.
        "num.partitions=1",
        "default.replication.factor=1",
        "min.insync.replicas=1",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        # Groups rebalance at once instead of after 3 s, and accept session
        # timeouts down to 1 s, so tests can use session.timeout.ms=6000
        # with heartbeats every 500-1000 ms. The group.consumer.* settings do
        # the same for the consumer rebalance protocol of KIP-848, whose
        # broker defaults (4.4) are a 45 s session and 5 s heartbeats.
        "group.initial.rebalance.delay.ms=0",
        "group.min.session.timeout.ms=1000",
        "group.consumer.min.session.timeout.ms=1000",
        "group.consumer.session.timeout.ms=6000",
        "group.consumer.min.heartbeat.interval.ms=500",
        "group.consumer.heartbeat.interval.ms=1000",
    ]
    return "\n".join(lines) + "\n"


def log4j_properties() -> str:
    """Return a Log4j 2 configuration that writes log/server.log, kept to 40 MB."""
    log_dir = kafka_dir() / "log"
    return (
        # Kafka flushes and stops on its own shutdown hook. The hook of Log4j
        # would only warn that it cannot register while the JVM is exiting.
        "shutdownHook = disable\n"
        "appender.server.type = RollingFile\n"
        "appender.server.name = server\n"
        f"appender.server.fileName = {log_dir / 'server.log'}\n"
        f"appender.server.filePattern = {log_dir / 'server.log'}.%i\n"
        "appender.server.layout.type = PatternLayout\n"
        "appender.server.layout.pattern = [%d] %p %m (%c)%n\n"
        "appender.server.policies.type = Policies\n"
        "appender.server.policies.size.type = SizeBasedTriggeringPolicy\n"
        "appender.server.policies.size.size = 20MB\n"
        "appender.server.strategy.type = DefaultRolloverStrategy\n"
        "appender.server.strategy.max = 1\n"
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.server.ref = server\n"
    )


def write_kafka_config() -> None:
    base = kafka_dir()
    for folder in ("data", "log"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    (base / "server.properties").write_text(server_properties())
    (base / "log4j2.properties").write_text(log4j_properties())


def new_cluster_id() -> str:
    """Return a random cluster ID in the URL-safe base64 form of kafka-storage."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()
        cluster_id = cluster_id.rstrip("=")
        # Kafka's Uuid.randomUuid() (4.4) draws again while the ID contains
        # "-", so an ID that starts with it is never read as an option.
        if "-" not in cluster_id:
            return cluster_id


def java_command(java: str, libs: Path, main_class: str, *args: str) -> list[str]:
    base = kafka_dir()
    return [
        java,
        f"-Xmx{KAFKA_HEAP}",
        f"-Xms{KAFKA_HEAP}",
        # The G1 options of Kafka's bin/kafka-run-class.sh.
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={base / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={base / 'log'}",
        "-cp",
        str(libs / "*"),
        main_class,
        *args,
    ]


def format_storage(java: str, libs: Path) -> None:
    """Format an empty data folder as a new single-node KRaft cluster."""
    base = kafka_dir()
    command = java_command(
        java,
        libs,
        "kafka.tools.StorageTool",
        "format",
        "--cluster-id",
        new_cluster_id(),
        "--config",
        str(base / "server.properties"),
        # The node is the only voter of a dynamic controller quorum (KIP-853).
        "--standalone",
    )
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-500:]
        raise ServiceError(f"formatting Kafka's storage failed: {output}")


# Lifecycle -----------------------------------------------------------------


def start(*, keep_data: bool = False) -> None:
    """Start the broker on a new, empty cluster, or on the old one with *keep_data*."""
    if external():
        log("QUEUEDECK_TEST_KAFKA_URL is set; using that broker")
        return
    base = kafka_dir()
    pid_file = base / "kafka.pid"
    if is_alive(read_pid(pid_file)):
        if ready():
            log(f"kafka already running on {kafka_url()}")
            return
        # A broker of ours that does not respond to a Metadata request is
        # stuck or still starting, so it is replaced by a fresh one.
        stop()
    for port in (KAFKA_PORT, KAFKA_CONTROLLER_PORT):
        if port_open(port):
            raise ServiceError(
                f"{HOST}:{port} is in use by a process not started here; stop it "
                "or set QUEUEDECK_TEST_KAFKA_URL to use that broker"
            )

    java = find_java()
    libs = install_jars()
    started = time.monotonic()
    if not keep_data or not (base / "data" / "meta.properties").exists():
        # Each start is a new cluster with no topics, groups or offsets, so
        # one test run never reads what an earlier one wrote.
        shutil.rmtree(base / "data", ignore_errors=True)
        write_kafka_config()
        format_storage(java, libs)

    log(f"starting kafka on {kafka_url()} (controller port {KAFKA_CONTROLLER_PORT})")
    command = java_command(java, libs, "kafka.Kafka", str(base / "server.properties"))
    with open(base / "log" / "console.log", "ab") as output:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
    pid_file.write_text(f"{process.pid}\n")
    wait_until_ready(process, started)
    log(f"kafka ready in {time.monotonic() - started:.1f} s")


def wait_until_ready(process: subprocess.Popen[bytes], started: float) -> None:
    log_dir = kafka_dir() / "log"
    deadline = started + KAFKA_START_TIMEOUT
    while not ready():
        if process.poll() is not None:
            kafka_dir().joinpath("kafka.pid").unlink(missing_ok=True)
            raise ServiceError(
                f"kafka exited with code {process.returncode} while starting: "
                f"{tail(log_dir / 'console.log', 300)}; see {log_dir / 'server.log'}"
            )
        if time.monotonic() > deadline:
            stop()
            raise ServiceError(
                f"kafka timed out: no Metadata response within "
                f"{KAFKA_START_TIMEOUT} s, so it was stopped; see {log_dir}"
            )
        time.sleep(0.25)


def restart() -> None:
    """Stop the broker and start it again on the same data, as after a crash."""
    if external():
        raise ServiceError(
            "the test broker is external (QUEUEDECK_TEST_KAFKA_URL); not ours to "
            "restart"
        )
    stop()
    start(keep_data=True)


def stop() -> None:
    if external():
        return
    # SIGTERM starts Kafka's ordered shutdown, and SIGKILL follows after 30 s.
    stop_pid(kafka_dir() / "kafka.pid", "kafka", timeout=30.0)


def status() -> str:
    if external():
        return "external (QUEUEDECK_TEST_KAFKA_URL is set)"
    pid = read_pid(kafka_dir() / "kafka.pid")
    if not is_alive(pid):
        return "stopped"
    state = "ready" if ready() else "starting or stuck"
    return (
        f"running, {state} (pid {pid}, {kafka_url()}, "
        f"controller port {KAFKA_CONTROLLER_PORT})"
    )


def env() -> str | None:
    if external():
        return os.environ["QUEUEDECK_TEST_KAFKA_URL"]
    if is_alive(read_pid(kafka_dir() / "kafka.pid")):
        return kafka_url()
    return None


# Readiness: one Metadata request over the Kafka protocol ----------------------
# A raw request needs no Kafka client in the system python3 that runs this
# script, and returns in milliseconds where the broker's own tools would start
# a JVM for each try.

METADATA_API_KEY = 3
METADATA_VERSION = 12  # flexible: compact strings and arrays, tagged fields


def ready() -> bool:
    """Return whether the broker lists itself in a Metadata response.

    Clients start with this request, so this checks what they need and not
    only that the port is open.
    """
    try:
        return KAFKA_NODE_ID in metadata_broker_ids()
    except (OSError, ValueError, IndexError, struct.error):
        return False


def metadata_broker_ids(timeout: float = 2.0) -> list[int]:
    correlation_id = 1
    client_id = b"queuedeck-services"
    header = struct.pack(
        ">hhih", METADATA_API_KEY, METADATA_VERSION, correlation_id, len(client_id)
    )
    # Request header v2 ends in an empty tagged-field section (0). The body is
    # an empty compact topic array (length + 1 = 1), so no topics are listed,
    # then allow_auto_topic_creation and include_topic_authorized_operations
    # (both false) and its own empty tagged fields.
    request = header + client_id + b"\x00" + b"\x01\x00\x00\x00"
    with socket.create_connection((HOST, KAFKA_PORT), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        size = struct.unpack(">i", receive(sock, 4))[0]
        response = receive(sock, size)
    if struct.unpack_from(">i", response)[0] != correlation_id:
        raise ValueError("the Metadata response has another correlation ID")
    return parse_broker_ids(response)


def receive(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("kafka closed the connection mid-response")
        data += chunk
    return data


def parse_broker_ids(response: bytes) -> list[int]:
    """Read the node IDs from a Metadata v12 response that has a v1 header."""
    offset = 4  # correlation ID
    offset = skip_tagged_fields(response, offset)
    offset += 4  # throttle_time_ms
    count, offset = read_uvarint(response, offset)
    broker_ids = []
    for _ in range(count - 1):  # compact array: length + 1
        broker_ids.append(struct.unpack_from(">i", response, offset)[0])
        offset += 4
        host_length, offset = read_uvarint(response, offset)
        offset += host_length - 1 + 4  # host, then port
        rack_length, offset = read_uvarint(response, offset)
        offset += max(rack_length - 1, 0)  # 0 is a null rack
        offset = skip_tagged_fields(response, offset)
    return broker_ids


def read_uvarint(data: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7


def skip_tagged_fields(data: bytes, offset: int) -> int:
    count, offset = read_uvarint(data, offset)
    for _ in range(count):
        _tag, offset = read_uvarint(data, offset)
        size, offset = read_uvarint(data, offset)
        offset += size
    return offset
