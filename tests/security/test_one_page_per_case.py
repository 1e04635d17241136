"""One page per case: a second report on the same defender joins the case and never pages the on-call again as
if it were new; later reports send at most one short update per interval, naming the case's own reference."""

from __future__ import annotations

import time

import pytest

from testing.samples import named, unique_name
from testing.stack import wait_for
from tests.members_data import demo_members
from tests.notify_harness import start_world

UPDATE_SECONDS = 6


@pytest.fixture(scope="module")
def world(kafka, tmp_path_factory):
    stack, sandbox, tokens = start_world(tmp_path_factory.mktemp("one-page"), extra_env={
        "SOLIDARITY_DELIVERY__UPDATE_EVERY_MINUTES": str(UPDATE_SECONDS / 60)})
    yield stack, sandbox, tokens
    stack.stop()
    sandbox.stop()


def oncall_phones() -> list[str]:
    return [m["phone"] for m in demo_members() if "secretariat_oncall" in m["roles"] and m["phone"]]


def submit(stack, tokens, body) -> dict:
    status, receipt = stack.http.request("POST", "/api/v1/reports", body, token=tokens["reporter"])
    assert status == 202, receipt
    return receipt


def paged(stack, sandbox, tokens, name: str, country: str) -> dict:
    """Submit a critical report on `name` and wait until every on-call phone has its page; the receipt."""
    receipt = submit(stack, tokens, named(name, incident_type="enforced_disappearance", country=country))
    for phone in oncall_phones():
        sandbox.phone(phone).expect_sms(receipt["reference"], timeout=30)
    return receipt


def flushed(stack, sandbox, tokens) -> None:
    """A critical report on someone else, paged: everything submitted before it has been through the pipeline."""
    paged(stack, sandbox, tokens, unique_name(), "gt")


def test_a_duplicate_critical_report_two_seconds_later_does_not_page_again(world):
    stack, sandbox, tokens = world
    name = unique_name()
    first = paged(stack, sandbox, tokens, name, "pe")
    time.sleep(2)  # the report of the issue: the same defender again, two seconds later
    second = submit(stack, tokens, named(name, incident_type="enforced_disappearance", country="pe"))
    assert second["reference"] != first["reference"], "the reporter's receipt names their own report"
    sec = tokens["secretariat"]
    wait_for(lambda: len(stack.http.request("GET", f"/api/v1/cases/{first['case_id']}", token=sec)[1]
                         .get("reports", [])) == 2, 30, 0.1, "the merge")
    flushed(stack, sandbox, tokens)
    for phone in oncall_phones():
        texts = [s["body"] for s in sandbox.phone(phone).received()]
        assert sum(first["reference"] in t for t in texts) == 1, texts
        assert not any(second["reference"] in t for t in texts), "paged again under the new report's reference"


def test_later_reports_send_one_update_naming_the_case_reference(world):
    stack, sandbox, tokens = world
    name = unique_name()
    first = paged(stack, sandbox, tokens, name, "bo")
    time.sleep(UPDATE_SECONDS + 1)  # past the update interval (shortened for the test)
    later = [submit(stack, tokens, named(name, incident_type="enforced_disappearance", country="bo")) for _ in range(3)]
    sec = tokens["secretariat"]
    wait_for(lambda: len(stack.http.request("GET", f"/api/v1/cases/{first['case_id']}", token=sec)[1]
                         .get("reports", [])) == 4, 30, 0.1, "the merges")
    flushed(stack, sandbox, tokens)
    for phone in oncall_phones():
        texts = [s["body"] for s in sandbox.phone(phone).received() if first["reference"] in s["body"]]
        updates = [t for t in texts if "Update" in t or "Novedad" in t or "jour" in t or "تحديث" in t or "Novidade" in t]
        assert len(texts) == 2 and len(updates) == 1, texts
        assert not any(r["reference"] in s["body"] for r in later for s in sandbox.phone(phone).received())
