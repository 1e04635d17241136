"""Cases: fold each case event into the cases table, publish the case's new state, and run the case hooks."""

from __future__ import annotations

import json
import logging

from agents.casefile import apply_event, refusal
from agents.duplicates import CaseSummary
from agents.intake import dedup_key
from schemas.cases import Case, CaseEvent, CaseEventKind, CaseSnapshot
from schemas.vocab import CaseStatus
from streams import crypto
from streams.acking import each_value
from streams.runtime import Runtime
from streams.stages.retention import shred_case_keys

log = logging.getLogger("solidarity.pipeline")


def reopened(ev: CaseEvent) -> CaseEvent | None:
    """A merge refused because its case was closed meanwhile: open the report's own case instead."""
    proposed = ev.data.get("proposed_case_id")
    if ev.report is None or not proposed:
        return None
    return CaseEvent(
        event_id=f"{ev.report.report_id}:opened", case_id=proposed, kind=CaseEventKind.opened, actor="system",
        at=ev.at, reason=f"case {ev.case_id} was closed before this report could join it",
        data={"report_id": ev.report.report_id}, report=ev.report,
    )


class CaseFile:
    """The apply_case_events agent: the only writer of the cases table and of cases.state.v1."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def register(self) -> None:
        self.rt.app.agent(self.rt.topics.cases_events, name="apply_case_events")(self.apply_case_events)

    async def apply_case_events(self, stream) -> None:
        """Fold each case event into the cases table (idempotent on replays)."""
        async for ev in each_value(stream):
            await self.apply(ev)

    async def apply(self, ev: CaseEvent) -> None:
        """Apply one event; publish the state every worker reads; run the hooks (alerts, metrics)."""
        t, tb = self.rt.topics, self.rt.tables
        if ev.kind is CaseEventKind.alias:
            await t.cases_state.send(key=ev.case_id.encode(), value=CaseSnapshot(alias_of=ev.data["target"]))
            return
        before = tb.cases.get(ev.case_id)
        try:
            after = apply_event(before, ev)
        except Exception as exc:  # noqa: BLE001 - a malformed event must not stop the case file
            log.error("case event %s (%s) not applied: %s", ev.event_id, ev.kind.value, type(exc).__name__)
            return
        if after is before and ev.kind is CaseEventKind.shredded and before is not None and before.shredded:
            # Shredded already (a replay, a second request, or a retry after a crash between tombstone and keys).
            await t.cases_state.send(key=ev.case_id.encode(), value=CaseSnapshot(case=before))
            await shred_case_keys(self.rt, before, ev)
            return
        if after is before:
            why = refusal(before, ev)
            if why is not None:
                log.warning("case event %s (%s) refused: %s", ev.event_id, ev.kind.value, why)
                fallback = reopened(ev) if ev.kind is CaseEventKind.report_merged else None
                if fallback is not None:
                    await t.cases_events.send(key=fallback.case_id.encode(), value=fallback)
            elif before is not None:
                # A replay (after a crash or rebalance) of an event already applied: the state published then
                # may not have reached the broker, so publish it again (compaction keeps one).
                await t.cases_state.send(key=ev.case_id.encode(), value=CaseSnapshot(case=before))
            return
        if after is None:
            return
        tb.cases[ev.case_id] = after
        await t.cases_state.send(key=ev.case_id.encode(), value=CaseSnapshot(case=after))
        if ev.kind is CaseEventKind.opened and ev.reason:
            # Opened in place of a refused merge: the duplicate index must learn of it.
            summary = CaseSummary.from_report(ev.report.report, after.case_id)
            await self.notify_index(after, "open", summary)
        if after.status in (CaseStatus.closed, CaseStatus.dismissed) and before.status != after.status:
            await self.notify_index(after, "close")
        if ev.kind is CaseEventKind.shredded:
            # The tombstone first (above), then the keys: from here on no copy of the case's data opens.
            if before.status not in (CaseStatus.closed, CaseStatus.dismissed):
                await self.notify_index(after, "close")
            await shred_case_keys(self.rt, after, ev)
        for hook in self.rt.hooks.case_hooks:
            try:
                await hook(before, after, ev)
            except Exception as exc:  # noqa: BLE001 - a failing hook must not stop the case file
                log.error("case hook %s failed: %s", getattr(hook, "__name__", hook), type(exc).__name__)

    async def notify_index(self, case: Case, action: str, summary: CaseSummary | None = None) -> None:
        """Tell the duplicate index (partitioned by country|incident_type) that a case opened or closed."""
        notice = {"case_id": case.case_id, "country": case.country, "incident_type": case.incident_type.value,
                  "action": action}
        if summary is not None:
            # The defender names are sealed under the case's key, as in the index table.
            notice["summary"] = crypto.sealer().seal(CaseSummary, summary.model_dump(mode="json"))
        await self.rt.topics.cases_index.send(key=dedup_key(case.country, case.incident_type).encode(),
                                              value=json.dumps(notice).encode())
