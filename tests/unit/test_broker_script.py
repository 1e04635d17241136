"""deploy/kafka/broker.py: readiness when log4j rolls server.log mid-start; --nodes/--node; the cluster's configs."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import pytest

from testing.stack import ROOT


@pytest.fixture()
def broker(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("broker_script", ROOT / "deploy" / "kafka" / "broker.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "LOGS", tmp_path)
    return module


def line(at: float, text: str) -> str:
    return f"[{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(at))},123] INFO {text} (kafka.server.KafkaRaftServer)\n"


def write(path: Path, text: str, mtime: float) -> None:
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def test_ready_mark_found_in_a_rolled_file(broker, tmp_path):
    started = time.time() - 30
    # The new broker's "started" line went into the file that was rolled away; the fresh server.log is empty.
    write(tmp_path / "server.log.3", line(started - 600, "[KafkaRaftServer nodeId=1] Kafka Server started")
          + line(started + 5, "[KafkaRaftServer nodeId=1] Kafka Server started"), started + 6)
    write(tmp_path / "server.log", line(started + 7, "loading partitions"), started + 8)
    assert broker.logged_ready_since(started)


def test_an_earlier_run_does_not_count(broker, tmp_path):
    started = time.time() - 30
    write(tmp_path / "server.log", line(started - 600, "[KafkaRaftServer nodeId=1] Kafka Server started")
          + line(started + 2, "loading partitions"), started + 3)
    write(tmp_path / "server.log.1", line(started - 900, "[KafkaRaftServer nodeId=1] Kafka Server started"),
          started - 899)
    assert not broker.logged_ready_since(started)


@pytest.mark.parametrize("args, expected", [
    ([], (1, None)),
    (["--nodes", "1"], (1, None)),
    (["--nodes", "3"], (3, None)),
    (["--nodes", "3", "--node", "2"], (3, 2)),
    (["--node=3", "--nodes=3"], (3, 3)),
])
def test_options_name_the_cluster_and_one_node(broker, args, expected):
    assert broker.parse_options(args) == expected


@pytest.mark.parametrize("args", [
    ["--nodes", "2"], ["--node", "2"], ["--nodes", "3", "--node", "4"], ["--nodes", "3", "--node", "0"],
    ["--nodes"], ["--nodes", "three"], ["--verbose"],
])
def test_a_bad_command_line_is_refused_with_usage(broker, args, capsys):
    assert broker.main(["broker.py", "start", *args]) == 2
    assert "usage:" in capsys.readouterr().err


def test_cluster_nodes_get_their_own_ports_directories_and_one_quorum(broker, tmp_path, monkeypatch):
    monkeypatch.setattr(broker.cluster, "CLUSTER", tmp_path / "cluster")
    nodes = broker.cluster_nodes()
    for node in nodes:
        node.home.mkdir(parents=True)
        broker.write_node_config(node)
    props = [dict(line.split("=", 1) for line in n.config.read_text().splitlines() if line and line[0] != "#")
             for n in nodes]
    assert broker.cluster_bootstrap() == "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"
    assert [p["listeners"] for p in props] == [f"PLAINTEXT://127.0.0.1:{b},CONTROLLER://127.0.0.1:{c}"
                                               for b, c in ((19092, 19192), (19093, 19193), (19094, 19194))]
    assert [p["node.id"] for p in props] == ["1", "2", "3"]
    assert [p["log.dirs"] for p in props] == [str(tmp_path / "cluster" / f"node-{n}" / "data") for n in (1, 2, 3)]
    assert {p["controller.quorum.voters"] for p in props} == {
        "1@127.0.0.1:19192,2@127.0.0.1:19193,3@127.0.0.1:19194"}
    for p in props:
        assert "controller.quorum.bootstrap.servers" not in p
        assert (p["default.replication.factor"], p["min.insync.replicas"]) == ("3", "2")
        assert (p["offsets.topic.replication.factor"], p["transaction.state.log.replication.factor"],
                p["transaction.state.log.min.isr"]) == ("3", "3", "2")
    assert {n.pidfile for n in nodes}.isdisjoint({broker.PIDFILE}) and len({n.logs for n in nodes}) == 3


def test_a_reformatted_node_rejoins_with_the_cluster_id_the_others_hold(broker, tmp_path, monkeypatch):
    monkeypatch.setattr(broker.cluster, "CLUSTER", tmp_path / "cluster")
    first, second, _ = broker.cluster_nodes()
    first.data.mkdir(parents=True)
    (first.data / "meta.properties").write_text("version=1\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\nnode.id=1\n")
    assert broker.cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA"
    second.data.mkdir(parents=True)
    (second.data / "meta.properties").write_text("version=1\ncluster.id=BBBBBBBBBBBBBBBBBBBBBB\nnode.id=2\n")
    with pytest.raises(broker.BrokerError, match="disagree"):
        broker.cluster_id()


def test_a_new_cluster_id_never_starts_with_a_dash_the_storage_tool_would_take_it_for_an_option(monkeypatch):
    # Seen in a fresh-clone make test: `kafka-storage format -t -Xy...` refused with "expected one argument".
    import uuid

    from deploy.kafka import jvm

    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x01" * 16)])
    monkeypatch.setattr(jvm.uuid, "uuid4", lambda: next(draws))
    found = jvm.new_cluster_id()
    assert not found.startswith("-") and len(found) == 22
    assert found == "AQEBAQEBAQEBAQEBAQEBAQ"
