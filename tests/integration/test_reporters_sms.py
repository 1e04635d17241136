"""Reporters who only have SMS, and follow-ups to exactly those an action reached: read off the sandbox's phones.

A real worker, real Kafka, the sandbox. Reporter phones are linked to reporter tokens with the CLI; the members
are a handful, so who received what can be counted phone by phone.
"""

from __future__ import annotations

from collections import Counter

import pytest

from testing.samples import report, unique_name
from testing.sandbox import notify_stack
from testing.stack import wait_for

ES_REPORTER, AR_REPORTER, STRANGER = "+51987650001", "+201005500002", "+59170000003"
PE1, PE2, CO, BR = "+51987650011", "+51987650012", "+573005500013", "+5511955550014"
MEMBERS = f"""member_id,organization,contact_name,phone,email,language,country,working_groups,channels,roles,opted_out
sec-a,Secretariat,Carmen Primaria,+50491239001,carmen@example.org,es,HN,,sms,secretariat_oncall,
org-pe1,Colectivo Lima,Rosa Quispe,{PE1},,es,PE,,sms,member,
org-pe2,Red Andina,Luis Mamani,{PE2},,es,PE,,sms,member,
org-co,Tejido Cauca,Ana Yule,{CO},,es,CO,,sms,member,
org-br,Coletivo Xingu,Joana Silva,{BR},,pt,BR,,sms,member,
"""


@pytest.fixture(scope="module")
def world(kafka, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reporters-sms")
    (tmp / "members.csv").write_text(MEMBERS)
    stack, sandbox = notify_stack(tmp)
    try:
        stack.start()
        stack.cli("members", "import", str(tmp / "members.csv"))
        tokens = {"secretariat": stack.token("secretariat"), "reporter": stack.token("reporter", "web-team")}
        for phone, lang in ((ES_REPORTER, "es"), (AR_REPORTER, "ar")):
            made = stack.cli("tokens", "create", "--role", "reporter", "--name", f"sms-{lang}", "--phone", phone,
                             "--language", lang)
            tokens[lang] = stack.wait_token(made.stdout.strip().splitlines()[-1], "reporter")
        wait_for(lambda: stack.http.request("GET", "/api/v1/members", token=tokens["secretariat"])[1].get("count")
                 == 5, 60, 0.2, "the members")
        yield stack, sandbox, tokens
    finally:
        stack.stop()
        sandbox.stop()


def case_by_reference(world, reference: str) -> dict | None:
    stack, _, tokens = world
    rows = stack.http.request("GET", f"/api/v1/cases?reference={reference}", token=tokens["secretariat"])[1]["cases"]
    if not rows:
        return None
    return stack.http.request("GET", f"/api/v1/cases/{rows[0]['case_id']}", token=tokens["secretariat"])[1]


def test_a_number_that_is_not_registered_gets_no_answer_at_all(world):
    stack, sandbox, tokens = world
    stranger = sandbox.phone(STRANGER)
    for text in ("ALERTA desaparicion BO La Paz: se llevaron a mi hermano anoche", "STATUS SOL-ABC123", "HELP",
                 "ACK"):
        stranger.send(text)
    stranger.expect_no_sms(within=6)
    assert stranger.received() == []
    rows = stack.http.request("GET", "/api/v1/cases?country=BO", token=tokens["secretariat"])[1]["cases"]
    assert rows == []


def test_a_structured_spanish_sms_becomes_a_report_and_status_follows_it(world):
    stack, sandbox, tokens = world
    phone = sandbox.phone(ES_REPORTER)
    phone.send("ALERTA desaparicion PE San Isidro: se llevaron a la lideresa comunal esta mañana")
    # Consent is never assumed: the one thing the message did not say is asked, in Spanish.
    phone.expect_sms(contains="secretariado").reply("3")
    receipt = phone.expect_sms(contains="SOL-")
    assert receipt["body"].startswith("Recibido")
    reference = next(w for w in receipt["body"].replace(".", " ").split() if w.startswith("SOL-"))
    case = wait_for(lambda: case_by_reference(world, reference), 30, 0.2, "the case of the SMS report")
    stored = case["reports"][0]
    assert stored["source"] == "sms" and stored["report"]["language"] == "es"
    assert stored["report"]["incident_type"] == "enforced_disappearance" and case["country"] == "PE"
    assert stored["report"]["consent"] == "network" and stored["report"]["locality"] == "San Isidro"
    assert case["urgency"] == "critical"
    # The on-call was paged about it, as about any report.
    sandbox.phone("+50491239001").expect_sms(contains=reference)

    phone.send(f"ESTADO {reference}")
    assert "recibido" in phone.expect_sms(contains=reference)["body"]
    status, _ = stack.http.request("POST", f"/api/v1/cases/{case['case_id']}/verify", {"note": "called back"},
                                   token=tokens["secretariat"])
    assert status == 202
    wait_for(lambda: case_by_reference(world, reference)["status"] == "verified", 30, 0.2, "verification")
    phone.send(f"status {reference.lower()}")
    assert "verificado" in phone.expect_sms(contains=reference)["body"]
    # The same answer on the web with the token; another reporter's token learns nothing.
    ok = stack.http.request("GET", f"/api/v1/reports/{reference}/status", token=tokens["es"])
    assert ok == (200, {"reference": reference, "status": "verified"})
    assert stack.http.request("GET", f"/api/v1/reports/{reference}/status", token=tokens["reporter"])[0] == 404
    sandbox.phone(AR_REPORTER).send(f"STATUS {reference}")
    assert reference in sandbox.phone(AR_REPORTER).expect_sms(contains=reference)["body"]
    assert not any("verif" in m["body"] for m in sandbox.phone(AR_REPORTER).received())


def test_a_guided_arabic_conversation_asks_for_what_is_missing(world):
    _, sandbox, _ = world
    phone = sandbox.phone(AR_REPORTER)
    phone.send("تنبيه")
    phone.expect_sms(contains="ماذا حدث").reply("3")   # 3: detention, from the numbered menu
    phone.expect_sms(contains="في أي بلد").reply("مصر")
    phone.expect_sms(contains="صف ما حدث").reply("اعتقلت الشرطة المدافعة عن حقوق الإنسان من منزلها فجر اليوم")
    phone.expect_sms(contains="الأمانة فقط").reply("3")
    receipt = phone.expect_sms(contains="وصل بلاغك")
    reference = next(w for w in receipt["body"].replace(".", " ").split() if w.startswith("SOL-"))
    case = wait_for(lambda: case_by_reference(world, reference), 30, 0.2, "the case of the guided report")
    assert case["country"] == "EG" and case["incident_type"] == "arbitrary_detention"
    assert case["reports"][0]["report"]["language"] == "ar" and case["reports"][0]["source"] == "sms"


def sms_containing(sandbox, text: str) -> Counter:
    return Counter({p: sum(text in m["body"] for m in sandbox.phone(p).received()) for p in (PE1, PE2, CO, BR)})


def test_follow_ups_reach_exactly_those_the_first_call_reached_and_signers_are_thanked(world):
    stack, sandbox, tokens = world
    sec = tokens["secretariat"]
    status, sent = stack.http.request("POST", "/api/v1/reports", report(
        incident_type="judicial_harassment", country="pe", defenders=[{"name": unique_name()}]), token=tokens["reporter"])
    assert status == 202
    case_id = sent["case_id"]
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{case_id}", token=sec)[0] == 200, 30, 0.2, "the case")
    assert stack.http.request("POST", f"/api/v1/cases/{case_id}/verify", {}, token=sec)[0] == 202
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{case_id}", token=sec)[1]["status"] == "verified",
             30, 0.2, "verification")
    status, first = stack.http.request("POST", f"/api/v1/cases/{case_id}/actions", {
        "kind": "sign_on_letter", "channels": ["sms"], "audience": {"countries": ["PE"]}}, token=sec)
    assert status == 202, first
    for phone in (PE1, PE2):
        sandbox.phone(phone).expect_sms(contains="FIRMO")
    wait_for(lambda: stack.http.request("GET", f"/api/v1/actions/{first['action_id']}", token=sec)[1]["finished"],
             60, 0.25, "the first call to be delivered")
    # The first call's audience was Peru; a member who joins Peru afterwards is no recipient of it.
    late = "org-late,Nuevos,Eva Late,+51987650099,,es,PE,,sms,member,\n"
    (stack.tmp / "late.csv").write_text(MEMBERS.splitlines()[0] + "\n" + late)
    stack.cli("members", "import", str(stack.tmp / "late.csv"))
    wait_for(lambda: stack.http.request("GET", "/api/v1/members", token=sec)[1].get("count") == 6, 60, 0.2, "the newcomer")

    news = "Mas informacion: la audiencia fue aplazada al lunes."
    status, follow = stack.http.request("POST", f"/api/v1/cases/{case_id}/actions", {
        "kind": "further_information", "channels": ["sms"], "follows": [first["action_id"]],
        "messages": {"es": news}}, token=sec)
    assert status == 202, follow
    wait_for(lambda: sms_containing(sandbox, news) == Counter({PE1: 1, PE2: 1, CO: 0, BR: 0}) or None, 60, 0.25,
             "the further information at both Peruvian phones")
    sandbox.phone("+51987650099").expect_no_sms(within=3)
    assert sandbox.phone("+51987650099").received() == []

    sandbox.phone(PE1).send("FIRMO")
    sandbox.phone(PE1).expect_sms(contains="Gracias")
    signed = stack.http.request("GET", f"/api/v1/actions/{first['action_id']}", token=sec)[1]["counts"]["signed"]
    assert signed == 1  # the signature counts on the letter, not on the further information that came after it
    assert stack.http.request("POST", f"/api/v1/cases/{case_id}/close", {"outcome": "charges dropped"}, token=sec)[0] == 202
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{case_id}", token=sec)[1]["status"] == "closed",
             30, 0.2, "closing")
    status, closure = stack.http.request("POST", f"/api/v1/cases/{case_id}/actions", {
        "kind": "closure_notice", "channels": ["sms"]}, token=sec)
    assert status == 202, closure
    closed_text = "cerrado"
    wait_for(lambda: sms_containing(sandbox, closed_text) == Counter({PE1: 1, PE2: 1, CO: 0, BR: 0}) or None, 60,
             0.25, "the closure notice at both Peruvian phones, in Spanish")
    [to_signer] = [m["body"] for m in sandbox.phone(PE1).received() if closed_text in m["body"]]
    [to_other] = [m["body"] for m in sandbox.phone(PE2).received() if closed_text in m["body"]]
    assert to_signer.startswith("Gracias por firmar.") and not to_other.startswith("Gracias por firmar.")
    # Exactly once each, still, after the dust settles.
    sandbox.phone(PE2).expect_no_sms(within=3)
    assert sms_containing(sandbox, news) == Counter({PE1: 1, PE2: 1, CO: 0, BR: 0})


def test_a_follow_up_needs_an_earlier_action_of_the_same_case(world):
    stack, _, tokens = world
    sec = tokens["secretariat"]
    status, sent = stack.http.request("POST", "/api/v1/reports", report(
        incident_type="judicial_harassment", country="co", defenders=[{"name": unique_name()}]), token=tokens["reporter"])
    case_id = sent["case_id"]
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{case_id}", token=sec)[0] == 200, 30, 0.2, "the case")
    stack.http.request("POST", f"/api/v1/cases/{case_id}/verify", {}, token=sec)
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{case_id}", token=sec)[1]["status"] == "verified",
             30, 0.2, "verification")
    status, body = stack.http.request("POST", f"/api/v1/cases/{case_id}/actions",
                                      {"kind": "further_information", "follows": ["act_nope"]}, token=sec)
    assert status == 422 and body["errors"][0]["field"] == "follows.0"
    status, body = stack.http.request("POST", f"/api/v1/cases/{case_id}/actions",
                                      {"kind": "further_information"}, token=sec)
    assert status == 422 and body["errors"][0]["field"] == "follows"
    status, body = stack.http.request("POST", f"/api/v1/cases/{case_id}/actions",
                                      {"kind": "closure_notice"}, token=sec)
    assert status == 409 and body["errors"][0]["field"] == "status"
