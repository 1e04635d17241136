"""Alerts: page every on-call member at once for a high or critical case, and a short update when a report joins it.

Two paths reach the same idempotency keys, so nobody is paged twice: intake pages straight from the API request
(`page_now`, before the pipeline has seen the report), and the case agent's hook pages when the case opens or
is escalated. The delivery ledger's owner sends whichever copy comes first and skips the other.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from agents.casefile import open_case
from agents.classification import classify
from agents.duplicates import WINDOW as DUPLICATE_WINDOW
from agents.duplicates import CaseSummary, find_duplicate
from agents.fanout import ALERT_LEVELS, alert_notifications, needs_alert, update_notifications
from agents.intake import dedup_key
from schemas.base import utcnow
from schemas.cases import Case, CaseEvent, CaseEventKind, StoredReport
from schemas.notifications import Lane, Notification
from schemas.reports import ReportIn, ReportSubmitted
from streams.ownership import Ownership
from streams.runtime import Runtime

log = logging.getLogger("solidarity.notify")


async def send_notifications(rt: Runtime, notes: list[Notification]) -> None:
    """Put notifications on their lane's topic (keyed by idempotency key: the ledger's owner delivers them)."""
    topic = {Lane.priority: rt.topics.notifications_priority, Lane.bulk: rt.topics.notifications_bulk}
    for n in notes:
        await topic[n.lane].send(key=n.idempotency_key.encode(), value=n)


def case_link(rt: Runtime, case_id: str) -> str:
    return f"{rt.settings.dashboard_url.rstrip('/')}/cases/{case_id}"


class Alerts:
    """The case hook that pages the on-call, and intake's direct page."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.ledger = Ownership(rt, rt.tables.ledger)
        self.paging: set[asyncio.Task] = set()
        self.paged_at_intake: dict[str, list[tuple[datetime, CaseSummary]]] = {}

    def register(self) -> None:
        self.rt.hooks.case_hooks.append(self.alert_secretariat)
        self.rt.hooks.page_now = self.page_now

    async def alert_secretariat(self, before: Case | None, after: Case, event: CaseEvent) -> None:
        """A new or escalated high/critical case pages every on-call member at once; a report merged into a
        case already paged sends one short update, at most every update_every_minutes, naming the case's own
        reference. Runs in the case agent, which owns case_notices for this case."""
        rt, tb = self.rt, self.rt.tables
        last = tb.case_notices.get(after.case_id)
        gap = timedelta(minutes=rt.settings.delivery.update_every_minutes)
        oncall = rt.views.members.oncall()
        if needs_alert(before, after):
            escalator = rt.hooks.escalator
            if escalator is not None and escalator.policy_for(after) is not None:
                # The escalator's own case hook pages by the case's policy (firing 0 now, later steps by timer).
                tb.case_notices[after.case_id] = event.at.isoformat()
                rt.hooks.alert_times[after.case_id] = event.at
                return
            notes = alert_notifications(after, oncall, case_link(rt, after.case_id))
        elif (event.kind is CaseEventKind.report_merged and before is not None
              and (last is None or event.at - datetime.fromisoformat(last) >= gap)):
            notes = update_notifications(after, oncall, case_link(rt, after.case_id), event.event_id)
        else:
            return
        if notes:
            await send_notifications(rt, notes)
            tb.case_notices[after.case_id] = event.at.isoformat()
            rt.hooks.alert_times[after.case_id] = event.at

    async def page_now(self, envelope: ReportSubmitted, report: ReportIn) -> None:
        """Page the on-call straight from intake for a report that classifies high or critical."""
        rt = self.rt
        stored = StoredReport(report_id=envelope.report_id, reference=envelope.reference,
                              received_at=envelope.received_at, source=envelope.source,
                              submitted_by=envelope.submitted_by, report=report,
                              classification=classify(report))
        if stored.classification.urgency not in ALERT_LEVELS or self.joins_a_paged_case(report, envelope.case_id):
            return
        case = open_case(CaseEvent(event_id=f"{envelope.report_id}:opened", case_id=envelope.case_id,
                                   kind=CaseEventKind.opened, actor="system", at=envelope.received_at,
                                   report=stored))
        escalator = rt.hooks.escalator
        if escalator is not None and escalator.policy_for(case) is not None:
            notes = escalator.first_page(case, utcnow())
        else:
            notes = alert_notifications(case, rt.views.members.oncall(), case_link(rt, case.case_id))
        # Recorded on the priority topic first (a crash from here on still pages). Then the ones whose ledger
        # partition this worker owns are sent at once: the priority agent's copy would queue behind whatever
        # backlog the consumer is working through. The others are the owning worker's to send: two workers
        # sending one key could page twice.
        await send_notifications(rt, notes)
        deliverer = rt.hooks.deliverer
        active = self.ledger.active()
        mine = [n for n in notes if self.ledger.owns(n.idempotency_key, active)]
        if mine and deliverer is not None:
            task = asyncio.create_task(deliverer.deliver_batch(mine))
            self.paging.add(task)
            task.add_done_callback(self._paged)

    def _paged(self, task: asyncio.Task) -> None:
        self.paging.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The copy on the priority topic will be delivered by the agent (or the reconciler).
            log.error("direct page failed: %s", type(task.exception()).__name__)

    def joins_a_paged_case(self, report: ReportIn, case_id: str) -> bool:
        """Whether the report duplicates an open case (known to the index or to every worker's view of cases,
        or paged at intake moments ago): then the pipeline merges it, and paging it as a new case would page
        the on-call twice."""
        key = dedup_key(report.country, report.incident_type)
        index = self.rt.hooks.dedup_index
        now = utcnow()
        recent = [(at, c) for at, c in self.paged_at_intake.get(key, []) if now - at <= DUPLICATE_WINDOW][-200:]
        candidates = ((index.get(key) if index is not None else []) + self.rt.views.cases.open_cases(key)
                      + [c for _, c in recent])
        if find_duplicate(candidates, report) is not None:
            return True
        self.paged_at_intake[key] = [*recent, (now, CaseSummary.from_report(report, case_id))]
        return False
