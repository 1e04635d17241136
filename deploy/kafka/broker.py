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

This file is the command line and the single node; the cluster is deploy/kafka/cluster.py, and what both share
(Java, the jars, launching, stopping and readiness of a JVM) is deploy/kafka/jvm.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

# Run as a script or loaded by path, its siblings are imported as deploy.kafka.* from the repository root.
_REPO = str(Path(__file__).resolve().parent.parent.parent)
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from deploy.kafka import cluster, jvm  # noqa: E402
# Re-exported: the cluster's commands and the shared plumbing, as the tests and drills reach them.
from deploy.kafka.cluster import (CLUSTER_SIZE, Node, cluster_bootstrap, cluster_id, cluster_nodes,  # noqa: E402,F401
                                  start_cluster, status_cluster, stop_cluster, write_node_config)
from deploy.kafka.jvm import (HERE, HOME, HOST, BrokerError, check_formatted, check_tools, fetch_jars,  # noqa: E402,F401
                              format_cmd, launch, new_cluster_id, port_open, read_pid, render_properties, say,
                              terminate, wait_until)

DATA = HOME / "data"
LOGS = HOME / "logs"
PIDFILE = HOME / "broker.pid"
PORT = 9092


def external_bootstrap() -> str | None:
    """The bootstrap servers of an existing cluster, if the user pointed us at one."""
    value = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    return value or None


def logged_ready_since(since: float, logs: Path | None = None) -> bool:
    """Whether the single node (or the broker logging into `logs`) logged that it started at or after `since`."""
    return jvm.logged_ready_since(since, logs or LOGS)


def write_config() -> Path:
    """Render server.properties with absolute data directories under HOME."""
    cfg = HOME / "server.properties"
    cfg.write_text(render_properties((HERE / "server.properties").read_text(), {"log.dirs": str(DATA)}))
    return cfg


def format_storage(cfg: Path) -> None:
    """Format the KRaft storage directory the first time."""
    if (DATA / "meta.properties").exists():
        return
    DATA.mkdir(parents=True, exist_ok=True)
    check_formatted(subprocess.run(format_cmd(cfg, new_cluster_id(), "--standalone", logs=LOGS), capture_output=True,
                                   text=True))


def wait_ready(proc: subprocess.Popen | None, since: float) -> None:
    """Wait until the broker started at `since` logs that it started and accepts connections."""
    wait_until(lambda: port_open(HOST, PORT) and logged_ready_since(since), {"broker": (proc, LOGS)}, "broker", LOGS)


def start() -> str:
    """Start the broker unless one already answers; return the bootstrap address."""
    ext = external_bootstrap()
    if ext:
        say(f"KAFKA_BOOTSTRAP_SERVERS is set: using {ext}, starting nothing")
        return ext
    if port_open(HOST, PORT):
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
    pid = read_pid(PIDFILE)
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
