"""Retention: how long a finished case, and a month of data with no case of its own, keeps its personal data.

When the time is up the data is crypto-shredded: its data keys are destroyed, so every copy (topics, changelogs,
stores, backups) becomes unreadable at once, and the case stays as a tombstone (SECURITY.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from schemas.cases import CaseEventKind
from schemas.vocab import CaseStatus

PERIOD_PREFIX = "period:"
FINISHING = (CaseEventKind.closed.value, CaseEventKind.dismissed.value)


@dataclass(frozen=True)
class RetentionPolicy:
    """Days a dismissed or closed case keeps its data after it was finished, and a month's key after it ended."""

    dismissed_days: float
    closed_days: float
    period_days: float

    def days_for(self, status: CaseStatus) -> float | None:
        """The retention of a case in this status, or None while the case is still being worked on."""
        return {CaseStatus.dismissed: self.dismissed_days, CaseStatus.closed: self.closed_days}.get(status)


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def finished_at(case: Mapping[str, Any]) -> datetime | None:
    """When a case (its JSON) was last closed or dismissed; its last update if its history does not say."""
    for event in reversed(case.get("history") or []):
        if isinstance(event, Mapping) and event.get("kind") in FINISHING:
            return _when(event.get("at"))
    return _when(case.get("updated_at"))


def days_text(days: float) -> str:
    return f"{days:g} day{'' if days == 1 else 's'}"


def case_expiry(case: Mapping[str, Any], now: datetime, policy: RetentionPolicy) -> str | None:
    """The shred reason when a case's retention is over ('retention: dismissed 30 days'), else None.

    Reads only a case's non-personal fields (status, history kinds and dates), so a stored case need not be opened.
    """
    if case.get("shredded_at"):
        return None
    try:
        status = CaseStatus(case.get("status"))
    except ValueError:
        return None
    days = policy.days_for(status)
    since = finished_at(case)
    if days is None or since is None or now - since < timedelta(days=days):
        return None
    return f"retention: {status.value} {days_text(days)}"


def period_end(subject: str) -> datetime | None:
    """When the month of a `period:YYYY-MM` subject ends (UTC), or None for any other subject."""
    if not subject.startswith(PERIOD_PREFIX):
        return None
    try:
        start = datetime.strptime(subject[len(PERIOD_PREFIX):], "%Y-%m").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def expired_periods(subjects: Iterable[str], now: datetime, policy: RetentionPolicy) -> list[str]:
    """The month subjects whose month ended more than period_days ago (the current month never is)."""
    out = []
    for subject in subjects:
        end = period_end(subject)
        if end is not None and now - end >= timedelta(days=policy.period_days):
            out.append(subject)
    return sorted(out)
