"""The local 3-node cluster (deploy/kafka/broker.py --nodes 3) keeps taking acks=all writes with one node down.

Real JVMs on their own ports (19092-19094, controllers 19192-19194); the single node on 9092 is never touched.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import uuid
from collections import Counter

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from tests.conftest import require_service
from testing.stack import ROOT, wait_for

SCRIPT = ROOT / "deploy" / "kafka" / "broker.py"
spec = importlib.util.spec_from_file_location("broker_script_cluster", SCRIPT)
broker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(broker)

pytestmark = pytest.mark.kafka

BOOTSTRAP = "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"
NODES = broker.cluster_nodes()
PORTS = [port for node in NODES for port in (node.port, node.controller_port)]


def script(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run deploy/kafka/broker.py as make and the drills do."""
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=str(ROOT))


def ports_in_use() -> list[int]:
    """The cluster's ports something still listens on."""
    return [port for port in PORTS if broker.port_open(broker.HOST, port)]


def partitions(admin: KafkaAdminClient, topic: str) -> list[dict]:
    """The topic's partitions with leader and ISR, once every partition has a leader."""
    found = admin.describe_topics([topic])[0]["partitions"]
    return found if found and all(p["leader_id"] >= 0 for p in found) else []


def fully_in_sync(admin: KafkaAdminClient, topic: str) -> bool:
    """Whether every partition of the topic has all three replicas in sync."""
    found = partitions(admin, topic)
    return bool(found) and all(len(p["isr_nodes"]) == 3 for p in found)


def alive(pid: int) -> bool:
    """Whether a process with this pid still exists."""
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.fixture(scope="module")
def cluster():
    """A freshly started 3-node cluster, stopped afterwards whatever happened."""
    try:
        broker.check_tools()
    except broker.BrokerError as exc:
        require_service(False, f"a local 3-node Kafka cluster ({exc})")
    if ports_in_use():
        pytest.fail(f"ports {ports_in_use()} are taken (a cluster already running?): "
                    f"stop it first with `python3 {SCRIPT.relative_to(ROOT)} stop --nodes 3`", pytrace=False)
    try:
        started = script("start", "--nodes", "3")
        assert started.returncode == 0, started.stderr + started.stdout
        assert started.stdout.strip().splitlines()[-1] == BOOTSTRAP
        yield BOOTSTRAP
    finally:
        script("stop", "--nodes", "3", timeout=120)


def test_one_node_down_loses_no_acknowledged_write(cluster):
    topic = f"tests.cluster-{uuid.uuid4().hex[:10]}.v1"
    admin = KafkaAdminClient(bootstrap_servers=cluster, request_timeout_ms=30_000)
    producer = KafkaProducer(bootstrap_servers=cluster, acks="all", enable_idempotence=True,
                             request_timeout_ms=15_000, delivery_timeout_ms=60_000, linger_ms=5)
    try:
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])
        layout = wait_for(lambda: partitions(admin, topic), 30, 0.2, "the topic's leaders")
        assert all(len(p["replica_nodes"]) == 3 for p in layout)

        def produce(first: int) -> None:
            futures = [producer.send(topic, key=f"k{i % 7}".encode(), value=str(i).encode())
                       for i in range(first, first + 100)]
            producer.flush(60)
            for future in futures:
                future.get(timeout=60)

        produce(0)
        # Stop the leader of partition 0 so at least one partition must fail over.
        down = next(p["leader_id"] for p in layout if p["partition_index"] == 0)
        stopped = script("stop", "--nodes", "3", "--node", str(down), timeout=120)
        assert stopped.returncode == 0, stopped.stderr
        assert script("status", "--nodes", "3").returncode == 1
        produce(100)

        consumer = KafkaConsumer(bootstrap_servers=cluster, group_id=None, enable_auto_commit=False,
                                 auto_offset_reset="earliest")
        try:
            consumer.assign([TopicPartition(topic, p["partition_index"]) for p in layout])
            seen: Counter[int] = Counter()

            def read_all() -> bool:
                for records in consumer.poll(timeout_ms=500).values():
                    seen.update(int(r.value) for r in records)
                return sum(seen.values()) >= 200

            wait_for(read_all, 60, 0, "all 200 records")
            read_all()  # one more poll, so a duplicate past the 200th record would show
        finally:
            consumer.close()
        assert sorted(seen) == list(range(200)) and set(seen.values()) == {1}, "lost or duplicated records"

        restarted = script("start", "--nodes", "3", "--node", str(down))
        assert restarted.returncode == 0, restarted.stderr + restarted.stdout
        assert restarted.stdout.strip().splitlines()[-1] == BOOTSTRAP
        assert script("status", "--nodes", "3").returncode == 0
        wait_for(lambda: fully_in_sync(admin, topic), 60, 0.5, f"node {down} back in every ISR")
        # A fresh client: kafka-python's first one cached the stopped node as its controller and never finds it again.
        cleaner = KafkaAdminClient(bootstrap_servers=cluster, request_timeout_ms=30_000)
        try:
            cleaner.delete_topics([topic])
        finally:
            cleaner.close()
    finally:
        producer.close(timeout=10)
        admin.close()

    pids = [pid for node in NODES if (pid := broker.read_pid(node.pidfile))]
    assert len(pids) == 3
    assert script("stop", "--nodes", "3", timeout=120).returncode == 0
    assert ports_in_use() == []
    assert [pid for pid in pids if alive(pid)] == []
