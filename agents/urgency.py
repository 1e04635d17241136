"""How fast the network must act on a report: a base level per incident type, raised by escalators."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from agents.imminence import find_imminence
from schemas.reports import ReportIn
from schemas.vocab import IncidentType as T
from schemas.vocab import Urgency

_LEVELS: dict[Urgency, tuple[T, ...]] = {
    Urgency.critical: (T.killing, T.attempted_killing, T.enforced_disappearance, T.abduction),
    Urgency.high: (
        T.arbitrary_detention, T.torture_ill_treatment, T.physical_attack, T.sexual_violence,
        T.death_threat, T.raid_search, T.forced_eviction,
    ),
    Urgency.medium: (
        T.judicial_harassment, T.threat_intimidation, T.land_grab, T.surveillance, T.smear_campaign,
        T.travel_ban, T.org_closure,
    ),
    Urgency.low: (T.other,),
}

BASE_LEVELS: Mapping[T, Urgency] = MappingProxyType(
    {incident: level for level, incidents in _LEVELS.items() for incident in incidents}
)
"""The base urgency of every incident type."""

# Harm to the body or liberty that, while it goes on, gets worse by the hour.
ONGOING_PHYSICAL_TYPES: frozenset[T] = frozenset({
    T.arbitrary_detention, T.torture_ill_treatment, T.physical_attack, T.sexual_violence,
    T.forced_eviction, T.raid_search,
})

COLLECTIVE_THRESHOLD = 50
"""People affected from which a case counts as collective."""

_ORDER = list(Urgency)


def base_level(incident_type: T) -> Urgency:
    """The urgency of an incident type before any escalator."""
    return BASE_LEVELS[incident_type]


def raise_level(level: Urgency) -> Urgency:
    """One level up, never above critical."""
    return _ORDER[min(_ORDER.index(level) + 1, len(_ORDER) - 1)]


def imminence_reason(report: ReportIn) -> str | None:
    """Why the harm is imminent (flag and/or phrase found), or None; the flag and text count once."""
    hit = find_imminence(report.description)
    said = f'description says "{hit.found}"' if hit else None
    if report.imminent_danger and said:
        return f"imminence: imminent_danger flag set and {said}"
    if report.imminent_danger:
        return "imminence: imminent_danger flag set"
    return f"imminence: {said}" if said else None


def incommunicado_reason(report: ReportIn) -> str | None:
    """Why a defender is held incommunicado, or None."""
    held = sum(1 for d in report.defenders if d.detained and d.incommunicado)
    if not held:
        return None
    return f"incommunicado: {held} defender{'s' if held > 1 else ''} detained incommunicado"


def ongoing_reason(report: ReportIn) -> str | None:
    """Why physical harm is still going on, or None."""
    if report.ongoing and report.incident_type in ONGOING_PHYSICAL_TYPES:
        return f"ongoing: {report.incident_type.value} still going on"
    return None


def collective_reason(report: ReportIn) -> str | None:
    """Why the case is collective (many people affected), or None."""
    affected = report.people_affected
    if affected is not None and affected >= COLLECTIVE_THRESHOLD:
        return f"collective: {affected} people affected (>= {COLLECTIVE_THRESHOLD})"
    return None


ESCALATORS: tuple[Callable[[ReportIn], str | None], ...] = (
    imminence_reason,
    incommunicado_reason,
    ongoing_reason,
    collective_reason,
)
"""Each returns a reason when it applies; each that applies raises the level by one."""


@dataclass(frozen=True)
class UrgencyResult:
    """The urgency of a report with one reason line per rule applied."""

    level: Urgency
    base: Urgency
    reasons: tuple[str, ...]


def assess_urgency(report: ReportIn) -> UrgencyResult:
    """Base level of the incident type raised once per escalator that applies, capped at critical."""
    base = base_level(report.incident_type)
    level = base
    reasons = [f"base: {report.incident_type.value} is {base.value}"]
    for escalator in ESCALATORS:
        reason = escalator(report)
        if reason is None:
            continue
        raised = raise_level(level)
        # A capped escalator is still recorded: the secretariat reads why, not only how high.
        change = f"{level.value} -> {raised.value}" if raised != level else "already critical"
        reasons.append(f"{reason} ({change})")
        level = raised
    return UrgencyResult(level=level, base=base, reasons=tuple(reasons))
