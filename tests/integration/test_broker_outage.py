"""Every broker down: a report submission answers 503 within seconds instead of hanging for faust's 20-minute
producer timeout, and the reporter's retry with the same Idempotency-Key, once the cluster is back, records the
report exactly once. Runs on the local 3-node cluster (deploy/kafka/broker.py --nodes 3), never the single node."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from testing.samples import named, unique_name
from testing.stack import ROOT, Stack, wait_for

SCRIPT = ROOT / "deploy" / "kafka" / "broker.py"
BOOTSTRAP = "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"


def cluster(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    done = subprocess.run([sys.executable, str(SCRIPT), *args, "--nodes", "3"], capture_output=True, text=True,
                          timeout=300, env=env, cwd=str(ROOT))
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture
def worker_on_cluster(kafka, tmp_path):
    cluster("start")
    stack = Stack(tmp_path, extra_env={"SOLIDARITY_KAFKA__BOOTSTRAP_SERVERS": BOOTSTRAP,
                                       "SOLIDARITY_KAFKA__REPLICATION_FACTOR": "3"})
    try:
        stack.start(180)
        yield stack
    finally:
        stack.stop()
        cluster("stop")


def test_with_every_broker_down_intake_answers_503_and_a_keyed_retry_records_the_report_once(worker_on_cluster):
    stack = worker_on_cluster
    reporter, sec = stack.token("reporter"), stack.token("secretariat")
    body = named(unique_name(), incident_type="arbitrary_detention", country="hn")
    cluster("stop")
    # The harness's HTTP client gives up after 30 s: an answer at all means no 20-minute hang.
    status, answer = stack.http.request("POST", "/api/v1/reports", body, token=reporter,
                                        headers={"Idempotency-Key": "weak-signal-1"})
    assert status == 503 and answer["errors"][0]["field"] == "broker", answer
    cluster("start")

    def retried():
        status, receipt = stack.http.request("POST", "/api/v1/reports", body, token=reporter,
                                             headers={"Idempotency-Key": "weak-signal-1"})
        return receipt if status == 202 else None

    receipt = wait_for(retried, 180, 2.0, "the retry to be accepted once the cluster is back")
    assert receipt == wait_for(retried, 30, 0.5, "a second retry"), "every retry names the same report"
    case = wait_for(lambda: (r := stack.http.request("GET", f"/api/v1/cases/{receipt['case_id']}", token=sec))[0]
                    == 200 and r[1], 120, 0.5, "the case")
    later = stack.http.request("POST", "/api/v1/reports", named(unique_name(), country="hn"), token=reporter)[1]
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{later['case_id']}", token=sec)[0] == 200, 120, 0.5,
             "a later report, so every copy of the first has been through the pipeline")
    case = stack.http.request("GET", f"/api/v1/cases/{receipt['case_id']}", token=sec)[1]
    assert [r["reference"] for r in case["reports"]] == [receipt["reference"]]
