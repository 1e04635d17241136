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
    """The duplicate index: open cases by country|incident_type, one table row per case.

    Rows are keyed `<country>|<incident_type>|<case_id>`, so a report writes only the entries it changes to
    the changelog (a row holding every open case of a key was rewritten whole for every report, which grew
    with the index). Parsed entries are cached: this module is the table's only writer. The table is read
    once, on first use, which also picks up rows of the older one-row-per-key layout.
    """

    def __init__(self, table) -> None:
        self.table = table
        self._cache: dict[str, dict[str, CaseSummary]] | None = None
        self._legacy: set[str] = set()

    def _entries(self) -> dict[str, dict[str, CaseSummary]]:
        if self._cache is None:
            cache: dict[str, dict[str, CaseSummary]] = {}
            for row, value in list(self.table.items()):
                if isinstance(value, list):  # older layout: every entry of a key in one row
                    self._legacy.add(row)
                    for entry in index_load(value):
                        cache.setdefault(row, {})[entry.case_id] = entry
                elif isinstance(value, dict):
                    key = row.rpartition("|")[0]
                    entry = CaseSummary.model_validate(value)
                    cache.setdefault(key, {})[entry.case_id] = entry
            self._cache = cache
        return self._cache

    def get(self, key: str) -> list[CaseSummary]:
        """Open cases of a country|incident_type key, oldest first."""
        return list(self._entries().get(key, {}).values())

    def put(self, key: str, entries: list[CaseSummary]) -> None:
        """Replace a key's entries, writing only the rows that changed."""
        old = self._entries().get(key, {})
        new = {e.case_id: e for e in entries}
        if key in self._legacy:
            del self.table[key]
            self._legacy.discard(key)
            old = {}
        for case_id in old.keys() - new.keys():
            del self.table[f"{key}|{case_id}"]
        for case_id, entry in new.items():
            if old.get(case_id) is not entry:
                self.table[f"{key}|{case_id}"] = index_dump([entry])[0]
        self._entries()[key] = new


def register_pipeline(rt: Runtime) -> None:
    """Register the report pipeline agents on the app."""
    app, t, tb = rt.app, rt.topics, rt.tables
    source = t.reports_submitted.get_topic_name()
    index = DedupIndex(tb.dedup_index)
    # Intake pages the on-call before this agent has seen the report; it must know a duplicate when it sees one.
    rt.hooks.dedup_index = index

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
            for hook in rt.hooks.case_hooks:
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
