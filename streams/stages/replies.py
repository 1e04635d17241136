"""Replies: SIGN records a signature, STOP/START opt out or in, anything else gets help (3 an hour at most).

replies.received.v1 is keyed by the blind index of the sender's phone (streams/crypto: a keyed hash, never the
number), so one worker handles every reply of a number: the tables of handled MessageSids and of automatic
replies are rows per blind index, owned with that partition.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from agents import paging
from agents.keywords import Intent, done_note, intent_of, reference_in
from agents.links import Purpose
from agents.texts import render
from schemas.base import utcnow
from schemas.cases import CaseEvent, CaseEventKind
from schemas.members import Member
from schemas.notifications import Lane, Notification
from schemas.replies import InboundReply
from schemas.vocab import ActionKind, Channel
from streams import crypto, topics
from streams.acking import each_value
from streams.runtime import Runtime
from streams.services import links
from streams.services.members import publish_member
from streams.services.responses import record_response, record_signature
from streams.stages.alerts import send_notifications
from streams.stages.reporter_sms import ReporterSms

log = logging.getLogger("solidarity.notify")
# A MessageSid is remembered as long as the replies topic keeps its reply: a late Twilio retry (or a captured
# signed request replayed) must still be recognised as a repeat.
REMEMBER = timedelta(milliseconds=topics.REPLIES.retention_ms)


class Replies:
    """The handle_replies agent."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.reporters = ReporterSms(rt)

    def register(self) -> None:
        self.rt.app.agent(self.rt.topics.replies_received, name="handle_replies")(self.handle_replies)

    async def handle_replies(self, stream) -> None:
        """Act on each inbound SMS once."""
        await self.rt.views.wait_ready()
        async for reply in each_value(stream):
            if self.first_time(reply):
                await self.handle(reply)

    def first_time(self, reply: InboundReply) -> bool:
        """Whether this MessageSid is new for its number (and remember it)."""
        tb, now = self.rt.tables, utcnow()
        number = crypto.sealer().blind("phone", reply.from_phone)
        row = {sid: at for sid, at in (tb.replies_seen.get(number) or {}).items()
               if datetime.fromisoformat(at) > now - REMEMBER}
        if reply.message_sid in row:
            return False
        tb.replies_seen[number] = {**row, reply.message_sid: now.isoformat()}
        return True

    async def handle(self, reply: InboundReply) -> None:
        """Act on one inbound SMS."""
        rt = self.rt
        member: Member | None = rt.views.members.by_phone(reply.from_phone)
        reporter = rt.views.tokens.reporter_by_phone(reply.from_phone)
        if reporter is not None and await self.reporters.handle(reporter, reply):
            return
        if member is None:
            log.info("reply from a number that is not a member ignored (sid %s)", reply.message_sid)
            return
        intent, lang = intent_of(reply.body), member.language
        text, automatic = None, False
        if intent in (Intent.ack, Intent.esc) and paging.secretariat(member):
            text = await self.answer_page(member, reply, intent)
        elif intent is Intent.sign:
            text = await self.sign(member, reply) or render("replies.nothing_to_sign", lang)
        elif intent is Intent.done:
            text = await self.report_done(member, reply) or render("replies.nothing_to_report", lang)
        elif intent is Intent.link:
            # A signed link to the member's own page: no login, expires (the number is the member's).
            text = render("replies.link", lang, url=links.link(rt.settings, Purpose.manage, member.member_id),
                          days=f"{rt.settings.links.manage_days:g}")
        elif intent is Intent.stop:
            if Channel.sms not in member.opted_out:
                await publish_member(rt, member.model_copy(update={"opted_out": [*member.opted_out, Channel.sms]}))
            text = render("replies.stopped", lang)
        elif intent is Intent.start:
            await publish_member(rt, member.model_copy(
                update={"opted_out": [c for c in member.opted_out if c != Channel.sms]}))
            text = render("replies.started", lang)
        else:
            text, automatic = render("replies.help", lang), True
        if text is None:
            return
        if automatic and not self.may_auto_reply(reply.from_phone, rt.settings.delivery.auto_replies_per_hour):
            return
        await send_notifications(rt, [Notification(
            idempotency_key=f"reply:{reply.message_sid}", member_id=member.member_id, channel=Channel.sms,
            to=reply.from_phone, language=lang, body=text, lane=Lane.priority)])

    async def answer_page(self, member: Member, reply: InboundReply, intent: Intent) -> str | None:
        """ACK or ESC from a secretariat member: a case event for the case named (or the latest that paged them).
        The acknowledger's answer (who else was paged) comes from the escalator once the case has it; None here."""
        views, lang = self.rt.views, member.language
        reference = reference_in(reply.body)
        case = await self.paged_case(member, reference)
        if case is None or (reference is None and member.member_id not in paging.paged_members(case)):
            return render("paging.nothing", lang)
        state = paging.paging(case)
        if state is paging.Paging.acknowledged:
            ack = paging.acknowledgement(case)
            by = views.members.get(ack.data.get("member_id") or "")
            return render("paging.already", lang, reference=case.reference, name=paging.display(by) if by else ack.actor)
        kind = CaseEventKind.acknowledged if intent is Intent.ack else CaseEventKind.escalation_requested
        if paging.refusal(case, kind) is not None:
            return render("paging.nothing" if intent is Intent.ack else "paging.not_escalating", lang,
                          reference=case.reference)
        await self.rt.topics.cases_events.send(key=case.case_id.encode(), value=CaseEvent(
            event_id=f"{kind.value}:{reply.message_sid}", case_id=case.case_id, kind=kind,
            actor=f"member:{member.member_id}", at=reply.received_at,
            data={"via": "sms", "member_id": member.member_id}))
        return None if intent is Intent.ack else render("paging.escalating", lang, reference=case.reference)

    async def paged_case(self, member: Member, reference: str | None, wait: float = 5.0):
        """The case an ACK or ESC is about: the one its reference names, else the latest that paged the member.
        The page may have reached the phone before its case (or its `paged` event) reached this worker's views:
        wait a few seconds for it rather than answer that nothing was paged. Without a reference, an older case
        whose escalation is over is not an answer yet either: the page just read may be of a new one on its way."""
        views = self.rt.views
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            await views.sync()
            if reference:
                case = views.cases.by_reference(reference)
                found = case is not None and paging.paging(case) is not paging.Paging.none
            else:
                case = next(iter(views.cases.paging(member.member_id)), None)
                found = case is not None and paging.paging(case) is paging.Paging.active
            if found or loop.time() > deadline:
                return case
            await asyncio.sleep(0.2)

    def latest_action(self, member: Member, kinds: tuple[ActionKind, ...] | None = None):
        """The latest call to action (of `kinds`, if given) the member was planned into, or None."""
        views = self.rt.views
        # Follow-ups (further information, closure notices) ask for no signature: SIGN is for the call they follow.
        actions = [a for a in map(views.actions.get, views.plans.actions_of(member.member_id))
                   if a is not None and a.kind not in (ActionKind.further_information, ActionKind.closure_notice)
                   and (kinds is None or a.kind in kinds)]
        return max(actions, key=lambda a: a.approved_at, default=None)

    async def report_done(self, member: Member, reply: InboundReply) -> str | None:
        """Record DONE (and its short note) on the member's latest open decentralised action; the thank-you text,
        or None if none is open."""
        action = self.latest_action(member, (ActionKind.decentralized_action,))
        if action is None or (action.deadline and action.deadline < reply.received_at):
            return None
        await record_response(self.rt, member, action, what=done_note(reply.body), via="sms", at=reply.received_at)
        return render("replies.done", member.language, reference=action.reference)

    async def sign(self, member: Member, reply: InboundReply) -> str | None:
        """Record a signature on the member's latest open action; the thank-you text, or None if none is open."""
        action = self.latest_action(member)
        if action is None or (action.deadline and action.deadline < reply.received_at):
            return None
        await record_signature(self.rt, member, action, via="sms", at=reply.received_at)
        return render("replies.signed", member.language, reference=action.reference)

    def may_auto_reply(self, phone: str, per_hour: int) -> bool:
        """At most `per_hour` automatic replies per number per hour."""
        now, table, number = utcnow(), self.rt.tables.auto_replies, crypto.sealer().blind("phone", phone)
        recent = [t for t in (table.get(number) or []) if datetime.fromisoformat(t) > now - timedelta(hours=1)]
        if len(recent) >= per_hour:
            return False
        table[number] = [*recent, now.isoformat()]
        return True
