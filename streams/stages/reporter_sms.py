"""Reports by SMS from registered reporter phones: one structured text or a short guided conversation, and STATUS.

Runs inside the replies agent (replies.received.v1 is keyed by the sender's blind index, so the worker that owns
a phone's partition holds its conversation in the `sms_reports` table). A number that is no reporter's never gets
an answer from here: the phone may be in someone else's hands (do no harm).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from agents.sms_intake import Conversation, advance, parse_status, received_reply, status_reply, unknown_reference_reply
from schemas.audit import TokenRecord
from schemas.cases import Case
from schemas.notifications import Lane, Notification
from schemas.replies import InboundReply, SmsDraft
from schemas.vocab import CaseStatus, Channel
from streams import crypto
from streams.crypto.sealing import period_subject
from streams.runtime import Runtime
from streams.services.errors import ServiceError
from streams.services.reports import submit_report
from streams.stages.alerts import send_notifications

log = logging.getLogger("solidarity.intake")


def report_status(rt: Runtime, case: Case) -> str:
    """What a reporter may learn of a case: received, verified, action (under way) or closed; nothing more."""
    if case.status in (CaseStatus.closed, CaseStatus.dismissed) or case.shredded:
        return "closed"
    if case.status is CaseStatus.verified:
        return "action" if rt.views.actions.for_case(case.case_id) else "verified"
    return "received"


def reporters_case(rt: Runtime, token: TokenRecord, reference: str) -> Case | None:
    """The case of a report this reporter token submitted under `reference`, or None (someone else's is None too)."""
    case = rt.views.cases.by_reference(reference)
    if case is None:
        return None
    mine = any(r.reference == reference and r.submitted_by == token.token_id for r in case.reports)
    return case if mine else None


class ReporterSms:
    """The reporter side of inbound SMS."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def handle(self, token: TokenRecord, reply: InboundReply) -> bool:
        """Act on a reporter's SMS; False when it is none of ours (no conversation under way, no alert word, no
        STATUS), so a member's handling may have it."""
        rt, lang = self.rt, token.language
        blind = crypto.sealer().blind("phone", reply.from_phone)
        draft = rt.tables.sms_reports.get(blind)
        conversation = Conversation.model_validate(draft.conversation) if draft and draft.conversation else None
        reference = parse_status(reply.body)
        if reference is not None:
            await rt.views.sync()
            case = reporters_case(rt, token, reference)
            text = (status_reply(report_status(rt, case), reference, lang) if case is not None
                    else unknown_reference_reply(reference, lang))
            await self.answer(reply, text, lang, case.case_id if case else None)
            return True
        timeout = timedelta(minutes=rt.settings.reporter_sms.conversation_minutes)
        turn = advance(conversation, reply.body, now=reply.received_at, language=lang, timeout=timeout)
        if turn.conversation is None and turn.reply is None and turn.report is None:
            if conversation is not None:
                self.keep(blind, draft, None)
            return False
        self.keep(blind, draft, turn.conversation)
        if turn.report is None:
            if turn.reply:
                await self.answer(reply, turn.reply, turn.conversation.language if turn.conversation else lang)
            return True
        return await self.submit(token, reply, blind, turn.report)

    async def submit(self, token: TokenRecord, reply: InboundReply, blind: str, body: dict) -> bool:
        """Submit a finished SMS report through the same validation and pipeline as the API (source sms)."""
        rt, lang = self.rt, body.get("language") or token.language
        draft = rt.tables.sms_reports.get(blind)
        recent = [t for t in (draft.reports if draft else []) if reply.received_at - t < timedelta(hours=1)]
        if len(recent) >= rt.settings.reporter_sms.reports_per_hour:
            log.warning("SMS report refused: %d reports from one registered phone this hour", len(recent))
            return True
        try:
            receipt = await submit_report(rt, body, "sms", token.token_id,
                                          idempotency_key=f"sms:{reply.message_sid}")
        except ServiceError as exc:
            # Dead-lettered with its reasons by submit_report; the reporter hears nothing that quotes the report.
            log.info("SMS report refused at intake: %s", [p.field for p in exc.problems])
            return True
        rt.tables.sms_reports[blind] = SmsDraft(subject=period_subject(), conversation=None,
                                                reports=[*recent, reply.received_at])
        await self.answer(reply, received_reply(receipt["reference"], lang), lang, receipt["case_id"])
        return True

    def keep(self, blind: str, draft: SmsDraft | None, conversation: Conversation | None) -> None:
        """Store the conversation under way (sealed), or forget it."""
        self.rt.tables.sms_reports[blind] = SmsDraft(
            subject=period_subject(), reports=draft.reports if draft else [],
            conversation=conversation.model_dump(mode="json") if conversation is not None else None)

    async def answer(self, reply: InboundReply, text: str, language: str, case_id: str | None = None) -> None:
        """One SMS back to the reporter's phone (sealed under the case's key, or the month's)."""
        await send_notifications(self.rt, [Notification(
            idempotency_key=f"reporter:{reply.message_sid}", member_id="", channel=Channel.sms, to=reply.from_phone,
            language=language, body=text, lane=Lane.priority, case_id=case_id)])
