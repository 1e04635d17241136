"""Referral packets: what the secretariat sends about a case to one protection mechanism.

`build_packet(case, mechanism, ...)` is a pure function of the case, the mechanism entry (agents/routing.py) and
what the secretariat wrote; `streams.documents` renders the packet to HTML and PDF.

Layouts, by the mechanism's `kind`:
- un_special_procedure, regional, nhri: alleged victim(s); alleged perpetrators; facts with dates and places;
  action already taken at national level; consent. (The layout of a communication to UN special procedures.)
- emergency_fund: the defender's situation (who, where, what happened, whether the harm is ongoing or imminent);
  the support needed; consent.

Consent rules (the case's consent, which is the narrowest of its reports' unless the secretariat recorded a new
consent since):
- `private` (secretariat only): refused, ReferralRefused(field="consent"). Nothing leaves the secretariat.
- `mechanisms`: allowed. The consent statement says the information is transmitted confidentially to this
  mechanism only, for protection, not for publication (not even in published communications reports) and not to
  be passed on to other bodies without asking the secretariat. The packet is marked CONFIDENTIAL.
- `network`: allowed, as `mechanisms` (CONFIDENTIAL, not for publication); the statement adds that the network's
  members may be told of the case without identifying details, which is what that consent covers: it never makes
  the defender's identity publishable.
- `public`: allowed, not marked confidential; the statement says the case, names included, may be made public.
A shredded case is refused (field "shredded_at"), and so is a case without reports (field "reports").

Personal data in a packet. The recipient is the same at every allowed level (one mechanism, confidentially unless
`public`), and UN bodies and the Inter-American Commission cannot act on an anonymous case, so at `mechanisms`,
`network` and `public` alike a packet carries, and carries only, what the body needs to act:
- the alleged victims: name, organisation, gender, groups, detained / held incommunicado (emergency funds: no
  groups; a grant needs who and where, not the defender's affiliations);
- each report's facts: type of violation, date, country, locality, ongoing / imminent danger, people affected, the
  company named, and the description;
- what the secretariat wrote for this referral (perpetrators, national action, support needed, a covering note).
Never, at any level: the reporter's contact (reporter_contact), the reporter token (submitted_by), the reports'
own ids and references, the case id (only the case reference), the urgency reasons (case.reasons and each
report's classification), the case history and outcome. Contact details do not travel either: the mechanism's
contact is the secretariat, so every e-mail address and international (+...) phone number, and any number
matching the reporter's phone however it is written, is replaced by "[…]" in every free text of the packet.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from enum import StrEnum

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field

from agents.routing import Mechanism, MechanismKind
from agents.texts import country_name
from schemas.base import utcnow
from schemas.cases import Case
from schemas.reports import Defender, ReportIn
from schemas.vocab import Consent, Gender, Group, IncidentType

DOCUMENT_LANGUAGES = ("en", "es", "fr", "pt", "ar")
"""Languages the packet's fixed texts exist in (the consent statements here, headings in streams/documents)."""

FOLLOW_UP_DAYS = {
    # A State has 60 days to answer a communication from UN special procedures.
    MechanismKind.un_special_procedure: 60,
    MechanismKind.regional: 30,
    # Emergency funds answer within days: chase after a week.
    MechanismKind.emergency_fund: 7,
    MechanismKind.nhri: 30,
}

REDACTED = "[…]"


class ReferralRefused(ValueError):
    """A packet that must not be built, naming the field that forbids it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class SectionKey(StrEnum):
    """The sections a packet can have (their headings are translated in streams/documents/labels.yaml)."""

    alleged_victims = "alleged_victims"
    alleged_perpetrators = "alleged_perpetrators"
    facts = "facts"
    national_actions = "national_actions"
    situation = "situation"
    support_needed = "support_needed"
    consent = "consent"


LAYOUTS: dict[MechanismKind, tuple[SectionKey, ...]] = {
    MechanismKind.un_special_procedure: (SectionKey.alleged_victims, SectionKey.alleged_perpetrators,
                                         SectionKey.facts, SectionKey.national_actions, SectionKey.consent),
    MechanismKind.regional: (SectionKey.alleged_victims, SectionKey.alleged_perpetrators, SectionKey.facts,
                             SectionKey.national_actions, SectionKey.consent),
    MechanismKind.nhri: (SectionKey.alleged_victims, SectionKey.alleged_perpetrators, SectionKey.facts,
                         SectionKey.national_actions, SectionKey.consent),
    MechanismKind.emergency_fund: (SectionKey.situation, SectionKey.support_needed, SectionKey.consent),
}

# What each allowed level lets the packet say about use; `{mechanism}` is the mechanism's name in the language.
CONSENT_STATEMENTS: dict[Consent, dict[str, str]] = {
    Consent.mechanisms: {
        "en": "The alleged victim(s), or their family, consent to this information being transmitted confidentially, "
              "for their protection, to the following mechanism only: {mechanism}. It is not for publication: please "
              "do not make public their names or any detail that could identify them, including in published "
              "communications reports, and do not pass it on to any other body without asking the network's "
              "secretariat.",
        "es": "La(s) presunta(s) víctima(s), o su familia, consienten en que esta información se transmita de forma "
              "confidencial, para su protección, únicamente al siguiente mecanismo: {mechanism}. No es para "
              "publicación: les rogamos no hacer públicos sus nombres ni ningún dato que permita identificarlas, "
              "tampoco en los informes de comunicaciones publicados, y no transmitirla a ningún otro órgano sin "
              "consultar a la secretaría de la red.",
        "fr": "La ou les victimes présumées, ou leur famille, consentent à ce que ces informations soient transmises "
              "à titre confidentiel, pour leur protection, uniquement au mécanisme suivant : {mechanism}. Elles ne "
              "sont pas destinées à la publication : merci de ne rendre publics ni leurs noms ni aucun détail "
              "permettant de les identifier, y compris dans les rapports de communications publiés, et de ne les "
              "transmettre à aucun autre organe sans consulter le secrétariat du réseau.",
        "pt": "A(s) suposta(s) vítima(s), ou sua família, consentem que estas informações sejam transmitidas de forma "
              "confidencial, para sua proteção, exclusivamente ao seguinte mecanismo: {mechanism}. Não se destinam "
              "à publicação: pedimos que não tornem públicos seus nomes nem qualquer dado que permita identificá-las, "
              "inclusive em relatórios de comunicações publicados, e que não as repassem a nenhum outro órgão sem "
              "consultar o secretariado da rede.",
        "ar": "توافق الضحية (الضحايا) المزعومة، أو أسرها، على إحالة هذه المعلومات بصورة سرية، لأغراض حمايتهم، إلى "
              "الآلية التالية فقط: {mechanism}. هذه المعلومات ليست للنشر: يُرجى عدم نشر أسمائهم أو أي تفاصيل قد "
              "تكشف هويتهم، بما في ذلك في تقارير البلاغات المنشورة، وعدم إحالتها إلى أي هيئة أخرى دون الرجوع إلى "
              "أمانة الشبكة.",
    },
    Consent.network: {
        "en": "The alleged victim(s), or their family, consent to this confidential referral to the following "
              "mechanism: {mechanism}, and to the network's member organisations being told of the case without "
              "identifying details. It is not for publication: please do not make public their names or any detail "
              "that could identify them, including in published communications reports.",
        "es": "La(s) presunta(s) víctima(s), o su familia, consienten en esta remisión confidencial al siguiente "
              "mecanismo: {mechanism}, y en que las organizaciones miembros de la red sean informadas del caso sin "
              "datos que permitan identificarlas. No es para publicación: les rogamos no hacer públicos sus nombres "
              "ni ningún dato que permita identificarlas, tampoco en los informes de comunicaciones publicados.",
        "fr": "La ou les victimes présumées, ou leur famille, consentent à cette transmission confidentielle au "
              "mécanisme suivant : {mechanism}, et à ce que les organisations membres du réseau soient informées du "
              "cas sans détails permettant de les identifier. Ces informations ne sont pas destinées à la "
              "publication : merci de ne rendre publics ni leurs noms ni aucun détail permettant de les identifier, "
              "y compris dans les rapports de communications publiés.",
        "pt": "A(s) suposta(s) vítima(s), ou sua família, consentem com este encaminhamento confidencial ao seguinte "
              "mecanismo: {mechanism}, e com que as organizações membros da rede sejam informadas do caso sem dados "
              "que permitam identificá-las. Não se destina à publicação: pedimos que não tornem públicos seus nomes "
              "nem qualquer dado que permita identificá-las, inclusive em relatórios de comunicações publicados.",
        "ar": "توافق الضحية (الضحايا) المزعومة، أو أسرها، على هذه الإحالة السرية إلى الآلية التالية: {mechanism}، "
              "وعلى إبلاغ المنظمات الأعضاء في الشبكة بالحالة دون تفاصيل تكشف هويتهم. هذه المعلومات ليست للنشر: "
              "يُرجى عدم نشر أسمائهم أو أي تفاصيل قد تكشف هويتهم، بما في ذلك في تقارير البلاغات المنشورة.",
    },
    Consent.public: {
        "en": "The alleged victim(s), or their family, consent to this referral to the following mechanism: "
              "{mechanism}, and to the case, including their names, being made public. The information in this "
              "document may be made public.",
        "es": "La(s) presunta(s) víctima(s), o su familia, consienten en esta remisión al siguiente mecanismo: "
              "{mechanism}, y en que el caso, incluidos sus nombres, se haga público. La información de este "
              "documento puede hacerse pública.",
        "fr": "La ou les victimes présumées, ou leur famille, consentent à cette transmission au mécanisme suivant : "
              "{mechanism}, et à ce que le cas, y compris leurs noms, soit rendu public. Les informations de ce "
              "document peuvent être rendues publiques.",
        "pt": "A(s) suposta(s) vítima(s), ou sua família, consentem com este encaminhamento ao seguinte mecanismo: "
              "{mechanism}, e com que o caso, incluindo seus nomes, seja tornado público. As informações deste "
              "documento podem ser tornadas públicas.",
        "ar": "توافق الضحية (الضحايا) المزعومة، أو أسرها، على هذه الإحالة إلى الآلية التالية: {mechanism}، وعلى "
              "نشر الحالة علنًا بما في ذلك أسماؤهم. يجوز نشر المعلومات الواردة في هذه الوثيقة.",
    },
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Victim(_Model):
    """An alleged victim as the packet names them."""

    name: str | None = None
    organization: str | None = None
    gender: Gender = Gender.undisclosed
    groups: list[Group] = Field(default_factory=list)
    detained: bool = False
    incommunicado: bool = False


class Fact(_Model):
    """What one report of the case says happened, when and where."""

    incident_type: IncidentType
    occurred_at: datetime
    country: str
    country_name: str
    locality: str | None = None
    description: str
    ongoing: bool = False
    imminent_danger: bool = False
    people_affected: int | None = None
    corporate_actor: str | None = None


class Section(_Model):
    """One section of a packet: which parts are filled depends on the key."""

    key: SectionKey
    text: str = Field("", description="Free text: the secretariat's, or the consent statement.")
    victims: list[Victim] = Field(default_factory=list)
    facts: list[Fact] = Field(default_factory=list)
    companies: list[str] = Field(default_factory=list, description="Companies the reports name (perpetrators).")


class Packet(_Model):
    """A referral of one case to one mechanism, in one language, ready to render."""

    reference: str = Field(description="The case reference: the only identifier a packet carries.")
    mechanism_id: str
    mechanism_name: str = Field(description="The mechanism's name in the packet's language.")
    mechanism_kind: MechanismKind
    mechanism_email: str
    language: str
    issued_at: datetime
    consent: Consent
    confidential: bool = Field(description="Mark the packet CONFIDENTIAL: for this mechanism, not for publication.")
    publication_allowed: bool
    urgent: bool = Field(description=(
        "Some harm is ongoing or imminent, or someone is held incommunicado: an urgent appeal, not a letter."))
    note: str = Field("", description="The secretariat's covering note.")
    follow_up_days: int
    sections: list[Section]

    @property
    def keys(self) -> list[SectionKey]:
        """The section keys in order."""
        return [s.key for s in self.sections]

    def section(self, key: SectionKey | str) -> Section:
        """The section with this key."""
        return next(s for s in self.sections if s.key == key)

    def strings(self) -> Iterator[str]:
        """Every text the packet carries (for checks that something never appears)."""
        yield from _strings(self.model_dump(mode="json"))


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def kind_of(mechanism: Mechanism) -> MechanismKind:
    """The mechanism's kind (which packet layout it gets)."""
    return mechanism.kind


def reminder_days(mechanism: Mechanism) -> int:
    """Days after a referral before the secretariat follows it up: the entry's follow_up_days, else by kind."""
    return mechanism.follow_up_days or FOLLOW_UP_DAYS[mechanism.kind]


def follow_up_at(mechanism: Mechanism, sent_at: datetime) -> datetime:
    """When a referral sent at `sent_at` is due for follow-up."""
    return sent_at + timedelta(days=reminder_days(mechanism))


def packet_language(mechanism: Mechanism, preferred: Sequence[str] = ()) -> str:
    """The first of the mechanism's languages that is preferred, else its first language.

    Only languages the packet's fixed texts exist in are candidates (a packet is never half in another
    language); English if the mechanism works in none of them.
    """
    usable = [lang for lang in mechanism.languages if lang in DOCUMENT_LANGUAGES]
    wanted = {p.strip().lower().replace("_", "-").split("-")[0] for p in preferred}
    return next((lang for lang in usable if lang in wanted), usable[0] if usable else "en")


# --- contact details never travel -------------------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_INTERNATIONAL = re.compile(r"(?:\+|\b00)[\s(]{0,2}\d(?:[\s().\-/]{0,2}\d){6,14}")
_DIGIT_RUN = re.compile(r"\(?\d(?:[\s().\-/]{0,2}\d){5,}")


class _Scrubber:
    """Replaces contact details (and any form of the reporter's phone and e-mail) in free text."""

    def __init__(self, reports: Sequence[ReportIn]) -> None:
        self.emails: set[str] = set()
        self.numbers: set[str] = set()
        for report in reports:
            contact = report.reporter_contact
            if contact is None:
                continue
            if contact.email:
                self.emails.add(str(contact.email).casefold())
            if contact.phone:
                digits = re.sub(r"\D", "", contact.phone)
                self.numbers.add(digits)
                try:
                    self.numbers.add(str(phonenumbers.parse(contact.phone, None).national_number))
                except phonenumbers.NumberParseException:  # pragma: no cover - validated at intake
                    pass
        self.numbers = {n for n in self.numbers if len(n) >= 6}

    def _reporters_number(self, match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return REDACTED if any(n in digits for n in self.numbers) else match.group(0)

    def __call__(self, text: str | None) -> str:
        if not text:
            return ""
        for email in self.emails:
            text = re.sub(re.escape(email), REDACTED, text, flags=re.IGNORECASE)
        text = _EMAIL.sub(REDACTED, text)
        text = _INTERNATIONAL.sub(REDACTED, text)
        if self.numbers:
            text = _DIGIT_RUN.sub(self._reporters_number, text)
        return text.strip()


# --- building ---------------------------------------------------------------------------------------------------

def _fold(text: str | None) -> str:
    return unicodedata.normalize("NFKC", text or "").casefold().strip()


def _victims(defenders: Sequence[Defender], with_groups: bool) -> list[Victim]:
    merged: dict[tuple[str, str], dict] = {}
    for d in defenders:
        key = (_fold(d.name), _fold(d.organization)) if d.name else (f"#{len(merged)}", _fold(d.organization))
        seen = merged.get(key)
        if seen is None:
            merged[key] = {"name": d.name, "organization": d.organization, "gender": d.gender,
                           "groups": list(d.groups) if with_groups else [], "detained": d.detained,
                           "incommunicado": d.incommunicado}
            continue
        # The same person in two reports of the case: the most protective reading of both.
        seen["detained"] |= d.detained
        seen["incommunicado"] |= d.incommunicado
        if seen["gender"] is Gender.undisclosed:
            seen["gender"] = d.gender
        if with_groups:
            seen["groups"].extend(g for g in d.groups if g not in seen["groups"])
    return [Victim(**v) for v in merged.values()]


def _facts(reports: Sequence[ReportIn], language: str, scrub: _Scrubber) -> list[Fact]:
    facts = [
        Fact(incident_type=r.incident_type, occurred_at=r.occurred_at, country=r.country,
             country_name=country_name(r.country, language), locality=scrub(r.locality) or None,
             description=scrub(r.description), ongoing=r.ongoing, imminent_danger=r.imminent_danger,
             people_affected=r.people_affected, corporate_actor=scrub(r.corporate_actor) or None)
        for r in reports
    ]
    return sorted(facts, key=lambda f: f.occurred_at)


def _refuse_unless_sendable(case: Case) -> None:
    if case.shredded:
        raise ReferralRefused("shredded_at", "the case was shredded: its personal data no longer exists")
    if case.consent is Consent.private:
        raise ReferralRefused("consent", "the consent is private: nothing about the case leaves the secretariat")
    if case.consent not in CONSENT_STATEMENTS:  # pragma: no cover - a new level must say what it covers
        raise ReferralRefused("consent", f"no consent statement for {case.consent.value!r}")
    if not case.reports:
        raise ReferralRefused("reports", "the case has no reports to refer")


def consent_statement(consent: Consent, mechanism_name: str, language: str) -> str:
    """What the consent covers, in `language` (English if it is not a document language)."""
    texts = CONSENT_STATEMENTS[consent]
    return (texts.get(language) or texts["en"]).replace("{mechanism}", mechanism_name)


def build_packet(
    case: Case,
    mechanism: Mechanism,
    *,
    perpetrators: str = "",
    national_actions: str = "",
    support_needed: str = "",
    note: str = "",
    preferred: Sequence[str] = (),
    issued_at: datetime | None = None,
) -> Packet:
    """The packet referring `case` to `mechanism`, in the first of its languages that is `preferred`.

    Raises ReferralRefused when the case's consent is private, the case was shredded or it has no reports.
    """
    _refuse_unless_sendable(case)
    kind = kind_of(mechanism)
    language = packet_language(mechanism, preferred)
    name = mechanism.display_name(language)
    reports = sorted((stored.report for stored in case.reports), key=lambda r: r.occurred_at)
    scrub = _Scrubber(reports)
    defenders = [d for r in reports for d in r.defenders]
    victims = _victims(defenders, with_groups=kind is not MechanismKind.emergency_fund)
    facts = _facts(reports, language, scrub)
    companies = list(dict.fromkeys(f.corporate_actor for f in facts if f.corporate_actor))

    content = {
        SectionKey.alleged_victims: Section(key=SectionKey.alleged_victims, victims=victims),
        SectionKey.alleged_perpetrators: Section(key=SectionKey.alleged_perpetrators, text=scrub(perpetrators),
                                                 companies=companies),
        SectionKey.facts: Section(key=SectionKey.facts, facts=facts),
        SectionKey.national_actions: Section(key=SectionKey.national_actions, text=scrub(national_actions)),
        SectionKey.situation: Section(key=SectionKey.situation, victims=victims, facts=facts),
        SectionKey.support_needed: Section(key=SectionKey.support_needed, text=scrub(support_needed)),
        SectionKey.consent: Section(key=SectionKey.consent, text=consent_statement(case.consent, name, language)),
    }
    return Packet(
        reference=case.reference,
        mechanism_id=mechanism.id,
        mechanism_name=name,
        mechanism_kind=kind,
        mechanism_email=str(mechanism.referral.email),
        language=language,
        issued_at=issued_at or utcnow(),
        consent=case.consent,
        confidential=case.consent < Consent.public,
        publication_allowed=case.consent is Consent.public,
        urgent=any(f.ongoing or f.imminent_danger for f in facts) or any(v.incommunicado for v in victims),
        note=scrub(note),
        follow_up_days=reminder_days(mechanism),
        sections=[content[key] for key in LAYOUTS[kind]],
    )
