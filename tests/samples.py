"""Sample report bodies for tests (fictional people and places)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


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
