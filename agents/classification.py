"""Classify a report: urgency with reasons, eligible mechanisms and network region."""

from __future__ import annotations

from agents.regions import load_region_table
from agents.routing import Catalogue, eligible_mechanisms, load_catalogue
from agents.urgency import assess_urgency
from schemas.cases import Classification
from schemas.reports import ReportIn


def classify(report: ReportIn, catalogue: Catalogue | None = None) -> Classification:
    """Urgency first, because mechanisms depend on it; then routing and the region."""
    urgency = assess_urgency(report)
    return Classification(
        urgency=urgency.level,
        reasons=list(urgency.reasons),
        mechanisms=eligible_mechanisms(report, urgency.level, catalogue or load_catalogue()),
        region=load_region_table().network_region(report.country),
    )


def classify_json(text: str) -> Classification:
    """Validate a JSON report body and classify it; raises pydantic.ValidationError for a bad body."""
    return classify(ReportIn.model_validate_json(text))
