"""Referral packets: consent rules per level and mechanism kind, layouts, what never travels, language choice."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from pypdf import PdfReader

from agents.classification import classify
from agents.referrals import (
    REDACTED, ReferralRefused, SectionKey, build_packet, follow_up_at, kind_of, packet_language, reminder_days,
)
from agents.routing import DEFAULT_PATH, CatalogueError, Mechanism, MechanismKind, load_catalogue
from schemas.cases import Case, StoredReport
from schemas.reports import ReportIn
from schemas.vocab import Consent
from streams.documents import render_referral_pdf
from testing.samples import named

PHONE = "+525512345678"
EMAIL = "reportera.secreta@example.net"
# The reporter's phone as people write it in free text: none of them may travel.
PHONE_FORMS = ["+52 55 1234 5678", "55-1234-5678", "(55) 1234 5678", "0052 55 1234 5678", "5512345678"]
CASE_ID = "case_internal_9f3k2"
REPORT_ID = "rep_internal_77aa"
REPORT_REFERENCE = "SOL-RPT777"
TOKEN_ID = "tok_reporter_55x"
REASON = "secretariat-only reason: caller said armed men outside"
VICTIM = "Ana María Pérez"

UN, REGIONAL, FUND, NHRI = "un-sr-hrd", "iachr", "fld-emergency", "nhri-mx"
UN_LAYOUT = [SectionKey.alleged_victims, SectionKey.alleged_perpetrators, SectionKey.facts,
             SectionKey.national_actions, SectionKey.consent]
FUND_LAYOUT = [SectionKey.situation, SectionKey.support_needed, SectionKey.consent]
LAYOUT = {UN: UN_LAYOUT, REGIONAL: UN_LAYOUT, NHRI: UN_LAYOUT, FUND: FUND_LAYOUT}
ALLOWED = [Consent.mechanisms, Consent.network, Consent.public]


def body(**overrides: Any) -> dict[str, Any]:
    """A Mexican detention report naming the reporter's contact and quoting it in the description."""
    data = named(VICTIM, reporter_contact={"phone": PHONE, "email": EMAIL}, locality="San Isidro",
                 occurred_at="2026-04-28T21:15:00+00:00",
                 description=("La policía municipal detuvo a Ana María tras la asamblea. Para verificar llamar a la "
                              f"reportera al {PHONE_FORMS[0]} o al {PHONE_FORMS[1]}, o escribir a "
                              f"{EMAIL.upper()}; también (55) 1234 5678 y 0052 55 1234 5678 o 5512345678."))
    data.update(overrides)
    return data


def stored_report(data: dict[str, Any] | None = None, n: int = 1) -> StoredReport:
    parsed = ReportIn.model_validate(data if data is not None else body())
    return StoredReport(report_id=f"{REPORT_ID}{n}", reference=f"{REPORT_REFERENCE}{n}",
                        received_at=datetime(2026, 4, 28, 22, 0, tzinfo=timezone.utc), submitted_by=TOKEN_ID,
                        report=parsed, classification=classify(parsed))


def make_case(consent: Consent | str = Consent.mechanisms, reports: list[StoredReport] | None = None,
              **overrides: Any) -> Case:
    """A case built directly from the models (not folded from events)."""
    reports = reports if reports is not None else [stored_report()]
    first = reports[0]
    data: dict[str, Any] = dict(
        case_id=CASE_ID, reference="SOL-CASE42", incident_type=first.report.incident_type,
        country=first.report.country, region=first.classification.region, consent=Consent(consent),
        urgency=first.classification.urgency, reasons=[REASON, *first.classification.reasons],
        mechanisms=first.classification.mechanisms, reports=reports,
    )
    data.update(overrides)
    return Case(**data)


def mechanism(mechanism_id: str) -> Mechanism:
    return load_catalogue()[mechanism_id]


def packet(mechanism_id: str = UN, consent: Consent | str = Consent.mechanisms, **kwargs: Any):
    kwargs.setdefault("perpetrators", "Policía municipal de San Isidro")
    kwargs.setdefault("national_actions", "Denuncia ante la fiscalía estatal el 29 de abril.")
    kwargs.setdefault("support_needed", "Abogada para la audiencia y reubicación temporal de la familia.")
    return build_packet(make_case(consent), mechanism(mechanism_id), **kwargs)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


FORBIDDEN = [EMAIL, EMAIL.upper(), CASE_ID, TOKEN_ID, REPORT_ID, REPORT_REFERENCE, REASON, *PHONE_FORMS]


def assert_nothing_forbidden(texts: list[str], case: Case) -> None:
    joined = "\n".join(texts)
    for needle in FORBIDDEN:
        assert needle.casefold() not in joined.casefold(), needle
    assert "12345678" not in digits(joined), "the reporter's phone, however written"
    for reason in case.reasons:
        assert reason not in joined


# --- consent -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("mechanism_id", [UN, REGIONAL, FUND, NHRI])
def test_private_consent_is_refused_naming_the_field(mechanism_id: str) -> None:
    with pytest.raises(ReferralRefused, match="consent") as refused:
        packet(mechanism_id, Consent.private)
    assert refused.value.field == "consent"


@pytest.mark.parametrize("consent", [*ALLOWED, Consent.private])
def test_shredded_case_is_refused(consent: Consent) -> None:
    case = make_case(consent, shredded_at=datetime(2026, 5, 1, tzinfo=timezone.utc), shred_reason="retention")
    with pytest.raises(ReferralRefused) as refused:
        build_packet(case, mechanism(UN))
    assert refused.value.field == "shredded_at"


def test_case_without_reports_is_refused() -> None:
    case = make_case(reports=[stored_report()]).model_copy(update={"reports": []})
    with pytest.raises(ReferralRefused) as refused:
        build_packet(case, mechanism(UN))
    assert refused.value.field == "reports"


# (consent, marked confidential, publication allowed, phrases the statement must contain: English, Spanish)
STATEMENTS = [
    (Consent.mechanisms, True, False, {
        "en": ["transmitted confidentially", "to the following mechanism only", "not for publication",
               "do not pass it on"],
        "es": ["de forma confidencial", "únicamente al siguiente mecanismo", "No es para publicación",
               "no transmitirla a ningún otro órgano"]}),
    (Consent.network, True, False, {
        "en": ["confidential referral", "member organisations being told", "without identifying details",
               "not for publication"],
        "es": ["remisión confidencial", "sin datos que permitan identificarlas", "No es para publicación"]}),
    (Consent.public, False, True, {
        "en": ["including their names, being made public", "may be made public"],
        "es": ["incluidos sus nombres, se haga público", "puede hacerse pública"]}),
]


@pytest.mark.parametrize("mechanism_id", [UN, REGIONAL, FUND, NHRI])
@pytest.mark.parametrize(("consent", "confidential", "public", "phrases"), STATEMENTS,
                         ids=[c.value for c, *_ in STATEMENTS])
def test_allowed_levels_say_what_the_consent_covers(mechanism_id: str, consent: Consent, confidential: bool,
                                                    public: bool, phrases: dict[str, list[str]]) -> None:
    p = packet(mechanism_id, consent, preferred=["en"])  # nhri-mx works in Spanish only
    assert p.consent is consent
    assert p.confidential is confidential and p.publication_allowed is public
    assert p.keys == LAYOUT[mechanism_id]
    statement = p.section(SectionKey.consent).text
    for phrase in phrases[p.language]:
        assert phrase in statement, phrase
    assert p.mechanism_name in statement, "the statement names the one mechanism it covers"
    if consent is not Consent.public:
        assert not {"may be made public", "puede hacerse pública"} & {statement}


@pytest.mark.parametrize("mechanism_id", [UN, REGIONAL, FUND, NHRI])
@pytest.mark.parametrize("consent", ALLOWED, ids=[c.value for c in ALLOWED])
def test_what_never_travels(mechanism_id: str, consent: Consent) -> None:
    case = make_case(consent)
    p = build_packet(case, mechanism(mechanism_id), note=f"Reporter said call {PHONE} first",
                     perpetrators=f"Policía ({EMAIL})", national_actions="Denuncia", support_needed="Abogada")
    strings = list(p.strings())
    assert_nothing_forbidden(strings, case)
    assert p.reference == "SOL-CASE42", "the case reference is the only identifier"
    assert any(REDACTED in s for s in strings)
    assert any(VICTIM in s for s in strings), "mechanisms need to know who the victim is"


@pytest.mark.parametrize("mechanism_id", [UN, FUND])
@pytest.mark.parametrize("consent", ALLOWED, ids=[c.value for c in ALLOWED])
def test_pdf_never_shows_the_reporter(mechanism_id: str, consent: Consent) -> None:
    case = make_case(consent)
    p = build_packet(case, mechanism(mechanism_id), preferred=["es"], note=f"Llamar a {PHONE}")
    text = pdf_text(render_referral_pdf(p))
    assert_nothing_forbidden([text], case)
    assert VICTIM in text
    assert ("CONFIDENCIAL" in text) is (consent is not Consent.public)


def test_confidential_marking_at_mechanisms_level() -> None:
    p = packet(UN, Consent.mechanisms, preferred=["en"])
    assert p.confidential
    text = pdf_text(render_referral_pdf(p))
    assert "CONFIDENTIAL" in text
    assert "For the following mechanism only" in text and "Not for publication" in text
    public = pdf_text(render_referral_pdf(packet(UN, Consent.public, preferred=["en"])))
    assert "CONFIDENTIAL" not in public


def test_a_contact_someone_else_wrote_is_removed_too() -> None:
    other = body(description="Su hermano (hermano@example.org, +34 612 345 678) presenció la detención de Ana.",
                 reporter_contact=None)
    p = build_packet(make_case(reports=[stored_report(other)]), mechanism(UN))
    description = p.section(SectionKey.facts).facts[0].description
    assert "hermano@example.org" not in description and "612" not in description
    assert "presenció la detención" in description


# --- layouts ----------------------------------------------------------------------------------------------------

def test_un_packet_has_the_five_sections_in_order_with_their_content() -> None:
    p = packet(UN, preferred=["en"])
    assert p.keys == UN_LAYOUT
    assert p.mechanism_kind is MechanismKind.un_special_procedure
    (victim,) = p.section(SectionKey.alleged_victims).victims
    assert (victim.name, victim.organization, victim.gender.value) == (VICTIM, "Colectivo Tierra", "woman")
    assert [g.value for g in victim.groups] == ["indigenous"] and victim.detained and not victim.incommunicado
    assert p.section(SectionKey.alleged_perpetrators).text == "Policía municipal de San Isidro"
    (fact,) = p.section(SectionKey.facts).facts
    assert fact.occurred_at == datetime(2026, 4, 28, 21, 15, tzinfo=timezone.utc)
    assert (fact.country, fact.country_name, fact.locality) == ("MX", "Mexico", "San Isidro")
    assert fact.description.startswith("La policía municipal detuvo a Ana María")
    assert p.section(SectionKey.national_actions).text.startswith("Denuncia ante la fiscalía")


def test_emergency_fund_packet_has_situation_and_support() -> None:
    p = packet(FUND, support_needed="Relocation for two weeks and a lawyer.", preferred=["en"])
    assert p.keys == FUND_LAYOUT
    situation = p.section(SectionKey.situation)
    (victim,) = situation.victims
    assert victim.name == VICTIM and victim.groups == [], "a grant needs who and where, not affiliations"
    assert situation.facts[0].locality == "San Isidro"
    assert p.section(SectionKey.support_needed).text == "Relocation for two weeks and a lawyer."
    assert SectionKey.alleged_perpetrators not in p.keys


def test_empty_secretariat_inputs_keep_their_sections() -> None:
    p = build_packet(make_case(), mechanism(NHRI))
    assert p.keys == UN_LAYOUT
    assert p.section(SectionKey.alleged_perpetrators).text == "" and p.note == ""


def test_merged_reports_name_each_victim_once_and_list_facts_by_date() -> None:
    later = stored_report(body(occurred_at="2026-04-30T08:00:00+00:00", ongoing=True,
                               description="Ana María sigue detenida sin acceso a su abogada.",
                               defenders=[{"name": "ana maría pérez", "organization": "colectivo tierra",
                                           "incommunicado": True},
                                          {"organization": "Radio Comunitaria"}]), n=2)
    p = build_packet(make_case(reports=[later, stored_report()]), mechanism(UN))
    victims = p.section(SectionKey.alleged_victims).victims
    assert [v.name for v in victims] == [VICTIM, None]
    assert victims[0].incommunicado and victims[0].detained
    facts = p.section(SectionKey.facts).facts
    assert [f.occurred_at.day for f in facts] == [28, 30]
    assert p.urgent


def test_company_named_in_a_report_is_among_the_perpetrators() -> None:
    p = build_packet(make_case(reports=[stored_report(body(corporate_actor="Minera Acme S.A."))]), mechanism(UN))
    assert p.section(SectionKey.alleged_perpetrators).companies == ["Minera Acme S.A."]


# --- language ---------------------------------------------------------------------------------------------------

LANGUAGE_CASES = [
    (UN, ["pt", "es"], "es"),        # en, fr, es: the first of them preferred
    (UN, ["es", "fr"], "fr"),        # the mechanism's order decides between two preferred
    (UN, [], "en"),                  # nothing preferred: its first language
    (UN, ["ar"], "en"),
    (REGIONAL, ["pt"], "pt"),
    (REGIONAL, ["ar"], "es"),
    (FUND, ["AR"], "ar"),
    ("nhri-in", ["hi"], "en"),       # no document texts in Hindi: never a half-translated packet
    ("nhri-br", ["en"], "pt"),
]


@pytest.mark.parametrize(("mechanism_id", "preferred", "expected"), LANGUAGE_CASES)
def test_language_choice(mechanism_id: str, preferred: list[str], expected: str) -> None:
    assert packet_language(mechanism(mechanism_id), preferred) == expected
    if mechanism_id != "nhri-in":
        assert packet(mechanism_id, preferred=preferred).language == expected


def test_name_and_statement_follow_the_language() -> None:
    p = packet(UN, preferred=["es"])
    assert p.mechanism_name.startswith("Relator Especial de las Naciones Unidas")
    assert "únicamente al siguiente mecanismo: Relator Especial" in p.section(SectionKey.consent).text
    assert p.section(SectionKey.facts).facts[0].country_name == "México"
    assert packet(UN, preferred=["en"]).mechanism_name == mechanism(UN).name


# --- kinds and follow-up ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("mechanism_id", "kind", "days"), [
    (UN, MechanismKind.un_special_procedure, 60), ("un-wgad", MechanismKind.un_special_procedure, 60),
    (REGIONAL, MechanismKind.regional, 30), ("coe-commissioner", MechanismKind.regional, 30),
    (FUND, MechanismKind.emergency_fund, 7), ("lifeline", MechanismKind.emergency_fund, 7),
    (NHRI, MechanismKind.nhri, 30),
])
def test_kind_and_reminder_days(mechanism_id: str, kind: MechanismKind, days: int) -> None:
    m = mechanism(mechanism_id)
    assert kind_of(m) is kind
    assert reminder_days(m) == days
    sent = datetime(2026, 5, 1, tzinfo=timezone.utc)
    assert follow_up_at(m, sent) == sent + timedelta(days=days)
    assert packet(mechanism_id).follow_up_days == days


def test_follow_up_days_in_the_entry_win() -> None:
    m = Mechanism.model_validate({"id": "fund-x", "name": "X", "languages": ["en"], "kind": "emergency_fund",
                                  "follow_up_days": 3, "referral": {"email": "a@example.org"},
                                  "when": {"min_urgency": "high"}})
    assert reminder_days(m) == 3


def test_every_shipped_entry_names_its_kind() -> None:
    raw = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    assert all(entry.get("kind") for entry in raw["mechanisms"])
    kinds = {m.id: m.kind for m in load_catalogue().mechanisms}
    assert all(kinds[i] is MechanismKind.un_special_procedure for i in kinds if i.startswith("un-"))
    assert all(kinds[i] is MechanismKind.nhri for i in kinds if i.startswith("nhri-"))


ENTRY = """
mechanisms:
  - id: fund-x
    name: A fund
    languages: [en, fr]
    kind: emergency_fund
    referral: {email: a@example.org}
    when: {min_urgency: high}
"""


@pytest.mark.parametrize(("replace", "by", "message"), [
    ("kind: emergency_fund", "kind: charity", r"entry 0 \(fund-x\): field kind: Input should be"),
    ("    kind: emergency_fund\n", "", r"entry 0 \(fund-x\): field kind: Field required"),
    ("kind: emergency_fund", "kind: emergency_fund\n    follow_up_days: 0", r"entry 0 \(fund-x\): field follow_up_days"),
    ("kind: emergency_fund", "kind: emergency_fund\n    names: {es: Un fondo}",
     r"entry 0 \(fund-x\): field names.es: 'es' is not one of the entry's languages"),
    ("kind: emergency_fund", "kind: emergency_fund\n    names: {fr: ''}", r"entry 0 \(fund-x\): field names.fr"),
    ("id: fund-x", "id: nhri-mx\n    when: {countries: [MX]}", None),
])
def test_loader_refuses_bad_kind_and_names(tmp_path: Path, replace: str, by: str, message: str | None) -> None:
    assert replace in ENTRY
    text = ENTRY.replace(replace, by)
    if message is None:  # an nhri-<cc> entry of another kind
        text = text.replace("    when: {min_urgency: high}\n", "")
        message = r"entry 0 \(nhri-mx\): field kind: an nhri-<cc> entry must be of kind nhri"
    path = tmp_path / "mechanisms.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError, match=message):
        load_catalogue(path)


def test_names_in_the_file_are_loaded(tmp_path: Path) -> None:
    path = tmp_path / "mechanisms.yaml"
    path.write_text(ENTRY.replace("kind: emergency_fund", "kind: emergency_fund\n    names: {fr: ' Un fonds '}"),
                    encoding="utf-8")
    m = load_catalogue(path)["fund-x"]
    assert m.display_name("fr") == "Un fonds" and m.display_name("en") == "A fund"
