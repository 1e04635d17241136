"""Faust agents that reach people: secretariat alerts, call-to-action fan-out, delivery lanes, receipts, replies."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from agents.audience import select_members
from agents.casefile import open_case
from agents.classification import classify
from agents.duplicates import WINDOW as DUPLICATE_WINDOW
from agents.duplicates import CaseSummary, find_duplicate
from agents.fanout import ALERT_LEVELS, alert_notifications, needs_alert, update_notifications
from agents.intake import dedup_key
from agents.keywords import Intent, intent_of
from agents.regions import load_region_table
from agents.texts import render
from schemas.actions import CallToAction
from schemas.base import FieldProblem, utcnow
from schemas.deadletters import DeadLetter
from schemas.cases import Case, CaseEvent, CaseEventKind, StoredReport
from schemas.members import Member
from schemas.notifications import DeliveryStatus, Lane, Notification
from schemas.replies import InboundReply
from schemas.reports import ReportIn, ReportSubmitted
from schemas.vocab import Channel
from streams.delivery import Deliverer, settle_receipt
from streams.members import oncall_members
from streams.plans import PlanSweeper, notifications_for, planned_members, planned_pairs, record_plan
from streams.runtime import Runtime
from streams.web.webhooks import expired_webhook_keys, webhook_memory_seconds

log = logging.getLogger("solidarity.notify")


class ActionFailed(Exception):
    """An approved call to action that cannot be fanned out; the reason is shown to the secretariat."""
BATCH, WITHIN = 256, 0.02


def register_notify(rt: Runtime) -> None:
    """Register alerts, fan-out, delivery, receipts and replies on the app."""
    app, t, tb = rt.app, rt.topics, rt.tables
    deliverer = Deliverer(rt)
    rt.hooks.deliverer = deliverer
    region_of = load_region_table().network_region

    async def send_notifications(notes: list[Notification]) -> None:
        topic = {Lane.priority: t.notifications_priority, Lane.bulk: t.notifications_bulk}
        for n in notes:
            await topic[n.lane].send(key=n.idempotency_key.encode(), value=n)

    def case_link(case_id: str) -> str:
        return f"{rt.settings.dashboard_url.rstrip('/')}/cases/{case_id}"

    async def alert_secretariat(before: Case | None, after: Case, event: CaseEvent) -> None:
        """A new or escalated high/critical case pages every on-call member at once; a report merged into a
        case already paged sends one short update, at most every update_every_minutes, naming the case's own reference."""
        last = tb.case_notices.get(after.case_id)
        gap = timedelta(minutes=rt.settings.delivery.update_every_minutes)
        if needs_alert(before, after):
            notes = alert_notifications(after, oncall_members(rt), case_link(after.case_id))
        elif (event.kind is CaseEventKind.report_merged and before is not None
              and (last is None or event.at - datetime.fromisoformat(last) >= gap)):
            notes = update_notifications(after, oncall_members(rt), case_link(after.case_id), event.event_id)
        else:
            return
        if notes:
            await send_notifications(notes)
            tb.case_notices[after.case_id] = event.at.isoformat()
            rt.hooks.alert_times[after.case_id] = event.at

    rt.hooks.case_hooks.append(alert_secretariat)

    paging: set[asyncio.Task] = set()

    def _paged(task: asyncio.Task) -> None:
        paging.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The copy on the priority topic will be delivered by the agent (or the reconciler).
            log.error("direct page failed: %s", type(task.exception()).__name__)

    async def page_now(envelope: ReportSubmitted, report: ReportIn) -> None:
        """Page the on-call straight from intake for a report that classifies high or critical."""
        stored = StoredReport(report_id=envelope.report_id, reference=envelope.reference,
                              received_at=envelope.received_at, source=envelope.source, report=report,
                              classification=classify(report))
        if stored.classification.urgency not in ALERT_LEVELS or joins_a_paged_case(report, envelope.case_id):
            return
        case = open_case(CaseEvent(event_id=f"{envelope.report_id}:opened", case_id=envelope.case_id,
                                   kind=CaseEventKind.opened, actor="system", at=envelope.received_at,
                                   report=stored))
        notes = alert_notifications(case, oncall_members(rt), case_link(case.case_id))
        # Recorded on the priority topic first (a crash from here on still pages), then sent at once: the
        # priority agent's copy would queue behind whatever backlog the consumer is working through. The
        # ledger makes the two one: whichever comes second finds the key settled or in flight and skips it.
        await send_notifications(notes)
        if notes:
            task = asyncio.create_task(deliverer.deliver_batch(notes))
            paging.add(task)
            task.add_done_callback(_paged)

    rt.hooks.page_now = page_now
    paged_at_intake: dict[str, list[tuple[datetime, CaseSummary]]] = {}

    def joins_a_paged_case(report: ReportIn, case_id: str) -> bool:
        """Whether the report duplicates an open case (known to the index, or paged at intake moments ago):
        then the pipeline merges it, and paging it as a new case would page the on-call twice."""
        key = dedup_key(report.country, report.incident_type)
        index = rt.hooks.dedup_index
        now = utcnow()
        recent = [(at, c) for at, c in paged_at_intake.get(key, []) if now - at <= DUPLICATE_WINDOW][-200:]
        candidates = (index.get(key) if index is not None else []) + [c for _, c in recent]
        if find_duplicate(candidates, report) is not None:
            return True
        paged_at_intake[key] = [*recent, (now, CaseSummary.from_report(report, case_id))]
        return False

    @app.on_before_shutdown.connect
    async def close_providers(app, **kwargs) -> None:
        """Close provider connections (HTTP session, SMTP) before the worker exits."""
        await deliverer.close()

    sweeper = PlanSweeper(rt, deliverer)

    async def fan_out(action: CallToAction) -> None:
        """Fix the action's audience on first sight, then put its notifications on the bulk lane."""
        tb.actions[action.action_id] = action
        case = tb.cases.get(action.case_id)
        if case is None:
            raise ActionFailed(f"case {action.case_id} is not known to this worker")
        stats = dict(tb.action_stats.get(action.action_id) or {})
        if "plan_slices" not in stats:
            # First time: fix the audience. A replay after a crash or rebalance reuses it, so a member
            # import in between does not change who the action covers.
            members = select_members(tb.members.values(), action.audience, region_of)
            stats.update(record_plan(rt, action, members), started_at=utcnow().isoformat())
            tb.action_stats[action.action_id] = stats
            # The plan holds exactly the members the action reaches: their SIGN replies count for it.
            for part in planned_pairs(rt, action.action_id, stats["plan_slices"]):
                for member_id in part:
                    tb.latest_action[member_id] = action.action_id
        if stats.get("planned_at"):
            # A replay of an action already fanned out: whatever did not reach the ledger, the sweep sends.
            return
        # Built and sent a slice at a time: 100,000 members would otherwise hold 200,000 notifications
        # in memory at once before the first one leaves.
        for part in planned_pairs(rt, action.action_id, stats["plan_slices"]):
            await send_notifications(notifications_for(action, case, planned_members(rt, part), part))
        tb.action_stats[action.action_id] = {**stats, "planned_at": utcnow().isoformat()}

    @app.agent(t.actions_approved, name="fan_out_actions")
    async def fan_out_actions(stream):
        """One notification per (action, member, channel); replays produce the same keys."""
        async for action in stream:
            action: CallToAction
            try:
                await fan_out(action)
            except Exception as exc:  # noqa: BLE001 - an approved action is never lost silently
                reason = str(exc) if isinstance(exc, ActionFailed) else f"fan-out failed ({type(exc).__name__})"
                log.error("action %s failed: %s", action.action_id, reason)
                stats = dict(tb.action_stats.get(action.action_id) or {})
                tb.action_stats[action.action_id] = {**stats, "failed_at": utcnow().isoformat(), "failure": reason}
                await t.notifications_dlq.send(key=action.action_id.encode(), value=DeadLetter(
                    source_topic="actions.approved", key=action.action_id, stage="fan_out",
                    reasons=[FieldProblem(field="action", message=reason)], payload=action.model_dump_json()))

    async def deliver_lane(stream):
        async for batch in stream.take(BATCH, within=WITHIN):
            await deliverer.deliver_batch(batch)

    app.agent(t.notifications_priority, name="deliver_priority")(deliver_lane)
    # Several batches in flight: a batch waiting on slow sends does not hold up the next one.
    app.agent(t.notifications_bulk, name="deliver_bulk", concurrency=4)(deliver_lane)

    @app.agent(t.notifications_retry, name="deliver_retries", concurrency=4)
    async def deliver_retries(stream):
        """Retry temporary failures once their back-off has passed."""
        async for batch in stream.take(BATCH, within=WITHIN):
            due = max((n.not_before for n in batch if n.not_before), default=None)
            if due is not None:
                await asyncio.sleep(max(0.0, (due - utcnow()).total_seconds()))
            await deliverer.deliver_batch(batch)

    @app.agent(t.notifications_status, name="track_deliveries")
    async def track_deliveries(stream):
        """Apply provider receipts; an undelivered SMS ends in the dead-letter topic with its reason."""
        async for status in stream:
            status: DeliveryStatus
            if status.reason == "receipt":
                await settle_receipt(rt, status)

    @app.agent(t.replies_received, name="handle_replies")
    async def handle_replies(stream):
        """SIGN records a signature; STOP/START opt out or in; anything else gets help (3 a hour at most)."""
        async for reply in stream:
            await handle_reply(rt, reply, send_notifications)

    @app.timer(interval=max(1.0, rt.settings.delivery.reconcile_after_seconds / 3))
    async def reconcile_deliveries():
        """Finish what a lost receipt or a crash left unsettled (asks the provider, never resends blindly)."""
        acted = await deliverer.reconcile()
        if acted:
            log.info("reconciled %d unsettled notification(s)", acted)

    @app.timer(interval=max(1.0, rt.settings.delivery.plan_quiet_seconds / 3))
    async def sweep_plans():
        """Deliver planned notifications that never reached the ledger; stamp finished actions."""
        handed = await sweeper.sweep()
        if handed:
            log.warning("plan sweep handed %d notification(s) to the deliverer", handed)

    @app.timer(interval=3600.0)
    async def forget_old_webhooks():
        """Forget a MessageSid only once the replies topic no longer keeps its reply: a captured signed request
        replayed later must still be recognised as a repeat."""
        for key in expired_webhook_keys(dict(tb.webhook_seen.items()), utcnow(), webhook_memory_seconds(rt.settings)):
            del tb.webhook_seen[key]
        # A reporter retries a submission within minutes, not days: a day of Idempotency-Keys is plenty.
        day_ago = (utcnow() - timedelta(days=1)).isoformat()
        for key, seen in list(tb.intake_keys.items()):
            if seen.get("at", "") < day_ago:
                del tb.intake_keys[key]


async def handle_reply(rt: Runtime, reply: InboundReply, send) -> None:
    """Act on one inbound SMS."""
    from streams.members import publish_member

    tb = rt.tables
    member_id = tb.member_phones.get(reply.from_phone)
    member: Member | None = tb.members.get(member_id) if member_id else None
    if member is None:
        log.info("reply from a number that is not a member ignored (sid %s)", reply.message_sid)
        return
    intent, lang = intent_of(reply.body), member.language
    text, automatic = None, False
    if intent is Intent.sign:
        text = _sign(rt, member, reply) or render("replies.nothing_to_sign", lang)
    elif intent is Intent.stop:
        if Channel.sms not in member.opted_out:
            await publish_member(rt, member.model_copy(update={"opted_out": [*member.opted_out, Channel.sms]}))
        text = render("replies.stopped", lang)
    elif intent is Intent.start:
        await publish_member(rt, member.model_copy(update={"opted_out": [c for c in member.opted_out if c != Channel.sms]}))
        text = render("replies.started", lang)
    else:
        text, automatic = render("replies.help", lang), True
    if automatic and not _may_auto_reply(rt, reply.from_phone, rt.settings.delivery.auto_replies_per_hour):
        return
    await send([Notification(idempotency_key=f"reply:{reply.message_sid}", member_id=member.member_id,
                             channel=Channel.sms, to=reply.from_phone, language=lang, body=text, lane=Lane.priority)])


def _sign(rt: Runtime, member: Member, reply: InboundReply) -> str | None:
    """Record a signature on the member's latest open action; the thank-you text, or None if none is open."""
    tb = rt.tables
    action_id = tb.latest_action.get(member.member_id)
    action = tb.actions.get(action_id) if action_id else None
    if action is None or (action.deadline and action.deadline < reply.received_at):
        return None
    key = f"{action_id}|{member.member_id}"
    if key not in tb.signatures:
        tb.signatures[key] = {"member_id": member.member_id, "organization": member.organization,
                              "country": member.country, "signed_at": reply.received_at.isoformat()}
        stats = dict(tb.action_stats.get(action_id) or {})
        stats["signed"] = stats.get("signed", 0) + 1
        tb.action_stats[action_id] = stats
    return render("replies.signed", member.language, reference=action.reference)


def _may_auto_reply(rt: Runtime, phone: str, per_hour: int) -> bool:
    """At most `per_hour` automatic replies per number per hour."""
    now = utcnow()
    recent = [t for t in (rt.tables.auto_replies.get(phone) or []) if datetime.fromisoformat(t) > now - timedelta(hours=1)]
    if len(recent) >= per_hour:
        return False
    rt.tables.auto_replies[phone] = [*recent, now.isoformat()]
    return True
