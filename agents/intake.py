"""Intake: turn one raw submission into case events or a dead letter (plain function, no I/O)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import ValidationError

from agents.classification import classify
from agents.duplicates import CaseSummary, find_duplicate
from schemas.base import FieldProblem, problems_from
from schemas.cases import CaseEvent, CaseEventKind, StoredReport
from schemas.deadletters import DeadLetter
from schemas.reports import ReportIn, ReportSubmitted


@dataclass
class IntakeOutcome:
    """What the intake stage decided for one submission."""

    events: list[CaseEvent] = field(default_factory=list)
    dead_letter: DeadLetter | None = None
    index: list[CaseSummary] | None = None
    index_key: str | None = None
    case_id: str | None = None
    merged: bool = False


def dedup_key(country: str, incident_type: str) -> str:
    """Key that co-locates possible duplicates on one partition."""
    return f"{country.upper()}|{incident_type}"


def dedup_key_of(raw: dict) -> str:
    """Best-effort dedup key of a raw body (any key works for a body that will be rejected)."""
    country = raw.get("country") if isinstance(raw, dict) else None
    itype = raw.get("incident_type") if isinstance(raw, dict) else None
    return dedup_key(country if isinstance(country, str) else "", itype if isinstance(itype, str) else "")


def loggable_fields(problems: list[FieldProblem]) -> str:
    """The problems' field paths for a log line; names of unknown fields are the sender's words, so hidden."""
    paths = []
    for p in problems:
        if p.message == "unknown field":
            parent = p.field.rpartition(".")[0]
            paths.append(f"{parent}.<unknown>" if parent else "<unknown>")
        else:
            paths.append(p.field)
    return ", ".join(paths)


def reject(source: str, key: str | None, payload: bytes | str | dict | None,
           problems: list[FieldProblem]) -> IntakeOutcome:
    """An outcome that dead-letters the payload with its problems."""
    if isinstance(payload, dict):
        text = json.dumps(payload, ensure_ascii=False, default=str)
    else:
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else (payload or "")
    return IntakeOutcome(dead_letter=DeadLetter(source_topic=source, key=key, reasons=problems, payload=text, stage="validate"))


def parse_submission(payload: bytes | dict | None) -> tuple[ReportSubmitted, ReportIn] | list[FieldProblem]:
    """Validate envelope and body (JSON bytes, or JSON already parsed); return both, or every problem found (paths
    relative to the envelope)."""
    if not payload:
        return [FieldProblem(field="body", message="empty message")]
    try:
        envelope = (ReportSubmitted.model_validate(payload) if isinstance(payload, dict)
                    else ReportSubmitted.model_validate_json(payload))
    except ValidationError as exc:
        return problems_from(exc)
    try:
        return envelope, ReportIn.model_validate(envelope.report)
    except ValidationError as exc:
        # The dead letter keeps the whole envelope, so body problems are named from there: report.country.
        return [p.model_copy(update={"field": f"report.{p.field}" if p.field != "body" else "report"})
                for p in problems_from(exc)]


def process_submission(
    payload: bytes | dict | None, source: str, key: str | None, lookup: Callable[[str], list[CaseSummary]],
) -> IntakeOutcome:
    """Validate, classify and either open a case or merge into an open duplicate."""
    parsed = parse_submission(payload)
    if isinstance(parsed, list):
        return reject(source, key, payload, parsed)
    envelope, report = parsed
    index_key = dedup_key(report.country, report.incident_type)
    index = lookup(index_key)
    stored = StoredReport(
        report_id=envelope.report_id, reference=envelope.reference, received_at=envelope.received_at,
        source=envelope.source, submitted_by=envelope.submitted_by, report=report, classification=classify(report),
    )
    summary = CaseSummary.from_report(report, envelope.case_id)
    for candidate in index:
        if candidate.case_id == envelope.case_id:
            # A replay of a submission already opened: emit the same (idempotent) opened event.
            return IntakeOutcome(events=[_opened(envelope, stored)], index=index, index_key=index_key, case_id=envelope.case_id)
    match = find_duplicate(index, report)
    if match is None:
        return IntakeOutcome(events=[_opened(envelope, stored)], index=[*index, summary], index_key=index_key, case_id=envelope.case_id)
    merged = CaseEvent(
        event_id=f"{envelope.report_id}:merged", case_id=match.case_id, kind=CaseEventKind.report_merged,
        actor="system", at=envelope.received_at, reason=f"report {envelope.reference} matches this case",
        data={"report_id": envelope.report_id, "reference": envelope.reference, "proposed_case_id": envelope.case_id},
        report=stored,
    )
    alias = CaseEvent(
        event_id=f"{envelope.report_id}:alias", case_id=envelope.case_id, kind=CaseEventKind.alias,
        actor="system", at=envelope.received_at, data={"target": match.case_id},
    )
    # The case now also answers to the merged report's names.
    widened = [c if c.case_id != match.case_id else c.model_copy(update={"names": c.names | summary.names}) for c in index]
    return IntakeOutcome(events=[merged, alias], index=widened, index_key=index_key, case_id=match.case_id, merged=True)


def _opened(envelope: ReportSubmitted, stored: StoredReport) -> CaseEvent:
    return CaseEvent(
        event_id=f"{envelope.report_id}:opened", case_id=envelope.case_id, kind=CaseEventKind.opened,
        actor="system", at=envelope.received_at, data={"report_id": envelope.report_id}, report=stored,
    )


def index_dump(index: list[CaseSummary]) -> list[dict]:
    """JSON-ready form of a duplicate index entry (a table value)."""
    return [json.loads(c.model_dump_json()) for c in index]


def index_load(value: list[dict] | None) -> list[CaseSummary]:
    """Index entries back from a table value."""
    return [CaseSummary.model_validate(v) for v in (value or [])]
