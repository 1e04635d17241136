"""Filling the reporter form the way a person would."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


def fill_report(page, *, defender: str, incident: str = "enforced_disappearance", country: str = "MX",
                consent: str = "network", token: str | None = None, description: str | None = None) -> None:
    """Fill every required field (and a few optional ones) of /report."""
    if token is not None:
        page.fill("#token", token)
    page.select_option("#incident_type", incident)
    page.fill("#description", description or "Un defensor comunitario fue llevado por hombres armados y no se sabe dónde está.")
    page.check("input[name=imminent_danger]")
    page.select_option("#country", country)
    page.fill("#locality", "San Isidro")
    when = (datetime.now(timezone.utc) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    page.fill("#occurred_at", when)
    page.select_option("#tz", "+00:00")
    page.fill("#d0name", defender)
    page.fill("#d0org", "Colectivo Tierra")
    page.check(f"input[name=consent][value={consent}]")
