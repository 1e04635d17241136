"""Sign-on letters and petitions as documents: the PDF with its signatories, and its delivery to the target.

The letter goes to its target once: at the action's deadline (streams/stages/letters.py) or when the secretariat
sends it. The `letter_sent` case event (one id per action) is the record, and the email's Message-ID is derived
from the action, so a resend after a crash between the two is the same message to the target's mail system.
"""

from __future__ import annotations

import asyncio

from agents.letters import Letter, SignOnLetter, Target, build_letter
from agents.regions import network_region
from notifiers.errors import NotifierError
from notifiers.smtp_email import Attachment
from schemas.actions import LETTER_KINDS, CallToAction
from schemas.cases import Case, CaseEvent, CaseEventKind
from streams.audit import record
from streams.documents.pdf import render_letter_pdf
from streams.runtime import Runtime
from streams.services.cases import find_case
from streams.services.errors import ServiceError
from streams.services.referrals import send_email

SUBJECT = {"en": "Letter from the Solidarity network", "es": "Carta de la red Solidaridad",
           "fr": "Lettre du réseau Solidarité", "pt": "Carta da rede Solidariedade", "ar": "رسالة من شبكة التضامن"}
BODY = {
    "en": "Please find attached a letter signed by {n} organisations of the Solidarity network ({reference}).",
    "es": "Adjuntamos una carta firmada por {n} organizaciones de la red Solidaridad ({reference}).",
    "fr": "Veuillez trouver ci-joint une lettre signée par {n} organisations du réseau Solidarité ({reference}).",
    "pt": "Segue em anexo uma carta assinada por {n} organizações da rede Solidariedade ({reference}).",
    "ar": "تجدون مرفقاً رسالة وقّعتها {n} منظمة من شبكة التضامن ({reference}).",
}


def letter_of(action: CallToAction) -> SignOnLetter:
    """The letter of an action; 409 naming the field when it has none."""
    if action.kind.value not in LETTER_KINDS:
        raise ServiceError(409, "only sign-on letters and petitions have a letter", field="kind")
    if not action.letter or action.target is None:
        raise ServiceError(409, "this action was approved without a letter and a target", field="letter")
    t = action.target
    return SignOnLetter(reference=action.reference, kind=action.kind.value, texts=dict(action.letter),
                        target=Target(name=t.name, title=t.title or "", address=t.address or "", email=t.email,
                                      language=t.language),
                        deadline=action.deadline)


def document(rt: Runtime, action: CallToAction, language: str | None = None) -> Letter:
    """The letter with its signatories as of now (grouped by country, counted per region)."""
    letter = letter_of(action)
    if language:
        letter = letter.model_copy(update={"target": letter.target.model_copy(update={"language": language})})
    return build_letter(letter, rt.views.signatures.of(action.action_id), region_of=network_region)


def letter_pdf(rt: Runtime, action: CallToAction, language: str | None = None) -> bytes:
    """The letter as a PDF, as it would be sent now."""
    return render_letter_pdf(document(rt, action, language))


def filename(action: CallToAction) -> str:
    """The PDF's file name: the reference and the kind only."""
    return f"{action.reference}-{action.kind.value.replace('_', '-')}.pdf"


def sent_event(case: Case | None, action_id: str) -> CaseEvent | None:
    """The case event recording the letter's delivery, if it was delivered."""
    if case is None:
        return None
    return next((e for e in case.history if e.kind is CaseEventKind.letter_sent
                 and e.data.get("action_id") == action_id), None)


async def send_letter(rt: Runtime, action: CallToAction, actor: str, *, token_id: str, via: str) -> dict:
    """Email the letter to its target with the signatories so far, once; record it in the case history."""
    await rt.views.sync()
    case = find_case(rt, action.case_id)
    if case is None or case.shredded:
        raise ServiceError(409, "the case was shredded: the letter can no longer be sent", field="status")
    if sent_event(case, action.action_id) is not None:
        raise ServiceError(409, "the letter was already sent to its target", field="letter")
    doc = document(rt, action)
    # A few hundred milliseconds of layout: off the event loop the agents share.
    pdf = await asyncio.to_thread(render_letter_pdf, doc)
    lang = doc.language
    await record(rt, token_id, "action.letter_send", action.action_id, action.case_id, signatories=doc.total,
                 via=via)
    try:
        result = await send_email(rt.settings, str(action.target.email), f"{SUBJECT.get(lang, SUBJECT['en'])} · "
                                  f"{action.reference}", BODY.get(lang, BODY["en"]).format(n=doc.total,
                                                                                          reference=action.reference),
                                  f"letter:{action.action_id}",
                                  [Attachment(filename(action), "application/pdf", pdf)])
    except NotifierError as exc:
        raise ServiceError(502, f"the letter could not be sent ({exc.code}); try again", field="target.email") from None
    event = CaseEvent(event_id=f"letter_sent:{action.action_id}", case_id=action.case_id,
                      kind=CaseEventKind.letter_sent, actor=actor,
                      data={"action_id": action.action_id, "signatories": doc.total, "via": via,
                            "message_id": result.provider_id, "language": lang})
    fut = await rt.topics.cases_events.send(key=action.case_id.encode(), value=event)
    await fut
    return {"action_id": action.action_id, "sent": True, "signatories": doc.total, "language": lang,
            "message_id": result.provider_id}
