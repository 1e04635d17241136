"""Exactly once to people under provider faults and a killed worker (real Kafka, sandbox, SMTP sink)."""

from __future__ import annotations

import json
from collections import Counter


from streams.admin import read_all
from streams.settings import KafkaSettings, Settings
from streams.topics import NOTIFY_DLQ
from testing.samples import report
from testing.stack import wait_for
from tests.members_data import demo_members, eligible
from tests.notify_harness import start_world

FAULTS = {"error_rate": 0.07, "throttle_rate": 0.06, "timeout_rate": 0.03, "timeout_accepts": True,
          "timeout_seconds": 3.0, "undelivered_rate": 0.04}


def approve_sms_action(stack, tokens, country: str) -> tuple[str, str]:
    """A verified case and an SMS call to action to every member; returns (action_id, reference)."""
    sec = tokens["secretariat"]
    status, receipt = stack.http.request("POST", "/api/v1/reports", report(incident_type="land_grab", country=country),
                                         token=tokens["reporter"])
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{receipt['case_id']}", token=sec)[0] == 200, 30, 0.1,
             "the case")
    stack.http.request("POST", f"/api/v1/cases/{receipt['case_id']}/verify", {}, token=sec)
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{receipt['case_id']}", token=sec)[1]["status"]
             == "verified", 30, 0.1, "verification")
    status, body = stack.http.request("POST", f"/api/v1/cases/{receipt['case_id']}/actions",
                                      {"kind": "solidarity_message", "channels": ["sms"]}, token=sec)
    assert status == 202, body
    return body["action_id"], receipt["reference"]


def settled(stack, tokens, action_id: str):
    """The action's counts once every queued notification is delivered or failed, else None."""
    counts = stack.http.request("GET", f"/api/v1/actions/{action_id}", token=tokens["secretariat"])[1].get("counts")
    if counts and counts["queued"] and counts["delivered"] + counts["failed"] >= counts["queued"]:
        return counts
    return None


def test_twenty_percent_provider_faults_end_delivered_or_dead_lettered_never_twice(kafka, tmp_path):
    stack, sandbox, tokens = start_world(tmp_path, faults=FAULTS)
    try:
        action_id, ref = approve_sms_action(stack, tokens, "ph")
        counts = wait_for(lambda: settled(stack, tokens, action_id), 180, 0.5, "every notification to settle")
        expected = {m["phone"] for m in eligible(demo_members(), "sms")}
        assert counts["queued"] == len(expected)
        per_phone = Counter(s["to"] for s in sandbox.all_sms() if ref in s["body"])
        assert max(per_phone.values()) == 1, [p for p, n in per_phone.items() if n > 1][:3]
        settings = Settings(topic_prefix=stack.env["SOLIDARITY_TOPIC_PREFIX"],
                            kafka=KafkaSettings(bootstrap_servers=kafka))
        letters = [json.loads(v) for _, v in read_all(settings, NOTIFY_DLQ)]
        ours = [d for d in letters if d["key"].startswith(f"act:{action_id}:")]
        assert len({d["key"] for d in ours}) == counts["failed"]
        assert all(d["reasons"] and d["reasons"][0]["message"] for d in ours)
        assert counts["failed"] > 0, "the injected undelivered share should dead-letter some messages"
        assert counts["delivered"] + counts["failed"] == len(expected)
    finally:
        stack.stop()
        sandbox.stop()


def test_worker_killed_mid_fan_out_sends_each_member_exactly_one_sms(kafka, tmp_path):
    stack, sandbox, tokens = start_world(tmp_path, rate=120.0)
    try:
        action_id, ref = approve_sms_action(stack, tokens, "za")
        expected = {m["phone"] for m in eligible(demo_members(), "sms")}
        wait_for(lambda: len([s for s in sandbox.all_sms() if ref in s["body"]]) >= len(expected) // 3, 60, 0.05,
                 "a third of the fan-out")
        stack.kill()
        sent_before = len([s for s in sandbox.all_sms() if ref in s["body"]])
        assert sent_before < len(expected), "the kill should land mid fan-out"
        stack.start()
        wait_for(lambda: settled(stack, tokens, action_id), 120, 0.5, "the fan-out to finish after the restart")
        per_phone = Counter(s["to"] for s in sandbox.all_sms() if ref in s["body"])
        assert set(per_phone) == expected
        assert max(per_phone.values()) == 1, [p for p, n in per_phone.items() if n > 1][:3]
    finally:
        stack.stop()
        sandbox.stop()
