"""Who gets which text: alerts, calls to action, do-no-harm checks."""

from datetime import datetime, timedelta, timezone

import pytest

from agents.fanout import (action_key, alert_notifications, check_do_no_harm, fan_out_action, needs_alert, plan_size,
                           prefill)
from schemas.actions import Audience, CallToAction
from schemas.cases import Case, Classification, StoredReport
from schemas.members import Member
from schemas.reports import ReportIn
from schemas.vocab import Channel, Consent, Urgency
from testing.samples import report


def make_case(consent="network", urgency="high", **overrides) -> Case:
    body = ReportIn.model_validate(report(consent=consent, **overrides))
    cls = Classification(urgency=urgency, reasons=["base"], mechanisms=[], region="americas")
    stored = StoredReport(report_id="rep_1", reference="SOL-ABC123", received_at=datetime.now(timezone.utc),
                          report=body, classification=cls)
    return Case(case_id="case_1", reference="SOL-ABC123", incident_type=body.incident_type, country=body.country,
                region="americas", consent=body.consent, urgency=urgency, reasons=["base"], mechanisms=[],
                reports=[stored])


def member(mid, lang="es", channels=("sms", "email"), roles=("member",), opted_out=()) -> Member:
    return Member(member_id=mid, organization=f"Org {mid}", contact_name="Contacto", phone="+525512345678",
                  email=f"{mid}@example.org", language=lang, country="MX", channels=list(channels),
                  roles=list(roles), opted_out=list(opted_out))


@pytest.mark.parametrize("text,fields", [
    ("Firma por Ana María Pérez hoy.", ["messages.es"]),
    ("Firma por PÉREZ hoy.", ["messages.es"]),
    ("Solidaridad con la comunidad de San Isidro.", ["messages.es"]),
    ("Solidaridad con una defensora detenida en México.", []),
])
def test_network_consent_refuses_names_and_locality(text, fields):
    assert [p.field for p in check_do_no_harm(make_case("network"), {"es": text})] == fields


def test_public_consent_allows_names():
    assert check_do_no_harm(make_case("public"), {"es": "Firma por Ana María Pérez en San Isidro."}) == []


def test_fan_out_one_notification_per_member_and_channel_in_their_language():
    case = make_case()
    action = CallToAction(action_id="act_1", case_id="case_1", reference=case.reference, kind="petition",
                          audience=Audience(), messages=prefill(case, "petition", ["en", "es"]),
                          channels=[Channel.sms, Channel.email], approved_by="desk")
    members = [member("a", "es"), member("b", "fr"), member("c", "es", opted_out=["sms"]),
               member("d", "pt", channels=["email"])]
    plan = fan_out_action(action, case, members)
    keys = [n.idempotency_key for n in plan.notifications]
    assert len(keys) == len(set(keys)) == 6  # a: 2, b: 2, c: email only (opted out of SMS), d: email
    assert action_key("act_1", "a", Channel.sms) in keys
    assert plan.opted_out == [("c", Channel.sms)]
    by_key = {n.idempotency_key: n for n in plan.notifications}
    assert "FIRMO" in by_key[action_key("act_1", "a", Channel.sms)].body
    assert "SIGN" in by_key[action_key("act_1", "b", Channel.sms)].body  # no French text: English fallback
    assert by_key[action_key("act_1", "d", Channel.email)].subject
    assert all("Ana" not in n.body for n in plan.notifications)


def test_replayed_fan_out_produces_the_same_keys():
    case = make_case()
    action = CallToAction(action_id="act_2", case_id="case_1", reference=case.reference, kind="petition",
                          audience=Audience(), messages=prefill(case, "petition", ["en"]), channels=[Channel.sms],
                          approved_by="desk")
    members = [member(str(i)) for i in range(20)]
    first = [n.idempotency_key for n in fan_out_action(action, case, members).notifications]
    assert first == [n.idempotency_key for n in fan_out_action(action, case, members).notifications]


def test_progress_totals_counted_up_front_match_the_sliced_plan():
    # The agent writes queued/skipped before sending, then builds the plan a slice at a time.
    case = make_case()
    action = CallToAction(action_id="act_3", case_id="case_1", reference=case.reference, kind="petition",
                          audience=Audience(), messages=prefill(case, "petition", ["en", "es"]),
                          channels=[Channel.sms, Channel.email], approved_by="desk")
    members = [member(str(i), "es" if i % 2 else "fr", channels=["sms", "email"] if i % 3 else ["email"],
                      opted_out=["sms"] if i % 5 == 0 else [], roles=["member"]) for i in range(50)]
    members.append(Member(member_id="nophone", organization="Org", contact_name="C", email="np@example.org",
                          country="MX", channels=["sms", "email"]))
    whole = fan_out_action(action, case, members)
    sliced = [n for start in range(0, len(members), 7)
              for n in fan_out_action(action, case, members[start:start + 7]).notifications]
    queued, skipped, reached = plan_size(action, members)
    assert [n.idempotency_key for n in sliced] == [n.idempotency_key for n in whole.notifications]
    assert (queued, skipped, reached) == (len(whole.notifications), len(whole.opted_out),
                                          {n.member_id for n in whole.notifications})


@pytest.mark.parametrize("before,after,alert", [
    (None, "critical", True), (None, "high", True), (None, "medium", False),
    ("medium", "high", True), ("high", "high", False), ("high", "critical", True), ("critical", "critical", False),
])
def test_needs_alert_on_new_or_escalated_high_cases(before, after, alert):
    assert needs_alert(make_case(urgency=before) if before else None, make_case(urgency=after)) is alert


def test_alerts_go_to_oncall_only_without_names_or_locality():
    case = make_case(urgency=Urgency.critical, consent=Consent.private)
    notes = alert_notifications(case, [member("x", "ar", roles=["secretariat_oncall"]), member("y")], "http://d/1")
    assert {n.member_id for n in notes} == {"x"} and {n.channel for n in notes} == {Channel.sms, Channel.email}
    sms = next(n for n in notes if n.channel is Channel.sms)
    assert "SOL-ABC123" in sms.body and "http://d/1" in sms.body and "في" in sms.body
    assert "Ana" not in sms.body and "San Isidro" not in sms.body
    assert sms.lane.value == "priority"
