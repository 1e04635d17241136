"""Does a new report describe a case that is already open? Country, type, time and a defender's name."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from rapidfuzz import fuzz, process

from agents.imminence import fold_text
from schemas.base import PERSONAL, personal
from schemas.reports import ReportIn
from schemas.vocab import IncidentType

WINDOW = timedelta(hours=72)
"""Reports of the same incident further apart than this are separate cases."""

FUZZY_THRESHOLD = 0.9
"""Similarity (0..1) from which two normalised names are the same person (typos, missing letters)."""

_NOT_NAME = re.compile(r"[^\w]+|_")


def normalize_name(name: str) -> str:
    """Fold case and accents, drop punctuation and sort the words, so word order does not matter."""
    words = _NOT_NAME.sub(" ", fold_text(name)).split()
    return " ".join(sorted(words))


def _normalized(names: Iterable[str | None]) -> set[str]:
    # Unnamed defenders (None, blank, punctuation only) say nothing about identity.
    return {n for n in (normalize_name(name) for name in names if name) if n}


def names_match(a: Sequence[str | None], b: Sequence[str | None]) -> bool:
    """Whether any named defender of one list is a named defender of the other (exact or fuzzy)."""
    return _normalized_match(_normalized(a), _normalized(b))


def _normalized_match(left: Iterable[str], right: set[str]) -> bool:
    left = set(left)
    if not left.isdisjoint(right):
        return True
    cutoff = FUZZY_THRESHOLD * 100
    return any(fuzz.ratio(x, y, score_cutoff=cutoff) for x in left for y in right)


class CaseSummary(BaseModel):
    """What duplicate detection needs to know about an existing case (no free text)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    case_id: str | None = Field(None, description="The case summarised.")
    country: str = Field(description="ISO 3166-1 alpha-2, upper case.")
    incident_type: IncidentType
    occurred_at: datetime = Field(description="When the first report says it happened (aware).")
    names: Annotated[frozenset[str], PERSONAL] = personal(default_factory=frozenset,
                                                          description="Normalised defender names.")
    open: bool = Field(True, description="False once the case is closed or dismissed.")

    @classmethod
    def from_report(cls, report: ReportIn, case_id: str | None = None, open: bool = True) -> CaseSummary:
        """The summary of a case opened by this report."""
        return cls(
            case_id=case_id,
            country=report.country,
            incident_type=report.incident_type,
            occurred_at=report.occurred_at,
            names=frozenset(_normalized(d.name for d in report.defenders)),
            open=open,
        )


def _may_join(candidate: CaseSummary, report: ReportIn) -> bool:
    """Everything but the names: an open case of the same country and type, within the window."""
    return (candidate.open and candidate.country == report.country
            and candidate.incident_type == report.incident_type
            and abs(candidate.occurred_at - report.occurred_at) <= WINDOW)


def is_duplicate(candidate: CaseSummary, report: ReportIn) -> bool:
    """Whether the report joins the open case: same country and type, within 72 hours, a name in common."""
    if not _may_join(candidate, report):
        return False
    # Candidate names are stored normalised: only the report's names need folding.
    names = _normalized(d.name for d in report.defenders)
    return bool(names) and _normalized_match(candidate.names, names)


def find_duplicate(candidates: Iterable[CaseSummary], report: ReportIn) -> CaseSummary | None:
    """The first open case the report duplicates, or None."""
    names = _normalized(d.name for d in report.defenders)
    if not names:
        return None
    # Same answer as the first candidate for which is_duplicate holds, but the name comparison runs in
    # rapidfuzz's C loop over every candidate name at once: a per-candidate Python loop cost ~1.7 us per
    # open case of the key for every report, which made intake slow down as open cases piled up.
    live = [c for c in candidates if _may_join(c, report)]
    pool, owner = [], []
    for index, candidate in enumerate(live):
        for name in candidate.names:
            pool.append(name)
            owner.append(index)
    first = None
    for name in names:
        for _, _, at in process.extract(name, pool, scorer=fuzz.ratio, processor=None,
                                        score_cutoff=FUZZY_THRESHOLD * 100, limit=None):
            if first is None or owner[at] < first:
                first = owner[at]
    return None if first is None else live[first]
