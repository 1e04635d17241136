"""Small versions of the failover drills in bench/failover.py (the full ones run with `make drills`): three workers
on the same topics, one of them killed or restarted, or one of three brokers stopped.

Counts only, from what the sandbox's phones received: nothing lost, nothing sent twice, every page exactly once,
no 5xx but a retryable 503. Failover times and page latencies are recorded by the drills, never asserted here.
"""

from __future__ import annotations

import json
import warnings

import pytest

from bench import failover
from tests.conftest import require_service

pytestmark = pytest.mark.kafka

# One world of three workers for the three worker drills (starting three workers on two cores takes a minute or
# more). Each drill revives any worker left killed before it starts, so none depends on another running first.
MEMBERS, RATE = 120, 3.0


@pytest.fixture(scope="module")
def world(kafka, tmp_path_factory):
    # Three workers starting at once on two cores: CI once saw this setup fail (3 errors, no log kept). The cause
    # is printed with every worker's log tail, and the world is built once more before the drills are given up.
    try:
        d = failover.drill_world(tmp_path_factory.mktemp("failover"), MEMBERS, rate=RATE)
    except RuntimeError as exc:
        # A warning, not a print: pytest lists it in the summary even when the second try passes.
        warnings.warn(f"failover world, first try failed: {exc}", stacklevel=1)
        d = failover.drill_world(tmp_path_factory.mktemp("failover-again"), MEMBERS, rate=RATE)
    yield d
    d.stop()


@pytest.mark.timeout(900)
@pytest.mark.known_bug
@pytest.mark.xfail(strict=False, reason=(
    "known open bug, 1 run in about 3 on 2 cores: after a SIGKILL among 3 workers one SMS of the fan-out (or one "
    "page) never arrives; a restarted worker was seen assigned a partition it never started processing. The "
    "full-size drill (make drills) reports it; see the issue 14 closing note"))
def test_a_worker_sigkilled_mid_fan_out_loses_and_duplicates_nothing(world):
    result = failover.sigkill_drill(kills=2, world=world)
    assert result["kills"] >= 1, result
    assert (result["lost"], result["duplicated"]) == (0, 0), result
    assert (result["pages_missing"], result["pages_duplicated"]) == (0, 0), result


@pytest.mark.timeout(600)
def test_critical_reports_while_a_worker_is_killed_page_exactly_once(world):
    # 3 on-call phones and a sender limit of 3 SMS/s: a report every 0.5 s keeps the pages flowing, not queued.
    result = failover.paging_drill(seconds=6.0, every=0.5, world=world)
    assert result["reports"] >= 10, result
    assert result["killed"], "a worker must have been killed while reports came in"
    assert (result["missing_pages"], result["duplicated_pages"]) == (0, 0), result
    assert result["exactly_once"], result


@pytest.mark.timeout(600)
def test_a_rolling_restart_of_every_worker_mid_fan_out_sends_each_sms_exactly_once(world):
    result = failover.rolling_restart_drill(world=world)
    assert len(result["restarts"]) == 3, result
    assert result["restarts"][0]["sent_before"] < result["members"], "the first restart must come mid fan-out"
    assert (result["lost"], result["duplicated"]) == (0, 0), result


@pytest.mark.timeout(300)
def test_the_audit_trail_comes_through_the_kills_and_restarts_unbroken(world):
    # The drills above verified cases, approved calls to action and read cases while workers, the audit writer's
    # among them, were SIGKILLed and restarted: the chain has no break, and no request was chained twice.
    world.revive()
    verify = world.workers.cli("audit", "verify", check=False)
    assert verify.returncode == 0, verify.stdout
    shown = [json.loads(line)["entry"] for line in world.workers.cli("audit", "show", "--json").stdout.splitlines()]
    requests = [e["request_id"] for e in shown]
    assert len(requests) == len(set(requests)) and {"case.verify", "action.approve"} <= {e["action"] for e in shown}


@pytest.mark.timeout(900)
def test_one_of_three_brokers_stopped_mid_intake_and_fan_out_loses_nothing(kafka):
    result = failover.broker_node_drill(reports=100, members=100)
    if not result["applicable"]:
        require_service(False, result["why"])  # fails under CI=true, skips locally
    assert result["accepted"] == result["reports"], result
    assert (result["lost_reports"], result["reports_recorded_twice"]) == (0, 0), result
    assert result["other_5xx"] == 0, result["statuses"]
    assert (result["sms"]["lost"], result["sms"]["duplicated"]) == (0, 0), result["sms"]
