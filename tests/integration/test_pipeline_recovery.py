"""Case state lives in changelog-backed tables: a new worker process recovers it, even with its store wiped."""

from __future__ import annotations

from testing.samples import named, unique_name
from testing.stack import wait_case


def test_restarted_worker_recovers_cases_aliases_and_tokens(stack, reporter_token, secretariat_token):
    name = unique_name("Recovery")
    status, first = stack.http.request("POST", "/api/v1/reports", named(name), token=reporter_token)
    assert status == 202
    wait_case(stack, secretariat_token, first["case_id"])
    status, second = stack.http.request("POST", "/api/v1/reports", named(name.lower()), token=reporter_token)
    assert status == 202
    wait_case(stack, secretariat_token, second["case_id"], lambda c: len(c["reports"]) == 2)
    path = f"/api/v1/cases/{first['case_id']}/escalate"
    assert stack.http.request("POST", path, {"urgency": "critical", "reason": "held incommunicado"},
                              token=secretariat_token)[0] == 202
    # Once the page of the critical escalation is in the history too (the escalator writes it after the event).
    before = wait_case(stack, secretariat_token, first["case_id"], lambda c: c["urgency"] == "critical" and any(
        e["kind"] == "paged" and e["event_id"].endswith(":critical:0") for e in c["history"]))

    for wipe in (False, True):
        stack.restart(wipe_data=wipe)
        after = wait_case(stack, secretariat_token, first["case_id"], lambda c: c["urgency"] == "critical",
                          what=f"the case after a restart (store wiped: {wipe})")
        assert after == before
        # The alias left by the merge and the reporter's token come back too.
        assert wait_case(stack, secretariat_token, second["case_id"])["case_id"] == first["case_id"]
        # The duplicate index is recovered: the same defender still joins the same case.
        status, third = stack.http.request("POST", "/api/v1/reports", named(name), token=reporter_token)
        assert status == 202
        joined = wait_case(stack, secretariat_token, third["case_id"],
                           lambda c, ref=third["reference"]: ref in [r["reference"] for r in c["reports"]])
        assert joined["case_id"] == first["case_id"]
        before = joined
