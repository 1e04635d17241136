#!/usr/bin/env python3
"""Fetch, start, check and stop a local single-node Apache Kafka (KRaft) broker.

Standard library only, so it runs before the virtualenv exists.

    python deploy/kafka/broker.py start    # fetch jars once, format, start, wait until ready
    python deploy/kafka/broker.py stop     # stop the broker this script started
    python deploy/kafka/broker.py status   # exit 0 if a broker answers on the bootstrap address

If KAFKA_BOOTSTRAP_SERVERS is set, nothing is fetched or started: that cluster is used.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
HOME = Path(os.environ.get("SOLIDARITY_KAFKA_HOME", ROOT / ".local" / "kafka"))
LIBS = HOME / "libs"
DATA = HOME / "data"
LOGS = HOME / "logs"
PIDFILE = HOME / "broker.pid"
HOST, PORT = "127.0.0.1", 9092
READY_MARK = "Kafka Server started"
START_TIMEOUT = float(os.environ.get("SOLIDARITY_KAFKA_START_TIMEOUT", "120"))


class BrokerError(Exception):
    """A problem starting or stopping the local broker, stated in one line."""


def say(msg: str) -> None:
    """Print a progress line prefixed so it stands out among make's output."""
    print(f"[kafka] {msg}", flush=True)


def external_bootstrap() -> str | None:
    """The bootstrap servers of an existing cluster, if the user pointed us at one."""
    value = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    return value or None


def port_open(host: str = HOST, port: int = PORT, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def check_tools() -> None:
    """Refuse with one clear line when java 17+ or mvn is missing."""
    java = shutil.which("java")
    if not java:
        raise BrokerError("java not found: install OpenJDK 17 or newer (Debian: apt-get install openjdk-17-jre-headless)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', out)
    if not match or int(match.group(1)) < 17:
        raise BrokerError(f"Kafka 4 needs Java 17 or newer; found: {out.splitlines()[0] if out else 'unknown'}")
    if not LIBS.joinpath(".complete").exists() and not shutil.which("mvn"):
        raise BrokerError("mvn not found: install Apache Maven (Debian: apt-get install maven) to fetch Kafka")


def pom_digest() -> str:
    """A digest of the pom, so editing the Kafka version refetches the jars."""
    return hashlib.sha256((HERE / "pom.xml").read_bytes()).hexdigest()


def fetch_jars() -> None:
    """Copy the broker's runtime closure from Maven Central into LIBS, once per pom version."""
    marker = LIBS / ".complete"
    digest = pom_digest()
    if marker.exists() and marker.read_text().strip() == digest:
        return
    say("fetching Apache Kafka jars from Maven Central (first run only)…")
    if LIBS.exists():
        shutil.rmtree(LIBS)
    LIBS.mkdir(parents=True)
    cmd = [
        "mvn", "-q", "-B", "-f", str(HERE / "pom.xml"),
        "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies",
        "-DincludeScope=runtime", f"-DoutputDirectory={LIBS}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise BrokerError(f"mvn could not fetch Kafka (is Maven Central reachable?)\n{tail}")
    marker.write_text(digest)
    say(f"fetched {len(list(LIBS.glob('*.jar')))} jars into {LIBS}")


def java_cmd(*args: str) -> list[str]:
    """A java command line with the broker classpath and our logging config."""
    return [
        "java", "-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={LOGS}",
        "-cp", f"{LIBS}/*", *args,
    ]


def write_config() -> Path:
    """Render server.properties with absolute data directories under HOME."""
    text = (HERE / "server.properties").read_text()
    text = re.sub(r"(?m)^log\.dirs=.*$", f"log.dirs={DATA}", text)
    cfg = HOME / "server.properties"
    cfg.write_text(text)
    return cfg


def format_storage(cfg: Path) -> None:
    """Format the KRaft storage directory the first time."""
    if (DATA / "meta.properties").exists():
        return
    DATA.mkdir(parents=True, exist_ok=True)
    cluster_id = _cluster_id()
    result = subprocess.run(
        java_cmd("kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id, "-c", str(cfg)),
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise BrokerError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")


def _cluster_id() -> str:
    """A random Kafka cluster id (base64url of 16 bytes, no padding)."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def read_pid() -> int | None:
    """The pid of the broker we started, if it is still alive."""
    try:
        pid = int(PIDFILE.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def logged_ready_since(since: float) -> bool:
    """Whether a broker logged READY_MARK at or after `since` (epoch seconds), in any server.log file.

    Log lines are matched by their own timestamp, not by a file offset: log4j rolls server.log by size, and
    a restart that logs thousands of partition loads can roll it while we wait.
    """
    for path in LOGS.glob("server.log*"):
        try:
            if path.stat().st_mtime < since - 1:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        at = data.rfind(READY_MARK.encode())
        while at != -1:
            line_start = data.rfind(b"\n", 0, at) + 1
            stamp = data[line_start:line_start + 25].decode("ascii", "replace").lstrip("[")  # [YYYY-mm-dd HH:MM:SS,mmm]
            try:
                logged = time.mktime(time.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S"))
            except ValueError:
                logged = None
            if logged is not None and logged >= int(since) - 1:
                return True
            at = data.rfind(READY_MARK.encode(), 0, at)
    return False


def wait_ready(proc: subprocess.Popen | None, since: float) -> None:
    """Wait until the broker started at `since` logs that it started and accepts connections."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BrokerError(f"broker exited with code {proc.returncode}; see {LOGS / 'console.log'}")
        if port_open() and logged_ready_since(since):
            return
        time.sleep(0.25)
    raise BrokerError(f"broker did not become ready within {START_TIMEOUT:.0f}s; see {LOGS}")


def start() -> str:
    """Start the broker unless one already answers; return the bootstrap address."""
    ext = external_bootstrap()
    if ext:
        say(f"KAFKA_BOOTSTRAP_SERVERS is set: using {ext}, starting nothing")
        return ext
    if port_open():
        say(f"reusing the broker already running on {HOST}:{PORT}")
        return f"{HOST}:{PORT}"
    check_tools()
    HOME.mkdir(parents=True, exist_ok=True)
    LOGS.mkdir(parents=True, exist_ok=True)
    fetch_jars()
    cfg = write_config()
    format_storage(cfg)
    launched = time.time()
    say(f"starting Apache Kafka on {HOST}:{PORT} (data in {DATA})")
    console = (LOGS / "console.log").open("ab")
    proc = subprocess.Popen(
        java_cmd("kafka.Kafka", str(cfg)),
        stdout=console, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, cwd=str(HOME),
    )
    PIDFILE.write_text(str(proc.pid))
    started = time.monotonic()
    try:
        wait_ready(proc, launched)
    except BrokerError:
        stop(quiet=True)
        raise
    say(f"ready in {time.monotonic() - started:.1f}s (pid {proc.pid})")
    return f"{HOST}:{PORT}"


def stop(quiet: bool = False) -> None:
    """Stop the broker this script started: SIGTERM, then SIGKILL after 30 s."""
    pid = read_pid()
    if pid is None:
        if not quiet:
            say("no broker started by this project is running")
        PIDFILE.unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
    PIDFILE.unlink(missing_ok=True)
    if not quiet:
        say(f"stopped broker (pid {pid})")


def status() -> int:
    """Exit status 0 when a broker answers on the bootstrap address."""
    ext = external_bootstrap()
    target = ext.split(",")[0] if ext else f"{HOST}:{PORT}"
    host, _, port = target.rpartition(":")
    ok = port_open(host or HOST, int(port or PORT))
    say(f"{target}: {'up' if ok else 'down'}")
    return 0 if ok else 1


def main(argv: list[str]) -> int:
    """Command-line entry point."""
    cmd = argv[1] if len(argv) > 1 else "start"
    try:
        if cmd == "start":
            print(start())
            return 0
        if cmd == "stop":
            stop()
            return 0
        if cmd == "status":
            return status()
        if cmd == "fetch":
            check_tools()
            fetch_jars()
            return 0
    except BrokerError as exc:
        print(f"[kafka] error: {exc}", file=sys.stderr)
        return 1
    print(f"usage: {argv[0]} start|stop|status|fetch", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
