"""Referrals of a case to protection mechanisms: draft, send (email with the packet as a PDF) or download for a
web form, then record the mechanism's acknowledgement and answer, with a follow-up reminder when it is due.

A referral is a series of case events with one referral_id: `referral_drafted` carries what the secretariat wrote
(sealed with the case: alleged perpetrators, actions taken, support needed, a note), `referral_sent` how and
when it left (and when to follow up), `referral_acknowledged` and `referral_answered` what came back. The packet
is always rebuilt from the case as it is, so consent withdrawn or a shredded case stops it at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import Field, ValidationError

from agents.referrals import Packet, ReferralRefused, build_packet, follow_up_at
from agents.routing import load_catalogue
from notifiers.errors import NotifierError
from notifiers.smtp_email import Attachment, SmtpEmailNotifier
from schemas.base import Message, problems_from, utcnow
from schemas.cases import Case, CaseEvent, CaseEventKind
from schemas.vocab import Consent
from streams.audit import record
from streams.documents.pdf import render_referral_pdf
from streams.ids import new_id
from streams.runtime import Runtime
from streams.services.cases import get_case
from streams.services.errors import ServiceError
from streams.settings import Settings

STATUSES = ("drafted", "sent", "acknowledged", "answered")
KINDS = {CaseEventKind.referral_drafted: "drafted", CaseEventKind.referral_sent: "sent",
         CaseEventKind.referral_acknowledged: "acknowledged", CaseEventKind.referral_answered: "answered"}
DETAILS = ("perpetrators", "national_actions", "support_needed", "note")


class ReferralIn(Message):
    """Body of POST /api/v1/cases/{case_id}/referrals."""

    mechanism: str = Field(min_length=1, max_length=64, description="Id of a mechanism suggested for the case.")
    perpetrators: str = Field("", max_length=4000, description="Alleged perpetrators (UN and regional bodies).")
    national_actions: str = Field("", max_length=4000, description="Actions already taken at national level.")
    support_needed: str = Field("", max_length=4000, description="The support needed (emergency funds).")
    note: str = Field("", max_length=2000, description="A covering note to the mechanism.")
    language: str | None = Field(None, description="Preferred packet language, if the mechanism works in it.")
    send: str = Field("email", pattern="^(email|download)$", description=(
        "email: send it now to the mechanism's referral address; download: draft it for the mechanism's web form."))


class ReferralUpdateIn(Message):
    """Body of POST /api/v1/cases/{case_id}/referrals/{referral_id}: what came back, or that it was submitted."""

    status: str = Field(pattern="^(sent|acknowledged|answered)$", description=(
        "sent (submitted through the mechanism's web form), acknowledged or answered."))
    note: str = Field("", max_length=2000, description="What they said, or any note.")


@dataclass
class Referral:
    """One referral as the case history has it."""

    referral_id: str
    mechanism: str
    mechanism_name: str
    language: str
    status: str
    drafted_at: datetime
    drafted_by: str
    details: dict[str, str] = field(default_factory=dict)
    sent_at: datetime | None = None
    sent_via: str | None = None
    follow_up_at: datetime | None = None
    events: list[CaseEvent] = field(default_factory=list)

    def due(self, now: datetime) -> bool:
        """Whether its follow-up reminder is due: sent, not answered, past the mechanism's delay."""
        return self.status in ("sent", "acknowledged") and self.follow_up_at is not None and self.follow_up_at <= now

    def as_json(self) -> dict:
        """JSON for the API (the secretariat's own inputs included: the caller is the secretariat)."""
        return {"referral_id": self.referral_id, "mechanism": self.mechanism, "mechanism_name": self.mechanism_name,
                "language": self.language, "status": self.status, "drafted_at": self.drafted_at.isoformat(),
                "drafted_by": self.drafted_by, "sent_at": self.sent_at.isoformat() if self.sent_at else None,
                "sent_via": self.sent_via,
                "follow_up_at": self.follow_up_at.isoformat() if self.follow_up_at else None,
                "details": self.details,
                "history": [{"status": KINDS[e.kind], "at": e.at.isoformat(), "by": e.actor, "note": e.reason}
                            for e in self.events]}


def referrals_of(case: Case) -> list[Referral]:
    """The case's referrals, oldest first, folded from its history."""
    found: dict[str, Referral] = {}
    catalogue = load_catalogue()
    for event in case.history:
        if event.kind not in KINDS:
            continue
        rid = event.data.get("referral_id")
        if event.kind is CaseEventKind.referral_drafted:
            mid = event.data.get("mechanism", "")
            try:
                name = catalogue[mid].display_name(event.data.get("language", "en"))
            except KeyError:
                name = mid
            found[rid] = Referral(referral_id=rid, mechanism=mid, mechanism_name=name,
                                  language=event.data.get("language", "en"), status="drafted", drafted_at=event.at,
                                  drafted_by=event.actor, details=dict(event.details), events=[event])
            continue
        ref = found.get(rid)
        if ref is None:
            continue
        ref.events.append(event)
        ref.status = KINDS[event.kind]
        if event.kind is CaseEventKind.referral_sent:
            ref.sent_at, ref.sent_via = event.at, event.data.get("via")
            due = event.data.get("follow_up_at")
            ref.follow_up_at = datetime.fromisoformat(due) if due else None
    return list(found.values())


def find_referral(case: Case, referral_id: str) -> Referral:
    """One referral of the case; 404 naming the path otherwise."""
    for ref in referrals_of(case):
        if ref.referral_id == referral_id:
            return ref
    raise ServiceError(404, "no such referral on this case", field="referral_id")


def packet_for(case: Case, mechanism_id: str, details: dict[str, str], language: str | None = None) -> Packet:
    """The packet as the case is now; 409/422 naming the field when consent or the mechanism does not allow it."""
    if case.consent < Consent.mechanisms:
        raise ServiceError(409, f"consent is '{case.consent.value}': a referral needs consent 'mechanisms' or wider",
                           field="consent")
    try:
        mechanism = load_catalogue()[mechanism_id]
    except KeyError:
        raise ServiceError(422, "not a known mechanism", field="mechanism") from None
    try:
        return build_packet(case, mechanism, **{k: details.get(k, "") for k in DETAILS},
                            preferred=[language] if language else [])
    except ReferralRefused as exc:
        raise ServiceError(409, str(exc).partition(": ")[2] or str(exc), field=exc.field) from None


def packet_pdf(case: Case, ref: Referral) -> bytes:
    """The referral's packet as a PDF, rebuilt from the case as it is now."""
    return render_referral_pdf(packet_for(case, ref.mechanism, ref.details, ref.language))


def filename(case: Case, mechanism_id: str) -> str:
    """The packet's file name: the case reference and the mechanism id only."""
    return f"{case.reference}-{mechanism_id}.pdf"


async def _case(rt: Runtime, case_id: str) -> Case:
    case = await get_case(rt, case_id)
    if case is None:
        raise ServiceError(404, "no such case", field="case_id")
    if case.shredded:
        raise ServiceError(409, "the case was shredded: nothing can be referred", field="status")
    return case


async def _publish(rt: Runtime, event: CaseEvent) -> None:
    fut = await rt.topics.cases_events.send(key=event.case_id.encode(), value=event)
    await fut


async def create_referral(rt: Runtime, case_id: str, body: object, actor: str, *, token_id: str) -> dict:
    """Draft a referral and, unless it is for a web form, send it by email now."""
    try:
        req = ReferralIn.model_validate(body if body is not None else {})
    except ValidationError as exc:
        raise ServiceError(422, problems_from(exc)) from None
    case = await _case(rt, case_id)
    if req.mechanism not in case.mechanisms:
        raise ServiceError(422, "not one of the mechanisms suggested for this case (its incident, consent and "
                           f"urgency): {', '.join(case.mechanisms) or 'none'}", field="mechanism")
    details = {k: getattr(req, k).strip() for k in DETAILS if getattr(req, k).strip()}
    packet = packet_for(case, req.mechanism, details, req.language)
    rid = new_id("ref")
    drafted = CaseEvent(event_id=f"referral_drafted:{rid}", case_id=case.case_id, kind=CaseEventKind.referral_drafted,
                        actor=actor, data={"referral_id": rid, "mechanism": req.mechanism, "language": packet.language},
                        details=details)
    await record(rt, token_id, "case.referral", rid, case.case_id, mechanism=req.mechanism, send=req.send)
    await _publish(rt, drafted)
    out = {"referral_id": rid, "mechanism": req.mechanism, "language": packet.language, "status": "drafted",
           "packet": f"/api/v1/cases/{case.case_id}/referrals/{rid}/packet.pdf"}
    if req.send == "email":
        out |= await send_referral_email(rt, case, packet, rid, actor)
    return out


async def send_referral_email(rt: Runtime, case: Case, packet: Packet, rid: str, actor: str) -> dict:
    """Email the packet to the mechanism's referral address and record it as sent (with its follow-up date)."""
    pdf = await asyncio.to_thread(render_referral_pdf, packet)
    subject = f"{packet.reference}: {packet.mechanism_name}"
    body = cover_note(packet)
    try:
        result = await send_email(rt.settings, packet.mechanism_email, subject, body, f"referral:{rid}",
                                  [Attachment(filename(case, packet.mechanism_id), "application/pdf", pdf)])
    except NotifierError as exc:
        # Drafted, not sent: the case page offers to send it again.
        raise ServiceError(502, f"the referral was drafted but the email could not be sent ({exc.code}); "
                           "send it again from the case page", field="send") from None
    return await mark_sent(rt, case, rid, packet.mechanism_id, actor, via="email", message_id=result.provider_id)


async def mark_sent(rt: Runtime, case: Case, rid: str, mechanism_id: str, actor: str, *, via: str,
                    message_id: str | None = None, note: str | None = None) -> dict:
    """Record a referral as sent, with the date its follow-up reminder falls due."""
    at = utcnow()
    due = follow_up_at(load_catalogue()[mechanism_id], at)
    data = {"referral_id": rid, "via": via, "follow_up_at": due.isoformat()}
    if message_id:
        data["message_id"] = message_id
    await _publish(rt, CaseEvent(event_id=f"referral_sent:{rid}", case_id=case.case_id,
                                 kind=CaseEventKind.referral_sent, actor=actor, at=at, data=data, reason=note or None))
    return {"status": "sent", "sent_via": via, "follow_up_at": due.isoformat()}


async def update_referral(rt: Runtime, case_id: str, referral_id: str, body: object, actor: str, *,
                          token_id: str) -> dict:
    """Record that a drafted referral was submitted through a web form, or what the mechanism answered."""
    try:
        req = ReferralUpdateIn.model_validate(body if body is not None else {})
    except ValidationError as exc:
        raise ServiceError(422, problems_from(exc)) from None
    case = await _case(rt, case_id)
    ref = find_referral(case, referral_id)
    order = STATUSES.index
    if req.status == "sent" and ref.status != "drafted":
        raise ServiceError(409, f"the referral is already {ref.status}", field="status")
    if req.status != "sent" and (ref.status == "drafted" or order(req.status) <= order(ref.status)):
        raise ServiceError(409, f"the referral is {ref.status}: it cannot become {req.status}", field="status")
    await record(rt, token_id, "case.referral_update", referral_id, case.case_id, status=req.status)
    if req.status == "sent":
        return await mark_sent(rt, case, referral_id, ref.mechanism, actor, via="web_form", note=req.note)
    kind = CaseEventKind.referral_acknowledged if req.status == "acknowledged" else CaseEventKind.referral_answered
    await _publish(rt, CaseEvent(event_id=new_id("evt"), case_id=case.case_id, kind=kind, actor=actor,
                                 data={"referral_id": referral_id}, reason=req.note or None))
    return {"status": req.status}


def due_referrals(rt: Runtime, now: datetime | None = None) -> list[dict]:
    """Referrals whose follow-up reminder is due, across every case, most overdue first (no personal data)."""
    now = now or utcnow()
    rows = []
    for case in rt.views.cases.values():
        if case.shredded or case.status.value == "dismissed":
            continue
        for ref in referrals_of(case):
            if ref.due(now):
                rows.append({"case_id": case.case_id, "reference": case.reference, "referral_id": ref.referral_id,
                             "mechanism": ref.mechanism, "mechanism_name": ref.mechanism_name,
                             "status": ref.status, "sent_at": ref.sent_at.isoformat(),
                             "follow_up_at": ref.follow_up_at.isoformat(),
                             "overdue_days": (now - ref.follow_up_at) // timedelta(days=1)})
    rows.sort(key=lambda r: r["follow_up_at"])
    return rows


COVER = {
    "en": "Dear colleagues,\n\nPlease find attached a referral concerning case {reference}, with the consent of the "
          "person(s) concerned. We remain at your disposal for any further information.\n\nThe Solidarity "
          "network secretariat",
    "es": "Estimados colegas:\n\nAdjuntamos una remisión relativa al caso {reference}, con el consentimiento de la(s) "
          "persona(s) concernida(s). Quedamos a su disposición para cualquier información adicional.\n\nLa "
          "secretaría de la red Solidaridad",
    "fr": "Chers collègues,\n\nVeuillez trouver ci-joint une saisine concernant le cas {reference}, avec le "
          "consentement de la ou des personnes concernées. Nous restons à votre disposition pour toute information "
          "complémentaire.\n\nLe secrétariat du réseau Solidarité",
    "pt": "Prezados colegas,\n\nSegue em anexo um encaminhamento relativo ao caso {reference}, com o consentimento "
          "da(s) pessoa(s) em questão. Ficamos à disposição para qualquer informação adicional.\n\nO secretariado "
          "da rede Solidariedade",
    "ar": "الزملاء الأعزاء،\n\nتجدون مرفقاً إحالة بشأن الحالة {reference}، بموافقة الشخص أو الأشخاص المعنيين. "
          "نبقى رهن إشارتكم لأي معلومات إضافية.\n\nأمانة شبكة التضامن",
}


def cover_note(packet: Packet) -> str:
    """The email's text in the packet's language: the reference only; the rest is in the attached packet."""
    text = COVER.get(packet.language, COVER["en"]).format(reference=packet.reference)
    return f"{packet.note}\n\n{text}" if packet.note else text


async def send_email(settings: Settings, to: str, subject: str, body: str, key: str,
                     attachments: list[Attachment]):
    """Send one email with attachments on its own SMTP connection (referrals and letters are few)."""
    s = settings.smtp
    notifier = SmtpEmailNotifier(host=s.host, port=s.port, sender=s.sender, username=s.username,
                                 password=s.password.get_secret_value() if s.password else None,
                                 start_tls=s.start_tls, timeout_seconds=s.timeout_seconds)
    try:
        return await notifier.send(to, body, subject, key=key, attachments=attachments)
    finally:
        await notifier.close()
