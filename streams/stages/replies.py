"""Replies: SIGN records a signature, STOP/START opt out or in, anything else gets help (3 an hour at most).

replies.received.v1 is keyed by the blind index of the sender's phone (streams/crypto: a keyed hash, never the
number), so one worker handles every reply of a number: the tables of handled MessageSids and of automatic
replies are rows per blind index, owned with that partition.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from agents.keywords import Intent, intent_of
from agents.texts import render
from schemas.base import utcnow
from schemas.members import Member
from schemas.notifications import Lane, Notification
from schemas.replies import InboundReply
from schemas.vocab import Channel
from streams import crypto, topics
from streams.runtime import Runtime
from streams.services.members import publish_member
from streams.stages.alerts import send_notifications

log = logging.getLogger("solidarity.notify")
# A MessageSid is remembered as long as the replies topic keeps its reply: a late Twilio retry (or a captured
# signed request replayed) must still be recognised as a repeat.
REMEMBER = timedelta(milliseconds=topics.REPLIES.retention_ms)


class Replies:
    """The handle_replies agent."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def register(self) -> None:
        self.rt.app.agent(self.rt.topics.replies_received, name="handle_replies")(self.handle_replies)

    async def handle_replies(self, stream) -> None:
        """Act on each inbound SMS once."""
        await self.rt.views.wait_ready()
        async for reply in stream:
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
        if member is None:
            log.info("reply from a number that is not a member ignored (sid %s)", reply.message_sid)
            return
        intent, lang = intent_of(reply.body), member.language
        text, automatic = None, False
        if intent is Intent.sign:
            text = await self.sign(member, reply) or render("replies.nothing_to_sign", lang)
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
        if automatic and not self.may_auto_reply(reply.from_phone, rt.settings.delivery.auto_replies_per_hour):
            return
        await send_notifications(rt, [Notification(
            idempotency_key=f"reply:{reply.message_sid}", member_id=member.member_id, channel=Channel.sms,
            to=reply.from_phone, language=lang, body=text, lane=Lane.priority)])

    def latest_action(self, member: Member):
        """The latest call to action the member was planned into, or None."""
        views = self.rt.views
        actions = [a for a in map(views.actions.get, views.plans.actions_of(member.member_id)) if a is not None]
        return max(actions, key=lambda a: a.approved_at, default=None)

    async def sign(self, member: Member, reply: InboundReply) -> str | None:
        """Record a signature on the member's latest open action; the thank-you text, or None if none is open."""
        action = self.latest_action(member)
        if action is None or (action.deadline and action.deadline < reply.received_at):
            return None
        key = f"{action.action_id}|{member.member_id}"
        if key not in self.rt.views.signatures:
            # Compacted and keyed by action and member: a repeated SIGN (here or after a rebalance) counts once.
            record = {"member_id": member.member_id, "organization": member.organization, "country": member.country,
                      "signed_at": reply.received_at.isoformat()}
            await self.rt.topics.actions_signatures.send(key=key.encode(), value=json.dumps(record).encode())
        return render("replies.signed", member.language, reference=action.reference)

    def may_auto_reply(self, phone: str, per_hour: int) -> bool:
        """At most `per_hour` automatic replies per number per hour."""
        now, table, number = utcnow(), self.rt.tables.auto_replies, crypto.sealer().blind("phone", phone)
        recent = [t for t in (table.get(number) or []) if datetime.fromisoformat(t) > now - timedelta(hours=1)]
        if len(recent) >= per_hour:
            return False
        table[number] = [*recent, now.isoformat()]
        return True
