"""Building the intake envelope: shared by the HTTP API and the command line."""

from __future__ import annotations

from agents.intake import dedup_key
from schemas.reports import ReportIn, ReportSubmitted
from streams.ids import new_id, new_reference


def build_submission(report: ReportIn, source: str, submitted_by: str | None) -> tuple[bytes, ReportSubmitted]:
    """The partition key and envelope for a validated report."""
    envelope = ReportSubmitted(
        report_id=new_id("rep"), case_id=new_id("case"), reference=new_reference(), source=source,
        submitted_by=submitted_by, report=report.model_dump(mode="json"),
    )
    return dedup_key(report.country, report.incident_type).encode(), envelope


def receipt(envelope: ReportSubmitted) -> dict[str, str]:
    """What the reporter gets back."""
    return {"report_id": envelope.report_id, "case_id": envelope.case_id, "reference": envelope.reference}
