"""Small versions of the fault drills in bench/drills.py (the full ones run with `make drills`).

Counts only: nothing lost, nothing sent twice, no 5xx, no crash. Never a timing assertion.

A worker SIGKILLed mid fan-out is drilled in tests/integration/test_delivery_faults.py (one worker); among three
workers it is a known bug (tests/integration/test_failover_small.py, out of `make test`), and the drill harness's
own version runs with `make drills`. The faults drill here keeps the harness itself tested, at a smaller size.
"""

from __future__ import annotations

import os

import pytest

from bench import crash_windows, drills


@pytest.mark.known_bug
@pytest.mark.xfail(strict=False, reason=(
    "known open bug, seen in 1 of 2 fresh runs this session: 2 of 150 SMS never arrived when the worker was "
    "SIGKILLed 0.1-1 s after approvals of identical texts (email lost none); see the issue 14 closing note"))
def test_worker_sigkilled_right_after_approvals_of_identical_texts_loses_and_duplicates_nothing(kafka):
    # The windows the random-point drill misses: 0.1-1 s after an approval (plan being produced, first batches in
    # flight), the same text to the same phones each time, and once two actions in flight together.
    result = crash_windows.crash_window_drill(members=30, delays=(0.1, 0.3, 1.0), in_flight_pair=True)
    assert result["finished"] == result["actions"] == 5, result
    assert result["targeted_equals_final"], result
    assert result["received"]["sms"]["received"] == 30 * 5, result["received"]
    assert result["lost"] == 0, result["received"]
    assert result["duplicated"] == 0, result["received"]


def test_provider_faults_at_twenty_percent_end_delivered_or_dead_lettered_once(kafka):
    result = drills.faults_drill(members=150)
    assert result["neither"] == 0, result
    assert result["duplicated"] == 0, result
    assert result["dead_lettered"] > 0, "the injected undelivered share should dead-letter some messages"


def test_malformed_reports_get_no_5xx_and_never_crash_the_worker(kafka):
    result = drills.malformed_drill(400)
    assert result["api_5xx"] == 0, result["api_status"]
    assert result["worker_crashes"] == 0 and result["healthy_after"], result
    assert result["dead_letters"] not in (None, "crashed"), result


def test_broker_restarted_mid_intake_loses_no_accepted_report(kafka):
    result = drills.broker_restart_drill(reports=120, restart_after=40)
    if not result["applicable"]:
        # The drill must not restart a broker this project does not own; but under CI=true the suite starts
        # its own broker, so a drill that cannot run there is a failure, not a skip.
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"broker drill not applicable under CI=true: {result['why']}", pytrace=False)
        pytest.skip(f"not applicable: {result['why']}")
    assert result["accepted"] > 0, result
    assert result["lost"] == 0, result
    assert result["worker_alive_after"], result
