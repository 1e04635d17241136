"""The faust agents of the report pipeline: loops around the plain functions in agents/."""

from __future__ import annotations

import json
import logging

from agents.casefile import apply_event
from agents.intake import dedup_key, index_dump, index_load, process_submission
from schemas.audit import TokenRecord
from schemas.cases import CaseEvent, CaseEventKind
from streams.runtime import Runtime

log = logging.getLogger("solidarity.pipeline")


def register_pipeline(rt: Runtime) -> None:
    """Register the report pipeline agents on the app."""
    app, t, tb = rt.app, rt.topics, rt.tables
    source = t.reports_submitted.get_topic_name()

    @app.agent(t.reports_submitted, name="validate_reports")
    async def validate_reports(stream):
        """Validate and classify each submission; open a case, merge a duplicate, or dead-letter it."""
        async for event in stream.events():
            key = event.key.decode("utf-8", "replace") if event.key else None
            outcome = process_submission(event.value, source, key, lambda k: index_load(tb.dedup_index.get(k)))
            if outcome.dead_letter is not None:
                problems = ", ".join(p.field for p in outcome.dead_letter.reasons)
                log.info("report rejected at partition %s offset %s: %s", event.message.partition,
                         event.message.offset, problems)
                await t.reports_dlq.send(key=event.key, value=outcome.dead_letter)
                continue
            for ev in outcome.events:
                await t.cases_events.send(key=ev.case_id.encode(), value=ev)
            tb.dedup_index[outcome.index_key] = index_dump(outcome.index)

    @app.agent(t.cases_index, name="update_case_index")
    async def update_case_index(stream):
        """Mark closed or dismissed cases so new reports no longer merge into them."""
        async for notice in stream:
            data = json.loads(notice)
            key = dedup_key(data["country"], data["incident_type"])
            entries = [e for e in index_load(tb.dedup_index.get(key)) if e.case_id != data["case_id"]]
            tb.dedup_index[key] = index_dump(entries)

    @app.agent(t.cases_events, name="apply_case_events")
    async def apply_case_events(stream):
        """Fold each case event into the cases table (idempotent on replays)."""
        async for ev in stream:
            ev: CaseEvent
            if ev.kind is CaseEventKind.alias:
                tb.case_aliases[ev.case_id] = ev.data["target"]
                continue
            before = tb.cases.get(ev.case_id)
            after = apply_event(before, ev)
            if after is None or after is before:
                continue
            tb.cases[ev.case_id] = after
            if ev.kind in (CaseEventKind.closed, CaseEventKind.dismissed):
                notice = {"case_id": after.case_id, "country": after.country, "incident_type": after.incident_type.value}
                await t.cases_index.send(key=dedup_key(after.country, after.incident_type).encode(),
                                         value=json.dumps(notice).encode())
            for hook in rt.extras.get("case_hooks", []):
                await hook(before, after, ev)

    @app.agent(t.auth_tokens, name="store_tokens")
    async def store_tokens(stream):
        """Keep the token table in step with the compacted token topic."""
        async for record in stream:
            record: TokenRecord
            tb.tokens[record.token_hash] = record
