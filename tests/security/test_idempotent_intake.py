"""Field reporters on weak connections retry: the same Idempotency-Key gets the same receipt, never a second
report; the same key with another report is refused, naming the header."""

from __future__ import annotations

from testing.samples import named, unique_name
from testing.stack import wait_for


def post(stack, token, body, key=None):
    headers = {"Idempotency-Key": key} if key else None
    return stack.http.request("POST", "/api/v1/reports", body, token=token, headers=headers)


def test_a_retried_submission_gets_the_same_receipt_and_one_report(stack, reporter_token, secretariat_token):
    body = named(unique_name(), incident_type="threat_intimidation", country="gt")
    first = post(stack, reporter_token, body, "retry-7f3a")
    again = post(stack, reporter_token, body, "retry-7f3a")
    assert first[0] == again[0] == 202 and first[1] == again[1], (first, again)
    case = wait_for(lambda: (r := stack.http.request("GET", f"/api/v1/cases/{first[1]['case_id']}",
                                                     token=secretariat_token))[0] == 200 and r[1], 30, 0.1, "the case")
    # A later, unrelated report on someone else proves the pipeline got past both copies.
    other = post(stack, reporter_token, named(unique_name(), incident_type="threat_intimidation", country="gt"))
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{other[1]['case_id']}", token=secretariat_token)[0]
             == 200, 30, 0.1, "the later case")
    case = stack.http.request("GET", f"/api/v1/cases/{first[1]['case_id']}", token=secretariat_token)[1]
    assert [r["reference"] for r in case["reports"]] == [first[1]["reference"]]


def test_the_same_key_with_another_report_is_refused(stack, reporter_token):
    assert post(stack, reporter_token, named(unique_name()), "k-1")[0] == 202
    status, body = post(stack, reporter_token, named(unique_name()), "k-1")
    assert status == 422 and body["errors"][0]["field"] == "Idempotency-Key", body


def test_without_a_key_two_posts_are_two_reports(stack, reporter_token):
    body = named(unique_name(), incident_type="threat_intimidation", country="sv")
    a, b = post(stack, reporter_token, body), post(stack, reporter_token, body)
    assert a[0] == b[0] == 202 and a[1]["reference"] != b[1]["reference"]
