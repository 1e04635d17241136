"""Sample report bodies for tests and benchmarks (fictional people and places).

    body = named(unique_name(), incident_type="abduction", country="pe")   # a report no other run joins
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from agents.classification import classify
from schemas.cases import StoredReport
from schemas.reports import ReportIn


def report(**overrides) -> dict:
    """A valid report body; keyword arguments replace fields."""
    body = {
        "incident_type": "arbitrary_detention",
        "country": "mx",
        "locality": "San Isidro",
        "occurred_at": (datetime.now(timezone.utc) - timedelta(hours=3)).isoformat(),
        "ongoing": False,
        "imminent_danger": False,
        "description": "Dos defensoras fueron detenidas por la policía municipal tras una asamblea comunitaria.",
        "language": "es",
        "defenders": [{"name": "Ana María Pérez", "organization": "Colectivo Tierra", "gender": "woman",
                       "groups": ["indigenous", "land_rights"], "detained": True, "incommunicado": False}],
        "people_affected": 2,
        "consent": "network",
    }
    body.update(overrides)
    return body


def unique_name(prefix: str = "Defensora") -> str:
    """A fictional defender name no other test uses (so duplicate detection never joins unrelated tests)."""
    return f"{prefix} {uuid.uuid4().hex[:12]}"


def named(name: str, **overrides) -> dict:
    """A valid report body about one defender of the given name."""
    defender = {"name": name, "organization": "Colectivo Tierra", "gender": "woman", "groups": ["indigenous"],
                "detained": True, "incommunicado": False}
    return report(defenders=[defender], **overrides)


def envelope(body, **overrides) -> dict:
    """An intake envelope (reports.submitted.v1) around a raw body, as the API would build it."""
    tag = uuid.uuid4().hex[:12]
    data = {"report_id": f"rep_{tag}", "case_id": f"case_{tag}", "reference": f"SOL-T{tag[:5].upper()}",
            "source": "drill", "report": body}
    data.update(overrides)
    return data


def stored(body: dict | None = None, report_id: str | None = None, reference: str = "SOL-TEST01"):
    """A validated and classified StoredReport (for folding tests)."""
    parsed = ReportIn.model_validate(body if body is not None else report())
    return StoredReport(report_id=report_id or f"rep_{uuid.uuid4().hex[:12]}", reference=reference,
                        received_at=datetime.now(timezone.utc), report=parsed, classification=classify(parsed))
