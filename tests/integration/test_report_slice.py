"""The first slice end to end through the real broker: POST a report, read the case back over HTTP."""

from __future__ import annotations

from testing.samples import report
from testing.stack import wait_for


def test_healthz_reports_broker_connected(stack, secretariat_token):
    status, body = stack.http.request("GET", "/healthz", token=secretariat_token)
    assert status == 200
    assert body["status"] == "ok" and body["broker"]["connected"] is True


def test_healthz_tells_anonymous_callers_only_up_or_down(stack):
    status, body = stack.http.request("GET", "/healthz")
    assert (status, body) == (200, {"status": "ok"}), "never the broker's address to anyone"


def test_report_flows_through_kafka_and_comes_back_as_a_case(stack, reporter_token, secretariat_token):
    status, receipt = stack.http.request("POST", "/api/v1/reports", report(), token=reporter_token)
    assert status == 202, receipt
    assert receipt["reference"].startswith("SOL-") and receipt["case_id"].startswith("case_")

    def fetched():
        code, case = stack.http.request("GET", f"/api/v1/cases/{receipt['case_id']}", token=secretariat_token)
        return case if code == 200 else None

    case = wait_for(fetched, 30, 0.1, "the case to be stored by the agent")
    assert case["case_id"] == receipt["case_id"]
    assert case["reference"] == receipt["reference"]
    assert case["status"] == "new"
    assert case["country"] == "MX"
    assert case["reports"][0]["report"]["defenders"][0]["name"] == "Ana María Pérez"
    assert case["history"][0]["kind"] == "opened"


def test_report_without_token_is_refused(stack):
    status, body = stack.http.request("POST", "/api/v1/reports", report())
    assert status == 401
    assert body["errors"][0]["field"] == "authorization"


def test_invalid_report_lists_every_field(stack, reporter_token):
    bad = report(country="ZZ", defenders=[{"gender": "robot"}], extra_field=1)
    status, body = stack.http.request("POST", "/api/v1/reports", bad, token=reporter_token)
    assert status == 422
    fields = {e["field"] for e in body["errors"]}
    assert {"country", "defenders.0.gender", "extra_field"} <= fields
