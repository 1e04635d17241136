"""Consent withdrawn or case dismissed mid fan-out: what has not reached the provider yet is cancelled, recorded
with its reason, and never arrives; the action still finishes with every notification accounted for."""

from __future__ import annotations

import pytest

from testing.samples import named, unique_name
from testing.stack import wait_for
from tests.members_data import demo_members, eligible
from tests.notify_harness import start_world


@pytest.fixture(scope="module")
def world(kafka, tmp_path_factory):
    # Slow enough (8 SMS a second) that the fan-out is still going when the secretariat acts.
    stack, sandbox, tokens = start_world(tmp_path_factory.mktemp("withdrawn"), rate=8.0)
    yield stack, sandbox, tokens
    stack.stop()
    sandbox.stop()


def verified(stack, tokens, country: str) -> dict:
    sec = tokens["secretariat"]
    status, receipt = stack.http.request("POST", "/api/v1/reports", named(unique_name(), incident_type="land_grab",
                                         country=country), token=tokens["reporter"])
    assert status == 202, receipt
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{receipt['case_id']}", token=sec)[0] == 200, 30, 0.1,
             "the case")
    assert stack.http.request("POST", f"/api/v1/cases/{receipt['case_id']}/verify", {"note": "checked"},
                              token=sec)[0] == 202
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{receipt['case_id']}", token=sec)[1]["status"]
             == "verified", 30, 0.1, "verification")
    return receipt


@pytest.mark.parametrize("verb, body", [
    ("dismiss", {"reason": "the family asked us to stop"}),
    ("consent", {"consent": "private", "note": "the defender withdrew consent"}),
])
def test_the_rest_of_a_fan_out_is_cancelled_and_never_arrives(world, verb, body):
    stack, sandbox, tokens = world
    sec = tokens["secretariat"]
    receipt = verified(stack, tokens, "ke" if verb == "dismiss" else "ug")
    status, approved = stack.http.request("POST", f"/api/v1/cases/{receipt['case_id']}/actions",
                                          {"kind": "solidarity_message", "channels": ["sms"]}, token=sec)
    assert status == 202, approved
    ref, everyone = receipt["reference"], len(eligible(demo_members(), "sms"))

    def arrived() -> int:
        return sum(1 for m in sandbox.all_sms() if ref in m["body"])

    wait_for(lambda: arrived() >= 10, 60, 0.1, "the first messages")
    status, answer = stack.http.request("POST", f"/api/v1/cases/{receipt['case_id']}/{verb}", body, token=sec)
    assert status == 202, answer
    done = wait_for(lambda: (p := stack.http.request("GET", f"/api/v1/actions/{approved['action_id']}", token=sec)[1])
                    .get("finished") and p, 120, 0.5, "the action to finish")
    counts = done["counts"]
    assert counts["cancelled"] > 0 and arrived() < everyone, counts
    final = counts["delivered"] + counts["failed"] + counts["opted_out"] + counts["cancelled"] + counts["unknown"]
    assert final == counts["targeted"], counts
    # Counted at the phones: exactly what the provider accepted arrived, nothing after.
    wait_for(lambda: arrived() == counts["sent"], 30, 0.5, "the phones to match what left")
    assert counts["sent"] + counts["cancelled"] + counts["opted_out"] == counts["targeted"], counts
