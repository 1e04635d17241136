"""The network's reactive measures end to end, read at the receiving end: referrals that reach a mechanism's
mailbox with their packet, letters signed by SMS and by a one-click link that reach their target once, actions
reported back with DONE or a form, and members who change their own details from a signed link.

A real worker, real Kafka, the sandbox's phones and mailboxes; every PDF checked is the one the mailbox received.
"""

from __future__ import annotations

import io
import re
import unicodedata
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from pypdf import PdfReader

from agents.links import LinkSigner, Purpose
from testing.samples import report, unique_name
from testing.sandbox import notify_stack
from testing.stack import wait_for

SEC, MX1, MX2, AR, FR = "+50491237001", "+525512340001", "+525512340002", "+5491155550003", "+33612340004"
MEMBERS = f"""member_id,organization,contact_name,phone,email,language,country,working_groups,channels,roles,opted_out
ms-sec,Secretariat,Rita Guardia,{SEC},rita@sec.example.org,es,HN,,sms,secretariat_oncall,
ms-mx1,Colectivo Tierra Viva,Rosa Quispe,{MX1},rosa@tierraviva.example.org,es,MX,land,sms;email,member,
ms-mx2,Red Sur,Luis Mamani,{MX2},luis@redsur.example.org,es,MX,land,sms;email,member,
ms-ar,Abogadas del Plata,Ana Yule,{AR},ana@plata.example.org,es,AR,legal,sms;email,member,
ms-fr,Ligue Lyon,Joana Silva,{FR},joana@ligue.example.org,es,FR,legal,sms;email,member,
"""
TARGET = "ministra@gobernacion.example.mx"
UN_WGAD = "urgent-action@un-wgad.example.org"


@pytest.fixture(scope="module")
def world(kafka, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("measures")
    (tmp / "members.csv").write_text(MEMBERS)
    stack, sandbox = notify_stack(tmp)
    try:
        stack.start()
        stack.cli("members", "import", str(tmp / "members.csv"))
        tokens = {"secretariat": stack.token("secretariat"), "reporter": stack.token("reporter", "field")}
        wait_for(lambda: stack.http.request("GET", "/api/v1/members", token=tokens["secretariat"])[1].get("count")
                 == 5, 60, 0.2, "the members")
        yield stack, sandbox, tokens
    finally:
        stack.stop()
        sandbox.stop()


def fetch(stack, path: str, token: str | None = None, data: bytes | None = None) -> tuple[int, bytes, str]:
    """(status, body bytes, final URL) of a GET or form POST, as a browser would send it."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if data is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(stack.http.base_url + path, data=data, headers=headers,
                                 method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read(), resp.url
    except urllib.error.HTTPError as err:
        return err.code, err.read(), path


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF"), data[:40]
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return unicodedata.normalize("NFKC", text)


def verified_case(world, **overrides) -> dict:
    stack, _, tokens = world
    sec = tokens["secretariat"]
    status, sent = stack.http.request("POST", "/api/v1/reports", report(**overrides), token=tokens["reporter"])
    assert status == 202, sent
    case_id = sent["case_id"]
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{case_id}", token=sec)[0] == 200, 30, 0.2, "the case")
    assert stack.http.request("POST", f"/api/v1/cases/{case_id}/verify", {}, token=sec)[0] == 202
    return wait_for(lambda: (c := stack.http.request("GET", f"/api/v1/cases/{case_id}", token=sec)[1])["status"]
                    == "verified" and c, 30, 0.2, "verification")


def links_in(mail: dict) -> list[str]:
    return re.findall(r"https?://\S+", mail["text"])


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_a_referral_reaches_the_mechanism_with_a_packet_that_carries_only_what_consent_allows(world):
    stack, sandbox, tokens = world
    sec = tokens["secretariat"]
    name = unique_name("Defensora")
    case = verified_case(world, consent="mechanisms", incident_type="arbitrary_detention", country="mx",
                         defenders=[{"name": name, "organization": "Colectivo Tierra", "detained": True}],
                         reporter_contact={"phone": "+525599990000", "email": "testigo@example.org"})
    assert "un-wgad" in case["mechanisms"]
    before = len(sandbox.mail_to(UN_WGAD))
    status, made = stack.http.request("POST", f"/api/v1/cases/{case['case_id']}/referrals", {
        "mechanism": "un-wgad", "perpetrators": "Policía municipal", "national_actions": "Habeas corpus el lunes",
        "language": "es"}, token=sec)
    assert status == 201, made
    assert made["status"] == "sent" and made["language"] == "es"
    mails = wait_for(lambda: sandbox.mail_to(UN_WGAD)[before:] or None, 30, 0.2, "the referral email")
    [mail] = mails
    assert case["reference"] in mail["subject"]
    [pdf] = mail["attachments"]
    assert pdf["content_type"] == "application/pdf" and pdf["filename"] == f"{case['reference']}-un-wgad.pdf"
    text = pdf_text(sandbox.attachment(pdf["url"]))
    # The victim and the facts a UN body needs, in Spanish; never the reporter.
    assert name in text and "Policía municipal" in text and "Habeas corpus" in text
    assert "CONFIDENCIAL" in text.upper()
    for secret in ("5599990000", "testigo@example.org"):
        assert secret not in text and secret not in mail["text"]
    # A mechanisms-only case reaches no member's phone.
    for phone in (MX1, MX2, AR, FR):
        assert not any(case["reference"] in m["body"] for m in sandbox.phone(phone).received())

    rid = made["referral_id"]
    got = wait_for(lambda: [r for r in stack.http.request("GET", f"/api/v1/cases/{case['case_id']}/referrals",
                                                            token=sec)[1]["referrals"] if r["status"] == "sent"] or None,
                   30, 0.2, "the sent referral in the history")
    due = datetime.fromisoformat(got[0]["follow_up_at"]) - datetime.fromisoformat(got[0]["sent_at"])
    assert timedelta(days=59) < due <= timedelta(days=60, minutes=1)  # the 60 days a State has to answer
    status, _ = stack.http.request("POST", f"/api/v1/cases/{case['case_id']}/referrals/{rid}",
                                   {"status": "acknowledged", "note": "Ref. UA 12/2026"}, token=sec)
    assert status == 200
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{case['case_id']}/referrals/{rid}",
                                        token=sec)[1]["status"] == "acknowledged", 30, 0.2, "the acknowledgement")
    status, body = stack.http.request("POST", f"/api/v1/cases/{case['case_id']}/referrals/{rid}",
                                      {"status": "sent"}, token=sec)
    assert status == 409 and body["errors"][0]["field"] == "status"
    assert stack.http.request("POST", f"/api/v1/cases/{case['case_id']}/referrals/{rid}",
                              {"status": "answered", "note": "El Estado respondió"}, token=sec)[0] == 200
    history = wait_for(lambda: (c := stack.http.request("GET", f"/api/v1/cases/{case['case_id']}", token=sec)[1])
                       and [e["kind"] for e in c["history"] if e["kind"].startswith("referral")][-1:] == ["referral_answered"]
                       and c, 30, 0.2, "the answer")["history"]
    kinds = [e["kind"] for e in history if e["kind"].startswith("referral")]
    assert kinds == ["referral_drafted", "referral_sent", "referral_acknowledged", "referral_answered"]
    # Exactly one email reached the mechanism.
    assert len(sandbox.mail_to(UN_WGAD)) == before + 1


def test_a_private_case_cannot_be_referred_and_an_unsuggested_mechanism_is_refused(world):
    stack, _, tokens = world
    sec = tokens["secretariat"]
    private = verified_case(world, consent="private", defenders=[{"name": unique_name("Lucia"), "detained": True}])
    status, body = stack.http.request("POST", f"/api/v1/cases/{private['case_id']}/referrals",
                                      {"mechanism": "un-wgad"}, token=sec)
    assert status in (409, 422) and body["errors"][0]["field"] in ("consent", "mechanism")
    case = verified_case(world, consent="mechanisms", defenders=[{"name": unique_name("Lucia"), "detained": True}])
    status, body = stack.http.request("POST", f"/api/v1/cases/{case['case_id']}/referrals",
                                      {"mechanism": "un-wgeid"}, token=sec)
    assert status == 422 and body["errors"][0]["field"] == "mechanism"
    status, body = stack.http.request("POST", f"/api/v1/cases/{case['case_id']}/referrals",
                                      {"mechanism": "un-wgad", "send": "fax"}, token=sec)
    assert status == 422 and body["errors"][0]["field"] == "send"


def test_a_letter_signed_by_sms_and_by_a_one_click_link_reaches_its_target_once(world):
    stack, sandbox, tokens = world
    sec = tokens["secretariat"]
    case = verified_case(world, consent="network", country="mx", defenders=[{"name": unique_name("Lucia")}])
    deadline = (datetime.now(timezone.utc) + timedelta(days=3)).isoformat()
    letter_es = "Señora Ministra: las organizaciones firmantes le pedimos garantizar la libertad de la defensora."
    status, made = stack.http.request("POST", f"/api/v1/cases/{case['case_id']}/actions", {
        "kind": "sign_on_letter", "channels": ["sms", "email"], "audience": {"countries": ["MX", "AR"]},
        "deadline": deadline, "letter": {"es": letter_es, "en": "Dear Minister: the undersigned organisations ask "
                                         "you to guarantee the defender's freedom."},
        "target": {"name": "Ministra del Interior", "title": "Secretaría de Gobernación", "email": TARGET,
                   "address": "Abraham González 48, Ciudad de México", "language": "es"}}, token=sec)
    assert status == 202, made
    action_id = made["action_id"]
    # MX1 signs by SMS; AR by the one-click link in its email.
    ref = case["reference"]
    sandbox.phone(MX1).expect_sms(contains=ref).reply("FIRMO")
    sandbox.phone(MX1).expect_sms(contains=f"firmó por {ref}")
    mail = wait_for(lambda: [m for m in sandbox.mail_to("ana@plata.example.org") if case["reference"] in m["text"]]
                    or None, 60, 0.2, "the email with its links")[0]
    sign_url = next(u for u in links_in(mail) if "/act/sign/" in u)
    assert any("/member/" in u for u in links_in(mail))
    status, page, _ = fetch(stack, path_of(sign_url))
    assert status == 200 and b"Abogadas del Plata" in page
    # Opening the link signs nothing (mail scanners open links); the button does.
    assert len(stack.http.request("GET", f"/api/v1/actions/{action_id}/responses", token=sec)[1]["by_country"]
               .get("AR", {})) == 0
    status, page, _ = fetch(stack, path_of(sign_url), data=b"")
    assert status == 200 and b'id="signed"' in page
    status, page, _ = fetch(stack, path_of(sign_url), data=b"")
    assert status == 409, "a used link must be refused"
    token = sign_url.rsplit("/", 1)[1]
    tampered = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    assert fetch(stack, f"/act/sign/{tampered}", data=b"")[0] == 403
    signer = LinkSigner(stack.sealer().blind("links", "member-links-v1"),
                        now=lambda: datetime.now(timezone.utc) - timedelta(days=30))
    expired = signer.issue(Purpose.sign, "ms-mx2", action_id, ttl=timedelta(days=1))
    assert fetch(stack, f"/act/sign/{expired}", data=b"")[0] == 410
    tally = wait_for(lambda: (t := stack.http.request("GET", f"/api/v1/actions/{action_id}/responses",
                                                       token=sec)[1])["signatures"] == 2 and t, 30, 0.2, "2 signatures")
    assert tally["by_country"] == {"AR": {"signatures": 1}, "MX": {"signatures": 1}}
    assert tally["by_region"] and sum(n["signatures"] for n in tally["by_region"].values()) == 2

    status, pdf, _ = fetch(stack, f"/api/v1/actions/{action_id}/letter.pdf", token=sec)
    assert status == 200
    text = pdf_text(pdf)
    assert "garantizar la libertad" in text and "Colectivo Tierra Viva" in text and "Abogadas del Plata" in text
    assert "México" in text and "Argentina" in text and "Ministra del Interior" in text
    assert text.index("Abogadas del Plata") > text.index("Argentina")  # grouped under their country

    assert stack.http.request("POST", f"/api/v1/actions/{action_id}/letter/send", {}, token=sec)[0] == 200
    [delivered] = wait_for(lambda: sandbox.mail_to(TARGET) or None, 30, 0.2, "the letter at its target")
    [attached] = delivered["attachments"]
    received = pdf_text(sandbox.attachment(attached["url"]))
    assert "Colectivo Tierra Viva" in received and "Abogadas del Plata" in received
    status, body = stack.http.request("POST", f"/api/v1/actions/{action_id}/letter/send", {}, token=sec)
    assert status == 409 and body["errors"][0]["field"] == "letter"
    assert len(sandbox.mail_to(TARGET)) == 1
    sent = wait_for(lambda: stack.http.request("GET", f"/api/v1/actions/{action_id}/responses",
                                               token=sec)[1]["letter_sent"], 30, 0.2, "the record of the letter")
    assert sent["signatories"] == 2 and sent["via"] == "demand"


def test_a_petition_leaves_by_itself_at_its_deadline_exactly_once(world):
    stack, sandbox, tokens = world
    sec = tokens["secretariat"]
    target = "embajada@mx.example.org"
    case = verified_case(world, consent="network", country="mx", defenders=[{"name": unique_name("Lucia")}])
    deadline = (datetime.now(timezone.utc) + timedelta(seconds=12)).isoformat()
    status, made = stack.http.request("POST", f"/api/v1/cases/{case['case_id']}/actions", {
        "kind": "petition", "channels": ["sms"], "audience": {"countries": ["MX"]}, "deadline": deadline,
        "letter": {"es": "Pedimos a la embajada que intervenga ante las autoridades por la defensora."},
        "target": {"name": "Embajada", "email": target, "language": "es"}}, token=sec)
    assert status == 202, made
    # Each phone's SMS of this case (an older one of the letter above is not it).
    sandbox.phone(MX2).expect_sms(contains=case["reference"]).reply("FIRMO")
    sandbox.phone(MX2).expect_sms(contains=f"firmó por {case['reference']}")
    [mail] = wait_for(lambda: sandbox.mail_to(target) or None, 60, 0.5, "the petition at its deadline")
    assert "Red Sur" in pdf_text(sandbox.attachment(mail["attachments"][0]["url"]))
    sent = wait_for(lambda: stack.http.request("GET", f"/api/v1/actions/{made['action_id']}/responses",
                                               token=sec)[1]["letter_sent"], 30, 0.2, "the record")
    assert sent["via"] == "deadline" and sent["signatories"] == 1
    # Several more looks of the timer later, still one.
    sandbox.phone(MX2).expect_no_sms(within=12)
    assert len(sandbox.mail_to(target)) == 1


def test_done_replies_and_the_report_form_are_tallied_and_exported_neutralised(world):
    stack, sandbox, tokens = world
    sec = tokens["secretariat"]
    case = verified_case(world, consent="network", country="mx", defenders=[{"name": unique_name("Lucia")}])
    status, made = stack.http.request("POST", f"/api/v1/cases/{case['case_id']}/actions", {
        "kind": "decentralized_action", "channels": ["sms", "email"], "audience": {"working_groups": ["legal"]}},
        token=sec)
    assert status == 202, made
    action_id = made["action_id"]
    sandbox.phone(AR).expect_sms(contains=case["reference"]).reply("HECHO escribimos a la embajada en Buenos Aires")
    assert "registrada" in sandbox.phone(AR).expect_sms(contains=f"Gracias: la acción de tu organización por "
                                                                  f"{case['reference']}")["body"]
    mail = wait_for(lambda: [m for m in sandbox.mail_to("joana@ligue.example.org") if case["reference"] in m["text"]]
                    or None, 60, 0.2, "the email with the report link")[0]
    report_url = next(u for u in links_in(mail) if "/act/report/" in u)
    status, page, _ = fetch(stack, path_of(report_url), data=b"what=&where=")
    assert status == 422  # "what" is needed
    status, page, _ = fetch(stack, path_of(report_url),
                            data=b"what=%3DHYPERLINK%28%22http%3A%2F%2Fx%22%29&where=Lyon&link=https%3A%2F%2Fligue.example.org%2Fa")
    assert status == 200 and b'id="reported"' in page
    assert fetch(stack, path_of(report_url), data=b"what=again")[0] == 409
    tally = wait_for(lambda: (t := stack.http.request("GET", f"/api/v1/actions/{action_id}/responses",
                                                       token=sec)[1])["reports"] == 2 and t, 30, 0.2, "2 reports")
    assert tally["by_country"] == {"AR": {"reports": 1}, "FR": {"reports": 1}}
    status, csv, _ = fetch(stack, f"/api/v1/actions/{action_id}/reports.csv", token=sec)
    text = csv.decode()
    assert status == 200 and "escribimos a la embajada en Buenos Aires" in text and "Ligue Lyon" in text
    assert "'=HYPERLINK" in text and ',=HYPERLINK' not in text


def test_a_member_changes_their_language_from_the_link_and_the_next_action_speaks_it(world):
    stack, sandbox, tokens = world
    sec = tokens["secretariat"]
    phone = sandbox.phone(FR)
    phone.send("ENLACE")
    url = re.search(r"https?://\S+", phone.expect_sms(contains="/member/")["body"]).group(0)
    status, page, _ = fetch(stack, path_of(url))
    assert status == 200 and b"Ligue Lyon" in page
    status, page, _ = fetch(stack, path_of(url), data=b"contact_name=Joana+Silva&language=fr&channels=sms"
                                                      b"&channels=email&working_groups=legal")
    assert status == 200 and b'id="saved"' in page
    wait_for(lambda: stack.http.request("GET", "/api/v1/members/ms-fr", token=sec)[1]["language"] == "fr", 30, 0.2,
             "the new language")
    # The change is recorded (which fields, by whom), not its values.
    audit = wait_for(lambda: [line for line in stack.cli("audit", "show", "--json").stdout.splitlines()
                              if "member.self_update" in line] or None, 30, 0.5, "the audit entry")
    assert "member:ms-fr" in audit[-1] and "language" in audit[-1] and "Joana" not in audit[-1]
    case = verified_case(world, consent="network", country="mx", defenders=[{"name": unique_name("Lucia")}])
    status, made = stack.http.request("POST", f"/api/v1/cases/{case['case_id']}/actions", {
        "kind": "solidarity_message", "channels": ["sms"], "audience": {"member_ids": ["ms-fr"]}}, token=sec)
    assert status == 202, made
    body = phone.expect_sms(contains=case["reference"])["body"]
    assert "Solidarité" in body, body
    tampered = url[:-4] + ("x" if url[-4] != "x" else "y") + url[-3:]
    assert fetch(stack, path_of(tampered))[0] == 403


def test_the_dashboard_approves_a_letter_with_its_target_and_refers_a_case(world):
    stack, sandbox, tokens = world
    case = verified_case(world, consent="network", country="mx", defenders=[{"name": unique_name("Lucia")}])
    with httpx.Client(base_url=stack.http.base_url, follow_redirects=False, timeout=30) as desk:
        page = desk.get("/dashboard/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        assert desk.post("/dashboard/login", data={"csrf": csrf, "token": tokens["secretariat"]}).status_code == 303
        form = desk.get(f"/dashboard/cases/{case['case_id']}/action?lang=es")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        # The letter starts from the catalogue's draft in each language, naming the case's reference.
        draft = re.search(r'name="letter\.es"[^>]*>([^<]+)<', form.text).group(1)
        assert case["reference"] in draft
        approved = desk.post(f"/dashboard/cases/{case['case_id']}/action", data={
            "csrf": csrf, "kind": "sign_on_letter", "channels": "email", "countries": "IS", "letter.es": draft,
            "target.name": "Fiscal General", "target.email": "fiscal@example.org", "target.language": "es"})
        assert approved.status_code == 303, approved.text[:300]
        action_id = approved.headers["location"].rsplit("/", 1)[1]
        page = desk.get(f"/dashboard/actions/{action_id}?lang=es")
        assert "Fiscal General" in page.text and 'id="letter-send"' in page.text
        # A target's email that is not one: the form comes back naming the field.
        refused = desk.post(f"/dashboard/cases/{case['case_id']}/action", data={
            "csrf": csrf, "kind": "petition", "channels": "email", "countries": "IS", "letter.es": draft,
            "target.name": "Fiscal General", "target.email": "not-an-address"})
        assert refused.status_code == 422 and "target.email" in refused.text

        mechanisms = verified_case(world, consent="mechanisms", defenders=[{"name": unique_name("Lucia"),
                                                                             "detained": True}])
        page = desk.get(f"/dashboard/cases/{mechanisms['case_id']}")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        before = len(sandbox.mail_to(UN_WGAD))
        sent = desk.post(f"/dashboard/cases/{mechanisms['case_id']}/referrals", data={
            "csrf": csrf, "mechanism": "un-wgad", "send": "email", "perpetrators": "Policía"})
        assert sent.status_code == 303
        wait_for(lambda: len(sandbox.mail_to(UN_WGAD)) == before + 1 or None, 30, 0.2, "the referral email")
        page = desk.get(f"/dashboard/cases/{mechanisms['case_id']}?lang=fr")
        assert 'data-status="sent"' in page.text and "Relance le" in page.text
