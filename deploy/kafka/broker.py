#!/usr/bin/env python3
"""Fetch, start, check and stop a local Apache Kafka (KRaft): one node, or a 3-node cluster.

Standard library only, so it runs before the virtualenv exists.

    python deploy/kafka/broker.py start    # fetch jars once, format, start, wait until ready
    python deploy/kafka/broker.py stop     # stop the broker this script started
    python deploy/kafka/broker.py status   # exit 0 if a broker answers on the bootstrap address

If KAFKA_BOOTSTRAP_SERVERS is set, nothing is fetched or started: that cluster is used.

    python deploy/kafka/broker.py start --nodes 3            # 3 combined nodes on 127.0.0.1:19092-19094
    python deploy/kafka/broker.py stop --nodes 3 --node 2    # stop (or start) one node, for drills
    python deploy/kafka/broker.py status --nodes 3           # exit 0 if every node is up and registered

The cluster lives under .local/kafka/cluster/node-N, on ports apart from the single node's, so both can run
at once; KAFKA_BOOTSTRAP_SERVERS does not apply to it (asking for --nodes 3 asks for this local cluster).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
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
STOP_TIMEOUT = 30.0

CLUSTER = HOME / "cluster"
CLUSTER_SIZE = 3
CLUSTER_PORT, CLUSTER_CONTROLLER_PORT = 19092, 19192  # node N listens on base + N - 1
# Every record on 3 replicas, acknowledged by 2: one node can be down without refusing acks=all writes.
CLUSTER_SETTINGS = {
    "default.replication.factor": "3", "min.insync.replicas": "2", "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3", "transaction.state.log.min.isr": "2",
    "share.coordinator.state.topic.replication.factor": "3", "share.coordinator.state.topic.min.isr": "2",
}


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


def java_cmd(*args: str, logs: Path | None = None) -> list[str]:
    """A java command line with the broker classpath and our logging config (server.log into `logs`)."""
    return [
        "java", "-Xms256m", "-Xmx512m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={HERE / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={logs or LOGS}",
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


def write_config() -> Path:
    """Render server.properties with absolute data directories under HOME."""
    cfg = HOME / "server.properties"
    cfg.write_text(render_properties((HERE / "server.properties").read_text(), {"log.dirs": str(DATA)}))
    return cfg


def format_cmd(cfg: Path, cluster_id: str, *mode: str, logs: Path | None = None) -> list[str]:
    """The StorageTool command that formats the storage `cfg` names for cluster `cluster_id`."""
    return java_cmd("kafka.tools.StorageTool", "format", *mode, "-t", cluster_id, "-c", str(cfg), logs=logs)


def check_formatted(result: subprocess.CompletedProcess) -> None:
    """Raise with the tool's output when a StorageTool run failed."""
    if result.returncode != 0:
        raise BrokerError(f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}")


def format_storage(cfg: Path) -> None:
    """Format the KRaft storage directory the first time."""
    if (DATA / "meta.properties").exists():
        return
    DATA.mkdir(parents=True, exist_ok=True)
    check_formatted(subprocess.run(format_cmd(cfg, _cluster_id(), "--standalone"), capture_output=True, text=True))


def _cluster_id() -> str:
    """A random Kafka cluster id (base64url of 16 bytes, no padding)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def read_pid(pidfile: Path | None = None) -> int | None:
    """The pid of the broker we started (recorded in `pidfile`), if it is still alive."""
    try:
        pid = int((pidfile or PIDFILE).read_text().strip())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def logged_ready_since(since: float, logs: Path | None = None) -> bool:
    """Whether a broker logged READY_MARK at or after `since` (epoch seconds), in any server.log file.

    Log lines are matched by their own timestamp, not by a file offset: log4j rolls server.log by size, and
    a restart that logs thousands of partition loads can roll it while we wait.
    """
    for path in (logs or LOGS).glob("server.log*"):
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


def wait_ready(proc: subprocess.Popen | None, since: float) -> None:
    """Wait until the broker started at `since` logs that it started and accepts connections."""
    wait_until(lambda: port_open() and logged_ready_since(since), {"broker": (proc, LOGS)}, "broker", LOGS)


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
    proc = launch(cfg, LOGS, PIDFILE, HOME)
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
    terminate([pid])
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


class Node:
    """One combined broker + controller of the local cluster: its id, ports and directories."""

    def __init__(self, n: int) -> None:
        self.id, self.port, self.controller_port = n, CLUSTER_PORT + n - 1, CLUSTER_CONTROLLER_PORT + n - 1
        self.home = CLUSTER / f"node-{n}"
        self.data, self.logs = self.home / "data", self.home / "logs"
        self.pidfile, self.config = self.home / "broker.pid", self.home / "server.properties"


def cluster_nodes(only: int | None = None) -> list[Node]:
    """The cluster's nodes, or just node `only`."""
    return [Node(n) for n in range(1, CLUSTER_SIZE + 1) if only in (None, n)]


def cluster_bootstrap() -> str:
    """The cluster's bootstrap list, every node's broker address."""
    return ",".join(f"{HOST}:{node.port}" for node in cluster_nodes())


def write_node_config(node: Node) -> Path:
    """Render the single node's server.properties for one cluster node: its id, ports, data and the quorum."""
    voters = ",".join(f"{n.id}@{HOST}:{n.controller_port}" for n in cluster_nodes())
    listeners = f"PLAINTEXT://{HOST}:{node.port},CONTROLLER://{HOST}:{node.controller_port}"
    settings = {"node.id": str(node.id), "listeners": listeners, "advertised.listeners": listeners,
                "controller.quorum.voters": voters, "log.dirs": str(node.data), **CLUSTER_SETTINGS}
    # A static quorum (controller.quorum.voters) replaces the single node's bootstrap servers.
    text = render_properties((HERE / "server.properties").read_text(), settings,
                             drop=("controller.quorum.bootstrap.servers",))
    node.config.write_text(text)
    return node.config


def cluster_id() -> str:
    """The id the cluster's formatted nodes share, or a new one when none is formatted yet."""
    ids = set()
    for node in cluster_nodes():
        meta = node.data / "meta.properties"
        found = re.search(r"(?m)^cluster\.id=(\S+)", meta.read_text()) if meta.exists() else None
        if found:
            ids.add(found.group(1))
    if len(ids) > 1:
        raise BrokerError(f"cluster nodes disagree on their cluster id ({', '.join(sorted(ids))}); "
                          f"stop the cluster and remove {CLUSTER} to start afresh")
    return ids.pop() if ids else _cluster_id()


def format_nodes(nodes: list[Node]) -> None:
    """Format, side by side, the storage of the nodes never formatted, all with the cluster's one id."""
    todo = [node for node in nodes if not (node.data / "meta.properties").exists()]
    if not todo:
        return
    shared = cluster_id()
    procs = []
    for node in todo:
        node.data.mkdir(parents=True, exist_ok=True)
        procs.append(subprocess.Popen(format_cmd(node.config, shared, logs=node.logs),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for proc in procs:
        out, err = proc.communicate()
        check_formatted(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))


def broker_count(port: int, timeout: float = 2.0) -> int | None:
    """How many live brokers the node on `port` reports (a Metadata v4 request for no topics), None if it cannot say."""
    client = b"solidarity-broker-script"
    request = struct.pack(">hhih", 3, 4, 1, len(client)) + client + struct.pack(">i?", 0, False)
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            reply = sock.makefile("rb")
            response = reply.read(struct.unpack(">i", reply.read(4))[0])
        # Response header v0 (correlation id), then throttle_time_ms, then the broker array's length.
        return struct.unpack_from(">iii", response)[2]
    except (OSError, struct.error):
        return None


def node_ready(node: Node, since: float | None, brokers: int) -> bool:
    """Whether `node` answers, logged its start after `since` (if it was just launched) and sees `brokers` brokers."""
    return (port_open(HOST, node.port) and (since is None or logged_ready_since(since, node.logs))
            and broker_count(node.port) == brokers)


def start_cluster(only: int | None = None) -> str:
    """Start the cluster's nodes (or node `only`) not yet running, wait until all are registered; the bootstrap list."""
    check_tools()
    HOME.mkdir(parents=True, exist_ok=True)
    fetch_jars()
    wanted, launch_now = cluster_nodes(only), []
    for node in wanted:
        if read_pid(node.pidfile):
            say(f"reusing node {node.id} already running on {HOST}:{node.port}")
            continue
        taken = [port for port in (node.port, node.controller_port) if port_open(HOST, port)]
        if taken:
            raise BrokerError(f"port {taken[0]} is in use by a process this script did not start (node {node.id})")
        node.logs.mkdir(parents=True, exist_ok=True)
        write_node_config(node)
        launch_now.append(node)
    # Ready means every running node is registered: all three after a full start, and after one node's
    # restart, whoever else is up (a drill may hold another node down). Fewer than a majority never elect.
    expected = len(launch_now) + sum(1 for node in cluster_nodes() if read_pid(node.pidfile))
    if expected <= CLUSTER_SIZE // 2:
        raise BrokerError(f"{expected} of {CLUSTER_SIZE} nodes cannot elect a controller: start --nodes 3 for all")
    format_nodes(launch_now)
    launched, started, procs = time.time(), time.monotonic(), {}
    try:
        for node in launch_now:
            say(f"starting node {node.id} on {HOST}:{node.port} (controller {node.controller_port}, data in {node.data})")
            procs[node.id] = launch(node.config, node.logs, node.pidfile, node.home)
        wait_until(lambda: all(node_ready(n, launched if n.id in procs else None, expected) for n in wanted),
                   {f"node {n.id}": (procs.get(n.id), n.logs) for n in wanted}, "the cluster", CLUSTER)
    except BaseException:
        terminate([proc.pid for proc in procs.values()])
        for node in launch_now:
            node.pidfile.unlink(missing_ok=True)
        raise
    if procs:
        say(f"{len(procs)} node(s) ready in {time.monotonic() - started:.1f}s "
            f"(pids {', '.join(str(proc.pid) for proc in procs.values())})")
    return cluster_bootstrap()


def stop_cluster(only: int | None = None) -> None:
    """Stop the cluster's nodes (or node `only`) this script started, all at once."""
    nodes = cluster_nodes(only)
    running = {node.id: pid for node in nodes if (pid := read_pid(node.pidfile))}
    # All at once: each node's broker finishes its controlled shutdown while the controllers still form a quorum.
    terminate(list(running.values()))
    for node in nodes:
        node.pidfile.unlink(missing_ok=True)
    if running:
        say("stopped " + ", ".join(f"node {n} (pid {pid})" for n, pid in running.items()))
    else:
        say("no cluster node started by this project is running" if only is None else f"node {only} is not running")


def status_cluster(only: int | None = None) -> int:
    """Exit status 0 when the nodes answer and, for the whole cluster, all of them are registered."""
    up = {node.id: port_open(HOST, node.port) for node in cluster_nodes(only)}
    for node in cluster_nodes(only):
        say(f"{HOST}:{node.port} (node {node.id}): {'up' if up[node.id] else 'down'}")
    if only is not None or not all(up.values()):
        return 0 if all(up.values()) else 1
    brokers = broker_count(CLUSTER_PORT)
    say(f"cluster: {brokers if brokers is not None else 'unknown'} of {CLUSTER_SIZE} brokers registered")
    return 0 if brokers == CLUSTER_SIZE else 1


class UsageError(BrokerError):
    """The command line asks for something this script does not do."""


def parse_options(args: list[str]) -> tuple[int, int | None]:
    """(--nodes, --node) from the arguments after the command: 1 and None unless given."""
    opts: dict[str, int | None] = {"--nodes": 1, "--node": None}
    rest = iter(args)
    for arg in rest:
        name, eq, value = arg.partition("=")
        if name not in opts:
            raise UsageError(f"unknown argument {arg!r}")
        value = value if eq else next(rest, "")
        if not value.isdigit():
            raise UsageError(f"{name} needs a number")
        opts[name] = int(value)
    nodes, node = opts["--nodes"], opts["--node"]
    if nodes not in (1, CLUSTER_SIZE):
        raise UsageError(f"--nodes is 1 (the default) or {CLUSTER_SIZE}")
    if node is not None and (nodes != CLUSTER_SIZE or not 1 <= node <= CLUSTER_SIZE):
        raise UsageError(f"--node N (1-{CLUSTER_SIZE}) goes with --nodes {CLUSTER_SIZE}")
    return nodes, node


def main(argv: list[str]) -> int:
    """Command-line entry point."""
    cmd = argv[1] if len(argv) > 1 else "start"
    try:
        nodes, only = parse_options(argv[2:])
        if cmd == "start":
            print(start() if nodes == 1 else start_cluster(only))
            return 0
        if cmd == "stop":
            stop() if nodes == 1 else stop_cluster(only)
            return 0
        if cmd == "status":
            return status() if nodes == 1 else status_cluster(only)
        if cmd == "fetch" and only is None:
            check_tools()
            fetch_jars()
            return 0
    except UsageError as exc:
        print(f"[kafka] error: {exc}", file=sys.stderr)
    except BrokerError as exc:
        print(f"[kafka] error: {exc}", file=sys.stderr)
        return 1
    print(f"usage: {argv[0]} start|stop|status|fetch [--nodes {CLUSTER_SIZE} [--node N]]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
