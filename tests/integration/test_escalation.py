"""Escalation end to end, read off the phones: a real worker, real Kafka, the sandbox; delays of seconds.

Policy under test (written below): critical cases page the primary, then the secondary and the primary, then the
whole secretariat, 3 s apart, twice over; high cases page the primary, then the secondary after 60 s.
"""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from testing.samples import report
from testing.sandbox import notify_stack
from testing.stack import wait_for

PRIMARY, SECONDARY, STAFF, MEMBER = "+50491230001", "+50491230002", "+50491230003", "+50491230004"
MEMBERS = f"""member_id,organization,contact_name,phone,email,language,country,working_groups,channels,roles,opted_out
sec-a,Secretariat,Carmen Primaria,{PRIMARY},carmen@example.org,es,HN,,sms,secretariat_oncall,
sec-b,Secretariat,Bea Secundaria,{SECONDARY},bea@example.org,en,GB,,sms,secretariat_oncall,
sec-c,Secretariat,Chidi Staff,{STAFF},chidi@example.org,en,NG,,sms,secretariat,
org-d,Colectivo Sur,Dora Miembro,{MEMBER},dora@example.org,es,PE,,sms,member,
"""
SCHEDULES = """schedules:
  - {id: primary, name: Primary, timezone: America/Tegucigalpa, members: [sec-a]}
  - {id: secondary, name: Secondary, timezone: Europe/London, members: [sec-b]}
"""
POLICIES = """policies:
  - id: critical
    name: Critical (test)
    match: {urgency: [critical]}
    repeat: 1
    steps:
      - {targets: [{schedule: primary}], channels: [sms], delay: 3s}
      - {targets: [{schedule: secondary}, {schedule: primary}], channels: [sms], delay: 3s}
      - {targets: [{secretariat: true}], channels: [sms], delay: 3s}
  - id: high
    name: High (test)
    match: {urgency: [high]}
    steps:
      - {targets: [{schedule: primary}], channels: [sms], delay: 60s}
      - {targets: [{schedule: secondary}], channels: [sms], delay: 60s}
"""
# Firings of the critical policy with nobody answering: who each one pages (2 passes of 3 steps).
WALK = [["sec-a"], ["sec-b", "sec-a"], ["sec-a", "sec-b", "sec-c"]] * 2
PHONES = {"sec-a": PRIMARY, "sec-b": SECONDARY, "sec-c": STAFF}


@pytest.fixture(scope="module")
def world(kafka, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("escalation")
    (tmp / "oncall.yaml").write_text(SCHEDULES)
    (tmp / "escalation.yaml").write_text(POLICIES)
    (tmp / "members.csv").write_text(MEMBERS)
    stack, sandbox = notify_stack(tmp, extra_env={
        "SOLIDARITY_ESCALATION__SCHEDULES_FILE": str(tmp / "oncall.yaml"),
        "SOLIDARITY_ESCALATION__POLICIES_FILE": str(tmp / "escalation.yaml"),
        "SOLIDARITY_ESCALATION__TICK_SECONDS": "0.5"})
    try:
        stack.start()
        stack.cli("members", "import", str(tmp / "members.csv"))
        tokens = {"reporter": stack.token("reporter"), "secretariat": stack.token("secretariat", "ana-desk")}
        wait_for(lambda: stack.http.request("GET", "/api/v1/members", token=tokens["secretariat"])[1].get("count")
                 == 4, 60, 0.2, "the members")
        yield stack, sandbox, tokens
    finally:
        stack.stop()
        sandbox.stop()


def submit(world, **overrides) -> dict:
    stack, _, tokens = world
    status, receipt = stack.http.request("POST", "/api/v1/reports", report(**overrides), token=tokens["reporter"])
    assert status == 202, receipt
    return receipt


def case(world, case_id: str) -> dict:
    stack, _, tokens = world
    return stack.http.request("GET", f"/api/v1/cases/{case_id}", token=tokens["secretariat"])[1]


def pages_of(sandbox, reference: str) -> Counter:
    """How many SMS naming the reference each secretariat phone received."""
    return Counter({m: sum(reference in s["body"] for s in sandbox.phone(p).received()) for m, p in PHONES.items()})


def expected(firings: list[list[str]]) -> Counter:
    return Counter(m for members in firings for m in members)


def test_an_acknowledgement_at_step_one_stops_everything(world):
    stack, sandbox, _ = world
    receipt = submit(world, incident_type="enforced_disappearance", country="gt")
    ref = receipt["reference"]
    primary = sandbox.phone(PRIMARY)
    page = primary.expect_sms(contains=ref)
    assert "CRITICAL" in page["body"] and "ACK" in page["body"]
    page.reply(f"ACK {ref}")
    # The acknowledger is told who else was paged: nobody yet at step 1 (Spanish: the member's language).
    primary.expect_sms(contains="nadie más")
    sandbox.phone(SECONDARY).expect_no_sms(within=8, contains=ref)
    sandbox.phone(STAFF).expect_no_sms(within=1, contains=ref)
    assert pages_of(sandbox, ref)["sec-a"] == 2  # the page and the thank-you, nothing more
    history = wait_for(lambda: (h := case(world, receipt["case_id"])["history"])
                       and any(e["kind"] == "acknowledged" for e in h) and h, 30, 0.2, "the acknowledgement")
    kinds = [e["kind"] for e in history]
    assert kinds.count("paged") == 1 and kinds.count("acknowledged") == 1
    ack = next(e for e in history if e["kind"] == "acknowledged")
    assert ack["data"] == {"via": "sms", "member_id": "sec-a"}


def test_nobody_answers_every_step_fires_once_and_repeats_then_it_ends(world):
    stack, sandbox, _ = world
    receipt = submit(world, incident_type="enforced_disappearance", country="sv")
    ref = receipt["reference"]
    want = expected(WALK)
    wait_for(lambda: pages_of(sandbox, ref) == want or None, 60, 0.25, f"every page of the walk {dict(want)}")
    history = wait_for(lambda: (h := case(world, receipt["case_id"])["history"])
                       and any(e["kind"] == "escalation_ended" for e in h) and h, 30, 0.2, "the end of the policy")
    pages = [e for e in history if e["kind"] == "paged"]
    assert [e["data"]["members"] for e in pages] == WALK
    assert [(e["data"]["round"], e["data"]["step"]) for e in pages] == [(r, s) for r in (1, 2) for s in (1, 2, 3)]
    sandbox.phone(PRIMARY).expect_no_sms(within=5, contains=ref)
    assert pages_of(sandbox, ref) == want
    later = [s for s in sandbox.phone(SECONDARY).received() if ref in s["body"]]
    assert "NOT ACKNOWLEDGED (step 2)" in later[0]["body"]


def test_esc_pages_the_next_step_at_once_and_an_ack_on_the_dashboard_api_tells_everyone(world):
    stack, sandbox, tokens = world
    receipt = submit(world, incident_type="death_threat", country="ni")  # high: the next step waits 60 s
    ref = receipt["reference"]
    sandbox.phone(PRIMARY).expect_sms(contains=ref).reply("ESC")
    sandbox.phone(PRIMARY).expect_sms(contains="siguiente paso")
    sandbox.phone(SECONDARY).expect_sms(contains=ref, timeout=20)  # well before the policy's 60 s
    status, body = stack.http.request("POST", f"/api/v1/cases/{receipt['case_id']}/ack", {"note": "on it"},
                                      token=tokens["secretariat"])
    assert status == 202, body
    assert sorted(p["member_id"] for p in body["paged"]) == ["sec-a", "sec-b"]
    for phone in (PRIMARY, SECONDARY):
        told = sandbox.phone(phone).expect_sms(contains="ana-desk")
        assert ref in told["body"]
    status, again = stack.http.request("POST", f"/api/v1/cases/{receipt['case_id']}/ack", {},
                                       token=tokens["secretariat"])
    assert status == 409 and "already acknowledged" in again["errors"][0]["message"]
    # A second ACK by SMS is answered with who acknowledged, and pages nobody.
    sandbox.phone(SECONDARY).send(f"OK {ref}")
    assert "ana-desk" in sandbox.phone(SECONDARY).expect_sms(contains="already")["body"]


def test_an_ack_from_someone_not_in_the_secretariat_acknowledges_nothing(world):
    stack, sandbox, _ = world
    receipt = submit(world, incident_type="enforced_disappearance", country="cr")
    ref = receipt["reference"]
    sandbox.phone(PRIMARY).expect_sms(contains=ref)
    sandbox.phone(MEMBER).send(f"ACK {ref}")
    sandbox.phone(SECONDARY).expect_sms(contains=ref, timeout=20)  # the escalation went on
    history = case(world, receipt["case_id"])["history"]
    assert not any(e["kind"] == "acknowledged" for e in history)
    sandbox.phone(PRIMARY).send(f"1 {ref}")  # "1" acknowledges, as in paging tools
    wait_for(lambda: any(e["kind"] == "acknowledged" for e in case(world, receipt["case_id"])["history"]), 30, 0.2,
             "the acknowledgement")


def test_oncall_now_lists_each_schedule(world):
    stack, _, tokens = world
    status, body = stack.http.request("GET", "/api/v1/oncall", token=tokens["secretariat"])
    assert status == 200, body
    on_call = {s["id"]: [m["member_id"] for m in s["on_call"]] for s in body["schedules"]}
    assert on_call == {"primary": ["sec-a"], "secondary": ["sec-b"]}
    assert [p["id"] for p in body["policies"]] == ["critical", "high"]
    assert stack.http.request("GET", "/api/v1/oncall", token=tokens["reporter"])[0] == 403


def test_a_worker_killed_between_steps_neither_loses_nor_doubles_a_page(world):
    stack, sandbox, _ = world
    receipt = submit(world, incident_type="enforced_disappearance", country="pa")
    ref = receipt["reference"]
    sandbox.phone(PRIMARY).expect_sms(contains=ref)
    wait_for(lambda: pages_of(sandbox, ref)["sec-b"] >= 1 or None, 30, 0.1, "step 2")
    stack.kill(signal.SIGKILL)  # between step 2 and step 3
    stack.restart()
    want = expected(WALK)
    wait_for(lambda: pages_of(sandbox, ref) == want or None, 90, 0.25, f"every page of the walk {dict(want)}")
    wait_for(lambda: any(e["kind"] == "escalation_ended" for e in case(world, receipt["case_id"])["history"]), 30,
             0.2, "the end of the policy")
    sandbox.phone(STAFF).expect_no_sms(within=3, contains=ref)
    assert pages_of(sandbox, ref) == want
    pages = [e for e in case(world, receipt["case_id"])["history"] if e["kind"] == "paged"]
    assert [e["data"]["index"] for e in pages] == list(range(len(WALK)))
