"""Escalation: page a case by its policy's steps until someone acknowledges, with timers kept in Kafka.

A high or critical case starts an escalation (agents/data/escalation.yaml picks the policy by urgency and
region): firing 0 pages at once, each later firing when its delay has passed without an acknowledgement. The
state of each escalation (how many firings have fired, when the next is due) is a row of the `escalations`
table, keyed and partitioned like the case, so the worker that owns the case owns its timer; the row is in the
table's changelog, so the worker that takes the partition over after a crash goes on from the step recorded.

A firing is: notifications with deterministic idempotency keys, then a `paged` case event with a deterministic
event id, then the row moved on. A worker killed anywhere in between makes its successor fire that firing again,
and the ledger (the keys) and the case file (the event id) each take it once: no page is lost or doubled.

The case's own history is the authority on acknowledgement: a row still active for a case whose history says
acknowledged is settled as acknowledged, so an acknowledgement is never lost to a crash between the case file's
write and this stage's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from agents import paging
from agents.paging import display
from agents.escalation import Policy, firings, load_policies, resolve_targets, select_policy
from agents.fanout import ALERT_LEVELS, address, template_values
from agents.oncall import OnCall, load_schedules, on_call
from agents.texts import render
from schemas.base import utcnow
from schemas.cases import Case, CaseEvent, CaseEventKind
from schemas.escalation import Escalation, EscalationStatus
from schemas.notifications import Lane, Notification
from schemas.vocab import Channel
from streams.ownership import Ownership, flowing
from streams.runtime import Runtime
from streams.stages.alerts import send_notifications

log = logging.getLogger("solidarity.notify")
SETTLED_KEEP = timedelta(days=1)  # a finished escalation's row stays this long (a late ACK still finds it)


def page_key(case_id: str, urgency: str, index: int, member_id: str, channel: Channel) -> str:
    """The idempotency key of one firing's page to one member on one channel (firing 0 keeps the alert key)."""
    if index == 0:
        return f"alert:{case_id}:{urgency}:{member_id}:{channel.value}"
    return f"page:{case_id}:{urgency}:{index}:{member_id}:{channel.value}"


class Escalator:
    """Starts, fires, acknowledges and ends escalations; answers who is on call."""

    def __init__(self, rt: Runtime, clock: Callable[[], datetime] = utcnow) -> None:
        self.rt, self.clock = rt, clock
        es = rt.settings.escalation
        self.schedules = load_schedules(es.schedules_file)
        self.policies = load_policies(es.policies_file, self.schedules)
        self.by_id = {p.id: p for p in self.policies}
        self.owner = Ownership(rt, rt.tables.escalations)
        self.ledger = Ownership(rt, rt.tables.ledger)
        self.locks: dict[str, asyncio.Lock] = {}
        self.sending: set[asyncio.Task] = set()

    def register(self) -> None:
        """The case hook, the timer, and the hook others use (intake's page, the on-call API)."""
        self.rt.hooks.escalator = self
        self.rt.hooks.case_hooks.append(self.on_case_event)
        self.rt.app.timer(interval=self.rt.settings.escalation.tick_seconds, name="fire_escalation_steps")(self.tick)

    # ---- who ------------------------------------------------------------------------------------------------

    def policy_for(self, case: Case) -> Policy | None:
        """The policy that pages this case, or None (below high, or no policy for its urgency and region)."""
        return select_policy(self.policies, case.urgency, case.region) if case.urgency in ALERT_LEVELS else None

    def on_call_now(self, at: datetime | None = None) -> list[OnCall]:
        """Who is on call now on every schedule."""
        at, roles = at or self.clock(), self.rt.views.members.with_role()
        return [on_call(s, at, roles.get(s.role, ()) if s.role else ()) for s in self.schedules.values()]

    def notifications(self, case: Case, policy: Policy, index: int, at: datetime) -> tuple[list[str], list[Notification]]:
        """Member ids firing `index` of the policy pages at `at`, and their notifications."""
        firing = firings(policy)[index]
        step = policy.steps[firing.step]
        members = self.rt.views.members
        ids = resolve_targets(step, self.schedules, at, members.with_role())
        link = f"{self.rt.settings.dashboard_url.rstrip('/')}/cases/{case.case_id}"
        notes: list[Notification] = []
        paged: list[str] = []
        for member_id in ids:
            member = members.get(member_id)
            if member is None:
                continue
            values = template_values(case, member.language) | {"link": link, "step": str(firing.step + 1)}
            text, subject = (("alert", "alert_subject") if index == 0 else ("paging.page", "paging.page_subject"))
            sent = False
            for channel in step.channels:
                if channel not in member.channels or channel in member.opted_out or not address(member, channel):
                    continue
                sent = True
                notes.append(Notification(
                    idempotency_key=page_key(case.case_id, case.urgency.value, index, member_id, channel),
                    member_id=member_id, channel=channel, to=address(member, channel), language=member.language,
                    body=render(text, member.language, **values), lane=Lane.priority, case_id=case.case_id,
                    subject=render(subject, member.language, **values) if channel is Channel.email else None))
            if sent:
                paged.append(member_id)
        return paged, notes

    def first_page(self, case: Case, at: datetime) -> list[Notification]:
        """Firing 0 of the case's policy: what intake pages at once, with the keys the escalation will use."""
        policy = self.policy_for(case)
        return self.notifications(case, policy, 0, at)[1] if policy is not None else []

    # ---- events ---------------------------------------------------------------------------------------------

    async def on_case_event(self, before: Case | None, after: Case, event: CaseEvent) -> None:
        """Start an escalation when a case reaches high or critical (or rises), and settle it when acknowledged,
        escalated at once (ESC), closed, dismissed or shredded."""
        if after.urgency in ALERT_LEVELS and (before is None or after.urgency > before.urgency) and not after.shredded:
            await self.start(after, event.at)
        elif event.kind is CaseEventKind.escalation_requested:
            await self.hurry(after.case_id)
        elif event.kind in (CaseEventKind.acknowledged, CaseEventKind.closed, CaseEventKind.dismissed,
                            CaseEventKind.shredded):
            await self.advance(after.case_id, after)

    async def start(self, case: Case, at: datetime) -> None:
        """A new escalation for the case at its urgency; firing 0 pages now."""
        policy = self.policy_for(case)
        if policy is None:
            log.warning("no escalation policy for urgency %s in %s: nobody paged", case.urgency.value, case.region.value)
            return
        async with self.lock(case.case_id):
            current = self.rt.tables.escalations.get(case.case_id)
            if current is not None and current.urgency >= case.urgency:
                return  # a replay of the event that started it
            self.rt.tables.escalations[case.case_id] = Escalation(
                case_id=case.case_id, reference=case.reference, policy_id=policy.id, urgency=case.urgency,
                started_at=at, next_at=at)
        await self.advance(case.case_id, case)

    async def hurry(self, case_id: str) -> None:
        """ESC: the next firing is due now."""
        async with self.lock(case_id):
            state = self.rt.tables.escalations.get(case_id)
            if state is not None and state.status is EscalationStatus.active:
                self.rt.tables.escalations[case_id] = state.model_copy(update={"next_at": self.clock()})
        await self.advance(case_id)

    # ---- the timer ------------------------------------------------------------------------------------------

    async def tick(self) -> None:
        """Fire every due step of the escalations whose partitions this worker owns."""
        if not flowing(self.rt):
            return
        now, active = self.clock(), self.owner.active()
        due = [key for key, state in self.rt.tables.escalations.items(lambda k: self.owner.owns(k, active))
               if self.pending(state, now)]
        for case_id in due:
            try:
                await self.advance(case_id)
            except Exception as exc:  # noqa: BLE001 - one bad row must not stop every other escalation
                log.error("escalation of %s not advanced: %s", case_id, type(exc).__name__)

    def pending(self, state: Escalation, now: datetime) -> bool:
        """Whether the row needs this worker's attention now."""
        if state.status is EscalationStatus.active:
            return state.next_at is not None and state.next_at <= now
        return now - (state.acknowledged_at or state.next_at or state.started_at) > SETTLED_KEEP

    def lock(self, case_id: str) -> asyncio.Lock:
        return self.locks.setdefault(case_id, asyncio.Lock())

    async def advance(self, case_id: str, case: Case | None = None) -> None:
        """Bring one escalation up to date: settle it, or fire its due firing."""
        tb = self.rt.tables
        async with self.lock(case_id):
            state = tb.escalations.get(case_id)
            if state is None:
                return
            case = tb.cases.get(case_id) or case or self.rt.views.cases.find(case_id)
            now = self.clock()
            if state.status is not EscalationStatus.active:
                if now - (state.acknowledged_at or state.next_at or state.started_at) > SETTLED_KEEP:
                    if case_id in tb.escalations:
                        del tb.escalations.table[case_id]
                    self.locks.pop(case_id, None)
                return
            if case is None or case.shredded or case.status.value in ("closed", "dismissed"):
                tb.escalations[case_id] = state.model_copy(update={"status": EscalationStatus.cancelled, "next_at": now})
                return
            if paging.paging(case) is paging.Paging.acknowledged and paging.current_pages(case):
                await self.acknowledged(case, state, paging.acknowledgement(case), now)
                return
            if state.next_at is None or state.next_at > now:
                return
            await self.fire(case, state, now)

    async def fire(self, case: Case, state: Escalation, now: datetime) -> None:
        """Fire the due firing: pages, the case event, then the row moved on (in this order: see the module)."""
        policy = self.by_id.get(state.policy_id)
        sequence = firings(policy) if policy is not None else []
        if state.fired >= len(sequence):
            await self.rt.topics.cases_events.send(key=case.case_id.encode(), value=CaseEvent(
                event_id=f"{case.case_id}:escalation-ended:{state.urgency.value}", case_id=case.case_id,
                kind=CaseEventKind.escalation_ended, actor="system", at=now,
                data={"policy": state.policy_id, "firings": state.fired}))
            self.rt.tables.escalations[case.case_id] = state.model_copy(
                update={"status": EscalationStatus.exhausted, "next_at": now})
            return
        firing = sequence[state.fired]
        members, notes = self.notifications(case, policy, firing.index, now)
        step = policy.steps[firing.step]
        # The case event first: an ACK sent by someone who has just read the page must find it in the case's
        # partition ahead of itself.
        await self.rt.topics.cases_events.send(key=case.case_id.encode(), value=CaseEvent(
            event_id=f"{case.case_id}:page:{state.urgency.value}:{firing.index}", case_id=case.case_id,
            kind=CaseEventKind.paged, actor="system", at=now,
            data={"policy": policy.id, "index": firing.index, "round": firing.round + 1, "step": firing.step + 1,
                  "members": members, "channels": [c.value for c in step.channels]}))
        await self.send(notes)
        due = (state.next_at or now) + step.delay
        self.rt.tables.escalations[case.case_id] = state.model_copy(update={
            "fired": state.fired + 1, "next_at": due,
            "paged": list(dict.fromkeys([*state.paged, *members]))})

    async def acknowledged(self, case: Case, state: Escalation, event: CaseEvent, now: datetime) -> None:
        """Stop the escalation; tell the acknowledger who else was paged, and everyone else who acknowledged."""
        members = self.rt.views.members
        acker_id = event.data.get("member_id")
        acker = members.get(acker_id) if acker_id else None
        name = display(acker) if acker is not None else event.actor
        paged = list(dict.fromkeys([*state.paged, *paging.paged_members(case)]))
        notes = []
        for member_id in paged:
            member = members.get(member_id)
            if member is None:
                continue
            if member_id == acker_id:
                others = [display(members.get(m)) for m in paged if m != member_id]
                body = render("paging.acknowledged_you", member.language, reference=case.reference,
                              names=", ".join(others) or render("paging.nobody_else", member.language))
            else:
                body = render("paging.acknowledged_by", member.language, reference=case.reference, name=name)
            channel = Channel.sms if member.phone and Channel.sms not in member.opted_out else Channel.email
            if not address(member, channel):
                continue
            notes.append(Notification(
                idempotency_key=f"acked:{case.case_id}:{state.urgency.value}:{member_id}:{channel.value}",
                member_id=member_id, channel=channel, to=address(member, channel), language=member.language,
                body=body, lane=Lane.priority, case_id=case.case_id,
                subject=body if channel is Channel.email else None))
        await self.send(notes)
        self.rt.tables.escalations[case.case_id] = state.model_copy(update={
            "status": EscalationStatus.acknowledged, "acknowledged_by": acker_id and f"member:{acker_id}" or event.actor,
            "acknowledged_at": event.at, "next_at": None, "paged": paged})

    async def send(self, notes: list[Notification]) -> None:
        """Record the notifications on the priority topic, and deliver at once the ones this worker's ledger owns
        (the priority agent's copy would wait behind its backlog; the ledger takes each key once)."""
        await send_notifications(self.rt, notes)
        deliverer = self.rt.hooks.deliverer
        active = self.ledger.active()
        mine = [n for n in notes if self.ledger.owns(n.idempotency_key, active)]
        if mine and deliverer is not None:
            task = asyncio.create_task(deliverer.deliver_batch(mine))
            self.sending.add(task)
            task.add_done_callback(self.sending.discard)
