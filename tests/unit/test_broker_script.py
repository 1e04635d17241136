"""deploy/kafka/broker.py sees a started broker even when log4j rolls server.log during the start."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import pytest

from tests.harness import ROOT


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
