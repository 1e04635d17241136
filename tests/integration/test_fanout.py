"""Calls to action end to end: real Kafka, the Twilio-compatible sandbox and the SMTP sink, 500 members."""

from __future__ import annotations

import csv
import io
from collections import Counter

import pytest

from testing.samples import named, report, unique_name
from testing.stack import wait_for
from tests.members_data import SIGN_WORDS, TEMPLATE_MARKERS, demo_members, eligible
from tests.notify_harness import start_world


@pytest.fixture(scope="module")
def world(kafka, tmp_path_factory):
    stack, sandbox, tokens = start_world(tmp_path_factory.mktemp("fanout"))
    yield stack, sandbox, tokens
    stack.stop()
    sandbox.stop()


def open_verified_case(stack, tokens, **overrides) -> dict:
    """Submit a report, wait for its case, verify it; return the case."""
    status, receipt = stack.http.request("POST", "/api/v1/reports", report(**overrides), token=tokens["reporter"])
    assert status == 202, receipt
    sec = tokens["secretariat"]
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{receipt['case_id']}", token=sec)[0] == 200, 30, 0.1,
             "the case")
    status, body = stack.http.request("POST", f"/api/v1/cases/{receipt['case_id']}/verify",
                                      {"note": "confirmed by phone with the family"}, token=sec)
    assert status == 202, body
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{receipt['case_id']}", token=sec)[1]["status"]
             == "verified", 30, 0.1, "verification")
    return body["case"]


def test_critical_report_puts_an_sms_on_every_oncall_phone(world):
    stack, sandbox, tokens = world
    oncall = [m for m in demo_members() if "secretariat_oncall" in m["roles"]]
    status, receipt = stack.http.request("POST", "/api/v1/reports", report(
        incident_type="enforced_disappearance", defenders=[{"name": "Ana María Pérez", "gender": "woman"}],
        country="hn"), token=tokens["reporter"])
    assert status == 202
    for m in oncall:
        phone = sandbox.phone(m["phone"])
        msgs = wait_for(lambda: [s for s in phone.received() if receipt["reference"] in s["body"]], 30, 0.05,
                        "the on-call alert")
        assert len(msgs) == 1
        assert "CRITICAL" in msgs[0]["body"]
        assert "Ana María" not in msgs[0]["body"] and "San Isidro" not in msgs[0]["body"]
        mails = wait_for(lambda: [x for x in sandbox.mail_to(m["email"]) if receipt["reference"] in x["subject"]],
                         30, 0.05, "the on-call alert email")
        assert len(mails) == 1


def test_call_to_action_reaches_each_eligible_member_once_in_their_language(world):
    stack, sandbox, tokens = world
    case = open_verified_case(stack, tokens, incident_type="judicial_harassment", country="co")
    status, body = stack.http.request("POST", f"/api/v1/cases/{case['case_id']}/actions",
                                      {"kind": "sign_on_letter", "channels": ["sms", "email"]},
                                      token=tokens["secretariat"])
    assert status == 202, body
    action_id = body["action_id"]
    rows = demo_members()
    sms_members, mail_members = eligible(rows, "sms"), eligible(rows, "email")
    assert body["recipients"] == {"sms": len(sms_members), "email": len(mail_members)}

    def progress():
        code, body = stack.http.request("GET", f"/api/v1/actions/{action_id}", token=tokens["secretariat"])
        if code == 404:
            return None
        counts = body["counts"]
        done = counts["delivered"] + counts["failed"]
        return counts if counts["queued"] and done == counts["queued"] else None

    counts = wait_for(progress, 120, 0.25, "every notification to be delivered")
    assert counts["failed"] == 0
    assert counts["queued"] == len(sms_members) + len(mail_members)
    ref = case["reference"]
    per_phone = Counter(s["to"] for s in sandbox.all_sms() if ref in s["body"])
    assert set(per_phone) == {m["phone"] for m in sms_members}
    assert max(per_phone.values()) == 1
    for m in sms_members[::25]:
        (sms,) = [s for s in sandbox.phone(m["phone"]).received() if ref in s["body"]]
        assert TEMPLATE_MARKERS[m["language"]] in sms["body"]
        assert "Ana" not in sms["body"] and "San Isidro" not in sms["body"]
    for m in [r for r in rows if "sms" in r["opted_out"]][:10]:
        assert not [s for s in sandbox.phone(m["phone"]).received() if ref in s["body"]]
    for m in mail_members[::50]:
        assert len([x for x in sandbox.mail_to(m["email"]) if ref in x["subject"] or ref in x.get("text", "")]) == 1

    # Members answer: SIGN in their own language, STOP opts out.
    signers = [next(m for m in sms_members if m["language"] == lang) for lang in SIGN_WORDS]
    for m in signers:
        assert sandbox.phone(m["phone"]).reply(SIGN_WORDS[m["language"]])[0] in (200, 201, 202)
    wait_for(lambda: stack.http.request("GET", f"/api/v1/actions/{action_id}", token=tokens["secretariat"])[1]
             ["counts"]["signed"] == len(signers), 30, 0.1, "the signatures to be counted")
    status, text = stack.http.request("GET", f"/api/v1/actions/{action_id}/signatories.csv", token=tokens["secretariat"])
    assert status == 200
    signed = {r["member_id"] for r in csv.DictReader(io.StringIO(text))}
    assert signed == {m["member_id"] for m in signers}
    thanks = wait_for(lambda: [s for s in sandbox.phone(signers[0]["phone"]).received() if "Thank you" in s["body"]
                               or "Gracias" in s["body"] or "Merci" in s["body"] or "Obrigado" in s["body"]
                               or "شكراً" in s["body"]], 30, 0.1, "a thank-you SMS")
    assert len(thanks) == 1

    quitter = sms_members[-1]
    sandbox.phone(quitter["phone"]).reply("STOP")
    wait_for(lambda: "sms" in stack.http.request("GET", f"/api/v1/members/{quitter['member_id']}",
                                                 token=tokens["secretariat"])[1].get("opted_out", []),
             30, 0.1, "the member to be opted out of SMS")


def test_network_consent_refuses_a_text_naming_the_defender(world):
    stack, sandbox, tokens = world
    case = open_verified_case(stack, tokens, incident_type="surveillance", country="ke")
    status, body = stack.http.request(
        "POST", f"/api/v1/cases/{case['case_id']}/actions",
        {"kind": "petition", "messages": {"es": "Firma por Ana María Pérez, detenida en San Isidro."}},
        token=tokens["secretariat"])
    assert status == 422
    assert body["errors"][0]["field"] == "messages.es"
    assert "name" in body["errors"][0]["message"] and "locality" in body["errors"][0]["message"]


def test_unverified_case_cannot_get_a_call_to_action(world):
    stack, sandbox, tokens = world
    status, receipt = stack.http.request("POST", "/api/v1/reports", report(incident_type="travel_ban"),
                                         token=tokens["reporter"])
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{receipt['case_id']}", token=tokens["secretariat"])[0]
             == 200, 30, 0.1, "the case")
    status, body = stack.http.request("POST", f"/api/v1/cases/{receipt['case_id']}/actions", {"kind": "petition"},
                                      token=tokens["secretariat"])
    assert status == 409 and body["errors"][0]["field"] == "status"


def test_forged_webhooks_are_refused(world):
    stack, sandbox, tokens = world
    form = b"From=%2B50491236721&Body=STOP&MessageSid=SMforged"
    for path in ("/webhooks/twilio/sms", "/webhooks/twilio/status"):
        status, _ = stack.http.request("POST", path, raw=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
        assert status == 403


def test_unknown_texts_get_at_most_three_help_replies_an_hour(world):
    stack, sandbox, tokens = world
    member = next(m for m in eligible(demo_members(), "sms") if m["language"] == "fr")
    phone = sandbox.phone(member["phone"])
    for i in range(5):
        phone.reply(f"bonjour {i}")
    helps = wait_for(lambda: (lambda h: h if len(h) >= 3 else None)(
        [s for s in phone.received() if "Répondez SIGNE pour signer" in s["body"]]), 30, 0.1,
        "three help replies")
    # Replies from one phone are handled in order: once STOP is confirmed, all five texts were handled.
    phone.reply("STOP")
    wait_for(lambda: any("ne recevrez plus" in s["body"] for s in phone.received()), 30, 0.1,
             "the STOP confirmation")
    assert len([s for s in phone.received() if "Répondez SIGNE pour signer" in s["body"]]) == 3
    assert len(helps) == 3


def test_oncall_roster_changes_take_effect_at_the_next_alert(world):
    # Last in the module: the member it adds would change the audience of the tests above.
    stack, sandbox, tokens = world
    sec, phone = tokens["secretariat"], "+51912345077"
    newcomer = {"member_id": "oncall-new", "organization": "Secretariat", "contact_name": "Guardia Nueva",
                "phone": phone, "email": "guardia@example.org", "language": "es", "country": "PE",
                "channels": ["sms"], "roles": ["secretariat_oncall"]}
    assert stack.http.request("POST", "/api/v1/members", newcomer, token=sec)[0] == 201
    wait_for(lambda: stack.http.request("GET", "/api/v1/members/oncall-new", token=sec)[0] == 200, 30, 0.1,
             "the new on-call member in the worker")

    def critical() -> str:
        # A defender of its own each time: a second report on the same one would join the first case.
        status, receipt = stack.http.request("POST", "/api/v1/reports",
                                             named(unique_name(), incident_type="abduction"), token=tokens["reporter"])
        assert status == 202
        return receipt["reference"]

    first = critical()
    sandbox.phone(phone).expect_sms(first, timeout=30)
    status, _ = stack.http.request("PATCH", "/api/v1/members/oncall-new", {"roles": ["member"]}, token=sec)
    assert status == 200
    wait_for(lambda: stack.http.request("GET", "/api/v1/members/oncall-new", token=sec)[1].get("roles") == ["member"],
             30, 0.1, "the role change in the worker")
    second = critical()
    veteran = next(m for m in demo_members() if "secretariat_oncall" in m["roles"])
    sandbox.phone(veteran["phone"]).expect_sms(second, timeout=30)
    # Bounded wait for an SMS that must not come: as long as a page takes to arrive, several times over.
    with pytest.raises(AssertionError, match="timed out"):
        wait_for(lambda: [s for s in sandbox.phone(phone).received() if second in s["body"]], 3, 0.1,
                 "a page to the ex-on-call")
