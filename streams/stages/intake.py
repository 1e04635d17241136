"""Intake: validate and classify each submission, then open a case, merge a duplicate, or dead-letter it."""

from __future__ import annotations

import json
import logging

from agents.duplicates import CaseSummary
from agents.intake import dedup_key, index_dump, index_load, loggable_fields, process_submission, reject
from schemas.base import FieldProblem
from schemas.reports import ReportSubmitted
from streams import crypto
from streams.acking import each_event, each_value
from streams.runtime import Runtime

log = logging.getLogger("solidarity.pipeline")


def sealed(entries: list[dict]) -> list[dict]:
    """Index entries as stored: the defender names sealed under their case's key."""
    sealer = crypto.sealer()
    return [sealer.seal(CaseSummary, e) for e in entries]


def opened(entries: list[dict] | None) -> list[dict]:
    """Stored index entries with their names opened."""
    sealer = crypto.sealer()
    return [sealer.open(CaseSummary, e) for e in (entries or [])]


def open_envelope(payload: bytes | None) -> bytes | dict | None:
    """A submission as the intake rules read it: parsed, its report's personal fields opened (the bytes as they
    came when nothing in them is sealed, or they are not JSON)."""
    if not payload or crypto.sealing.SEALED.encode() not in payload:
        return payload
    try:
        data = json.loads(payload)
    except ValueError:
        return payload
    return crypto.sealer().open(ReportSubmitted, data) if isinstance(data, dict) else payload


def dead_letter_subject(payload: bytes | dict | None) -> str | None:
    """The case whose key seals a rejected submission, when its envelope names one."""
    try:
        data = payload if isinstance(payload, dict) else json.loads(payload or b"")
    except ValueError:
        return None
    case_id = data.get("case_id") if isinstance(data, dict) else None
    return f"case:{case_id}" if isinstance(case_id, str) and case_id else None


class DedupIndex:
    """The duplicate index: open cases by country|incident_type, one table row per case.

    Rows are keyed `<country>|<incident_type>|<case_id>`, so a report writes only the entries it changes to
    the changelog (a row holding every open case of a key was rewritten whole for every report, which grew
    with the index). Parsed entries are cached: this module is the table's only writer. The table is read
    once, on first use, which also picks up rows of the older one-row-per-key layout.

    The table is partitioned like reports.submitted.v1 and cases.index.v1 (both keyed country|incident_type),
    so the worker that validates a report holds every open case it could duplicate.
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
                    for entry in index_load(opened(value)):
                        cache.setdefault(row, {})[entry.case_id] = entry
                elif isinstance(value, dict):
                    key = row.rpartition("|")[0]
                    entry = CaseSummary.model_validate(crypto.sealer().open(CaseSummary, value))
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
                self.table[f"{key}|{case_id}"] = sealed(index_dump([entry]))[0]
        self._entries()[key] = new


CLOSED_STATUSES = ("closed", "dismissed")


def live_candidates(index: DedupIndex, cases, key: str) -> list[CaseSummary]:
    """The open cases a report of this country|incident_type key may join.

    The index hears of a case closed, or opened in place of a merge refused because its case had closed, through
    cases.index.v1, a moment after the case's state is published; every worker's view of cases (`cases`, a
    CaseView) may already show it. So entries the view knows closed are left out, and open cases the view holds
    that the index has not heard of are added: otherwise a report matching a just-closed case was refused into
    it and opened a case of its own, and the next report about the same defender opened a third. Entries the view
    has not seen yet (opened by this intake a moment ago) are kept."""
    entries = index.get(key)
    if cases is None:
        return entries
    live = []
    for entry in entries:
        case = cases.data.get(entry.case_id)
        if case is None or case.status.value not in CLOSED_STATUSES:
            live.append(entry)
    known = {entry.case_id for entry in entries}
    live.extend(summary for summary in cases.open_cases(key) if summary.case_id not in known)
    return live


class Intake:
    """The validate_reports and update_case_index agents."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.index = DedupIndex(rt.tables.dedup_index)
        # Intake's direct page must know a duplicate when it sees one.
        rt.hooks.dedup_index = self.index
        self.source = rt.topics.reports_submitted.get_topic_name()

    def register(self) -> None:
        app, t = self.rt.app, self.rt.topics
        app.agent(t.reports_submitted, name="validate_reports")(self.validate_reports)
        app.agent(t.cases_index, name="update_case_index")(self.update_case_index)

    def candidates(self, key: str) -> list[CaseSummary]:
        """Open cases of a key a report may join: the index's, brought up to date by the view of cases."""
        return live_candidates(self.index, getattr(self.rt.views, "cases", None), key)

    async def validate_reports(self, stream) -> None:
        """Validate and classify each submission; open a case, merge a duplicate, or dead-letter it."""
        t = self.rt.topics
        async for event in each_event(stream):
            key = event.key.decode("utf-8", "replace") if event.key else None
            payload = event.value
            try:
                payload = open_envelope(event.value)
                outcome = process_submission(payload, self.source, key, self.candidates)
            except Exception as exc:  # noqa: BLE001 - one bad message must not stop the intake
                log.error("intake failed with %s at partition %s offset %s", type(exc).__name__,
                          event.message.partition, event.message.offset)
                outcome = reject(self.source, key, payload,
                                 [FieldProblem(field="body", message="could not be processed")])
            if outcome.dead_letter is not None:
                outcome.dead_letter = outcome.dead_letter.model_copy(
                    update={"subject": dead_letter_subject(payload)})
                log.info("report rejected at partition %s offset %s: %s", event.message.partition,
                         event.message.offset, loggable_fields(outcome.dead_letter.reasons))
                await t.reports_dlq.send(key=event.key, value=outcome.dead_letter)
                continue
            for ev in outcome.events:
                await t.cases_events.send(key=ev.case_id.encode(), value=ev)
            self.index.put(outcome.index_key, outcome.index)

    async def update_case_index(self, stream) -> None:
        """Keep the duplicate index in step: drop closed or dismissed cases, add cases opened elsewhere."""
        async for notice in each_value(stream):
            data = json.loads(notice)
            key = dedup_key(data["country"], data["incident_type"])
            entries = [e for e in self.index.get(key) if e.case_id != data["case_id"]]
            if data.get("action") == "open":
                entries.append(CaseSummary.model_validate(crypto.sealer().open(CaseSummary, data["summary"])))
            self.index.put(key, entries)
