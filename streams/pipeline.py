"""The faust agents of the report pipeline: loops around the plain functions in agents/."""

from __future__ import annotations

import json
import logging

from agents.casefile import apply_event, refusal
from agents.duplicates import CaseSummary
from agents.intake import dedup_key, index_dump, index_load, loggable_fields, process_submission, reject
from schemas.audit import TokenRecord
from schemas.base import FieldProblem
from schemas.cases import CaseEvent, CaseEventKind
from schemas.vocab import CaseStatus
from streams.runtime import Runtime

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


class DedupIndex:
    """The duplicate index table with its parsed entries cached: this module is its only writer.

    Parsing and re-serialising every open case of a key for every report made intake O(open cases).
    """

    def __init__(self, table) -> None:
        self.table = table
        self._cache: dict[str, tuple[list[CaseSummary], list[dict]]] = {}

    def get(self, key: str) -> list[CaseSummary]:
        """Open cases of a country|incident_type key."""
        if key not in self._cache:
            raw = list(self.table.get(key) or [])
            self._cache[key] = (index_load(raw), raw)
        return list(self._cache[key][0])

    def put(self, key: str, entries: list[CaseSummary]) -> None:
        """Replace a key's entries, serialising only the ones that changed."""
        old, dumped = self._cache.get(key, ([], []))
        known = {id(e): d for e, d in zip(old, dumped)}
        fresh = [known.get(id(e)) or index_dump([e])[0] for e in entries]
        self._cache[key] = (list(entries), fresh)
        self.table[key] = fresh


def register_pipeline(rt: Runtime) -> None:
    """Register the report pipeline agents on the app."""
    app, t, tb = rt.app, rt.topics, rt.tables
    source = t.reports_submitted.get_topic_name()
    index = DedupIndex(tb.dedup_index)

    @app.agent(t.reports_submitted, name="validate_reports")
    async def validate_reports(stream):
        """Validate and classify each submission; open a case, merge a duplicate, or dead-letter it."""
        async for event in stream.events():
            key = event.key.decode("utf-8", "replace") if event.key else None
            try:
                outcome = process_submission(event.value, source, key, index.get)
            except Exception as exc:  # noqa: BLE001 - one bad message must not stop the intake
                log.error("intake failed with %s at partition %s offset %s", type(exc).__name__,
                          event.message.partition, event.message.offset)
                outcome = reject(source, key, event.value, [FieldProblem(field="body", message="could not be processed")])
            if outcome.dead_letter is not None:
                log.info("report rejected at partition %s offset %s: %s", event.message.partition,
                         event.message.offset, loggable_fields(outcome.dead_letter.reasons))
                await t.reports_dlq.send(key=event.key, value=outcome.dead_letter)
                continue
            for ev in outcome.events:
                await t.cases_events.send(key=ev.case_id.encode(), value=ev)
            index.put(outcome.index_key, outcome.index)

    @app.agent(t.cases_index, name="update_case_index")
    async def update_case_index(stream):
        """Keep the duplicate index in step: drop closed or dismissed cases, add cases opened elsewhere."""
        async for notice in stream:
            data = json.loads(notice)
            key = dedup_key(data["country"], data["incident_type"])
            entries = [e for e in index.get(key) if e.case_id != data["case_id"]]
            if data.get("action") == "open":
                entries.append(CaseSummary.model_validate(data["summary"]))
            index.put(key, entries)

    async def notify_index(case, action: str, summary: CaseSummary | None = None) -> None:
        notice = {"case_id": case.case_id, "country": case.country, "incident_type": case.incident_type.value,
                  "action": action}
        if summary is not None:
            notice["summary"] = json.loads(summary.model_dump_json())
        await t.cases_index.send(key=dedup_key(case.country, case.incident_type).encode(),
                                 value=json.dumps(notice).encode())

    @app.agent(t.cases_events, name="apply_case_events")
    async def apply_case_events(stream):
        """Fold each case event into the cases table (idempotent on replays)."""
        async for ev in stream:
            ev: CaseEvent
            if ev.kind is CaseEventKind.alias:
                tb.case_aliases[ev.case_id] = ev.data["target"]
                continue
            before = tb.cases.get(ev.case_id)
            try:
                after = apply_event(before, ev)
            except Exception as exc:  # noqa: BLE001 - a malformed event must not stop the case file
                log.error("case event %s (%s) not applied: %s", ev.event_id, ev.kind.value, type(exc).__name__)
                continue
            if after is before:
                why = refusal(before, ev)
                if why is not None:
                    log.warning("case event %s (%s) refused: %s", ev.event_id, ev.kind.value, why)
                    fallback = reopened(ev) if ev.kind is CaseEventKind.report_merged else None
                    if fallback is not None:
                        await t.cases_events.send(key=fallback.case_id.encode(), value=fallback)
                continue
            if after is None:
                continue
            tb.cases[ev.case_id] = after
            if ev.kind is CaseEventKind.opened and ev.reason:
                # Opened in place of a refused merge: the duplicate index must learn of it.
                summary = CaseSummary.from_report(ev.report.report, after.case_id)
                await notify_index(after, "open", summary)
            if after.status in (CaseStatus.closed, CaseStatus.dismissed) and before.status != after.status:
                await notify_index(after, "close")
            for hook in rt.extras.get("case_hooks", []):
                try:
                    await hook(before, after, ev)
                except Exception as exc:  # noqa: BLE001 - a failing hook must not stop the case file
                    log.error("case hook %s failed: %s", getattr(hook, "__name__", hook), type(exc).__name__)

    @app.agent(t.auth_tokens, name="store_tokens")
    async def store_tokens(stream):
        """Keep the token table in step with the compacted token topic."""
        async for record in stream:
            record: TokenRecord
            tb.tokens[record.token_hash] = record
