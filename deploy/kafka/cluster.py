"""The local 3-node KRaft cluster (`broker.py start --nodes 3`): combined broker + controller nodes on 127.0.0.1,
replication factor 3 and min.insync.replicas 2, under .local/kafka/cluster/node-N on ports apart from the single
node's. Standard library only."""

from __future__ import annotations

import re
import socket
import struct
import subprocess
import time
from pathlib import Path

from deploy.kafka.jvm import (HERE, HOME, HOST, BrokerError, check_formatted, check_tools, fetch_jars, format_cmd,
                              launch, logged_ready_since, new_cluster_id, port_open, read_pid, render_properties, say,
                              terminate, wait_until)

CLUSTER = HOME / "cluster"
CLUSTER_SIZE = 3
CLUSTER_PORT, CLUSTER_CONTROLLER_PORT = 19092, 19192  # node N listens on base + N - 1
# Every record on 3 replicas, acknowledged by 2: one node can be down without refusing acks=all writes.
CLUSTER_SETTINGS = {
    "default.replication.factor": "3", "min.insync.replicas": "2", "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3", "transaction.state.log.min.isr": "2",
    "share.coordinator.state.topic.replication.factor": "3", "share.coordinator.state.topic.min.isr": "2",
}


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
    return ids.pop() if ids else new_cluster_id()


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
