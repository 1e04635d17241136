"""Folding case events into case state: the one place that says how a case changes."""

from __future__ import annotations

from schemas.cases import Case, CaseEvent, CaseEventKind
from schemas.vocab import CaseStatus, Consent, Urgency


class TransitionRefused(Exception):
    """The event does not apply to the case in its current state."""


ALLOWED_FROM: dict[CaseEventKind, set[CaseStatus]] = {
    CaseEventKind.verified: {CaseStatus.new},
    CaseEventKind.escalated: {CaseStatus.new, CaseStatus.verified},
    CaseEventKind.consent_changed: {CaseStatus.new, CaseStatus.verified},
    CaseEventKind.closed: {CaseStatus.new, CaseStatus.verified},
    CaseEventKind.dismissed: {CaseStatus.new, CaseStatus.verified},
    CaseEventKind.report_merged: {CaseStatus.new, CaseStatus.verified},
}


def check_transition(case: Case, kind: CaseEventKind, data: dict | None = None) -> None:
    """Raise TransitionRefused when `kind` may not happen to `case` now."""
    allowed = ALLOWED_FROM.get(kind)
    if allowed is not None and case.status not in allowed:
        raise TransitionRefused(f"a {case.status.value} case cannot be {kind.value.replace('_', ' ')}")
    if kind is CaseEventKind.escalated:
        new = Urgency((data or {})["urgency"])
        if new <= case.urgency:
            raise TransitionRefused(f"escalation may only raise urgency above {case.urgency.value}")


def open_case(event: CaseEvent) -> Case:
    """A new case from its `opened` event."""
    stored = event.report
    if stored is None:
        raise TransitionRefused("an opened event must carry its report")
    report, cls = stored.report, stored.classification
    return Case(
        case_id=event.case_id, reference=stored.reference, incident_type=report.incident_type,
        country=report.country, region=cls.region, consent=report.consent, urgency=cls.urgency,
        reasons=list(cls.reasons), mechanisms=list(cls.mechanisms), reports=[stored], history=[_bare(event)],
        opened_at=event.at, updated_at=event.at,
    )


def _bare(event: CaseEvent) -> CaseEvent:
    """The event as shown in the history: without the report body."""
    return event.model_copy(update={"report": None}) if event.report is not None else event


def apply_event(case: Case | None, event: CaseEvent) -> Case | None:
    """Return the case after `event`; replays of an event already applied change nothing."""
    if event.kind is CaseEventKind.opened:
        return case if case is not None else open_case(event)
    if case is None:
        return None
    if any(h.event_id == event.event_id for h in case.history):
        return case
    update: dict = {"updated_at": event.at, "history": [*case.history, _bare(event)]}
    kind, data = event.kind, event.data
    if kind is CaseEventKind.report_merged:
        stored = event.report
        if stored is None or any(r.report_id == stored.report_id for r in case.reports):
            return case
        update |= _merge(case, stored)
    elif kind is CaseEventKind.verified:
        update["status"] = CaseStatus.verified
    elif kind is CaseEventKind.escalated:
        new = Urgency(data["urgency"])
        if new > case.urgency:
            update["urgency"] = new
            update["reasons"] = [*case.reasons, f"escalated by the secretariat to {new.value}: {event.reason or ''}".rstrip(": ")]
    elif kind is CaseEventKind.consent_changed:
        update["consent"] = Consent(data["consent"])
    elif kind is CaseEventKind.closed:
        update["status"], update["outcome"] = CaseStatus.closed, event.reason
    elif kind is CaseEventKind.dismissed:
        update["status"], update["outcome"] = CaseStatus.dismissed, event.reason
    return case.model_copy(update=update)


def _merge(case: Case, stored) -> dict:
    """Fold a duplicate report in: highest urgency wins, the narrowest consent wins, mechanisms unite."""
    cls = stored.classification
    update: dict = {"reports": [*case.reports, stored]}
    if cls.urgency > case.urgency:
        update["urgency"] = cls.urgency
        update["reasons"] = [*cls.reasons, f"raised by merged report {stored.reference}"]
    update["mechanisms"] = sorted(set(case.mechanisms) | set(cls.mechanisms))
    narrower = min(case.consent, stored.report.consent)
    if narrower != case.consent:
        # Do no harm: a merged report can only narrow what may be shared, never widen it.
        update["consent"] = narrower
        update["mechanisms"] = [] if narrower is Consent.private else update["mechanisms"]
    return update
