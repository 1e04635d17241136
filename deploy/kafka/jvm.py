"""The plumbing shared by the single node and the cluster: Java and the jars, config files, launching and stopping
Kafka JVMs, and knowing when one is ready. Standard library only (it runs before the virtualenv exists)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
HOME = Path(os.environ.get("SOLIDARITY_KAFKA_HOME", ROOT / ".local" / "kafka"))
LIBS = HOME / "libs"
HOST = "127.0.0.1"
READY_MARK = "Kafka Server started"
START_TIMEOUT = float(os.environ.get("SOLIDARITY_KAFKA_START_TIMEOUT", "120"))
STOP_TIMEOUT = 30.0


class BrokerError(Exception):
    """A problem starting or stopping the local broker, stated in one line."""


def say(msg: str) -> None:
    """Print a progress line prefixed so it stands out among make's output."""
    print(f"[kafka] {msg}", flush=True)


def external_bootstrap() -> str | None:
    """The bootstrap servers of an existing cluster, if the user pointed us at one."""
    value = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    return value or None


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
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


def java_cmd(*args: str, logs: Path) -> list[str]:
    """A java command line with the broker classpath and our logging config (server.log into `logs`)."""
    return [
        "java", "-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={logs}",
        "-cp", f"{LIBS}/*", *args,
    ]


def render_properties(text: str, settings: dict[str, str], drop: tuple[str, ...] = ()) -> str:
    """server.properties text with `settings` replacing (or appended after) their keys and `drop` removed."""
    out, seen = [], set()
    for line in text.splitlines():
        key = line.split("=", 1)[0].strip() if "=" in line and not line.lstrip().startswith("#") else None
        if key in drop:
            continue
        if key in settings:
            line = f"{key}={settings[key]}"
            seen.add(key)
        out.append(line)
    out += [f"{key}={value}" for key, value in settings.items() if key not in seen]
    return "\n".join(out) + "\n"


def format_cmd(cfg: Path, cluster_id: str, *mode: str, logs: Path) -> list[str]:
    """The StorageTool command that formats the storage `cfg` names for cluster `cluster_id`."""
    return java_cmd("kafka.tools.StorageTool", "format", *mode, "-t", cluster_id, "-c", str(cfg), logs=logs)


def check_formatted(result: subprocess.CompletedProcess) -> None:
    """Raise with the tool's output when a StorageTool run failed."""
    if result.returncode != 0:
        raise BrokerError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")


def new_cluster_id() -> str:
    """A random Kafka cluster id (base64url of 16 bytes, no padding), never starting with "-".

    One id in 64 would: the StorageTool then reads `-t -xyz...` as an option and refuses to format (seen once in
    a fresh-clone make test). Kafka's own Uuid.randomUuid draws again for the same reason."""
    while True:
        found = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not found.startswith("-"):
            return found


def read_pid(pidfile: Path) -> int | None:
    """The pid of the broker we started (recorded in `pidfile`), if it is still alive."""
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def logged_ready_since(since: float, logs: Path) -> bool:
    """Whether a broker logged READY_MARK at or after `since` (epoch seconds), in any server.log file.

    Log lines are matched by their own timestamp, not by a file offset: log4j rolls server.log by size, and
    a restart that logs thousands of partition loads can roll it while we wait.
    """
    for path in logs.glob("server.log*"):
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


def wait_until(ready: Callable[[], bool], procs: dict[str, tuple[subprocess.Popen | None, Path]], what: str,
               see: Path) -> None:
    """Poll `ready` until START_TIMEOUT, failing at once when one of `procs` (name -> process, logs) exits."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        for name, (proc, logs) in procs.items():
            if proc is not None and proc.poll() is not None:
                raise BrokerError(f"{name} exited with code {proc.returncode}; see {logs / 'console.log'}")
        if ready():
            return
        time.sleep(0.25)
    raise BrokerError(f"{what} did not become ready within {START_TIMEOUT:.0f}s; see {see}")


def launch(cfg: Path, logs: Path, pidfile: Path, cwd: Path) -> subprocess.Popen:
    """Start one Kafka JVM in its own session, console output into logs/console.log, its pid in `pidfile`."""
    console = (logs / "console.log").open("ab")
    proc = subprocess.Popen(
        java_cmd("kafka.Kafka", str(cfg), logs=logs),
        stdout=console, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True, cwd=str(cwd),
    )
    console.close()
    pidfile.write_text(str(proc.pid))
    return proc


def terminate(pids: list[int]) -> None:
    """SIGTERM every pid at once, then SIGKILL those still alive after STOP_TIMEOUT."""
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while (pids := [pid for pid in pids if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    # Until the killed ones are gone, their ports are still bound: a start right after would fail.
    deadline = time.monotonic() + 10
    while (pids := [pid for pid in pids if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    """Whether `pid` still exists (a zombie child of ours is reaped and counts as gone)."""
    with suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
