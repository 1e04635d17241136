"""Folding case events into case state: the one place that says how a case changes."""

from __future__ import annotations

from agents import paging
from agents.routing import eligible_mechanisms
from schemas.cases import SHRED_REASON_MAX, Case, CaseEvent, CaseEventKind, StoredReport
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
    CaseEventKind.paged: {CaseStatus.new, CaseStatus.verified},
    CaseEventKind.acknowledged: {CaseStatus.new, CaseStatus.verified},
    CaseEventKind.escalation_requested: {CaseStatus.new, CaseStatus.verified},
}


def check_transition(case: Case, kind: CaseEventKind, data: dict | None = None) -> None:
    """Raise TransitionRefused when `kind` may not happen to `case` now."""
    if case.shredded:
        raise TransitionRefused(f"the case was shredded on {case.shredded_at:%Y-%m-%d}: its data is erased and it "
                                "can no longer change")
    allowed = ALLOWED_FROM.get(kind)
    if allowed is not None and case.status not in allowed:
        raise TransitionRefused(f"a {case.status.value} case cannot be {kind.value.replace('_', ' ')}")
    data = data or {}
    if kind in (CaseEventKind.acknowledged, CaseEventKind.escalation_requested):
        why = paging.refusal(case, kind)
        if why is not None:
            raise TransitionRefused(why)
    try:
        if kind is CaseEventKind.escalated:
            new = Urgency(data["urgency"])
            if new <= case.urgency:
                raise TransitionRefused(f"escalation may only raise urgency above {case.urgency.value}")
        elif kind is CaseEventKind.consent_changed:
            Consent(data["consent"])
    except (KeyError, ValueError):
        raise TransitionRefused(f"a {kind.value.replace('_', ' ')} event needs a valid level") from None


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


def case_mechanisms(reports: list[StoredReport], consent: Consent, urgency: Urgency) -> list[str]:
    """Mechanisms of a case: the union over its reports, each read with the case's consent and urgency."""
    found: set[str] = set()
    for stored in reports:
        found |= set(eligible_mechanisms(stored.report.model_copy(update={"consent": consent}), urgency))
    return sorted(found)


def refusal(case: Case | None, event: CaseEvent) -> str | None:
    """Why `event` cannot be folded into `case`, or None when it applies (or is a harmless replay)."""
    if event.kind is CaseEventKind.opened:
        return None if case is not None or event.report is not None else "an opened event must carry its report"
    if case is None:
        return "no such case"
    if event.kind is CaseEventKind.alias or any(h.event_id == event.event_id for h in case.history):
        return None
    try:
        check_transition(case, event.kind, event.data)
    except TransitionRefused as exc:
        return str(exc)
    if event.kind is CaseEventKind.report_merged and event.report is None:
        return "a merge event must carry its report"
    return None


def apply_event(case: Case | None, event: CaseEvent) -> Case | None:
    """Return the case after `event`; replays and events that do not apply (see `refusal`) change nothing."""
    if event.kind is CaseEventKind.opened:
        return case if case is not None or event.report is None else open_case(event)
    if case is None or event.kind is CaseEventKind.alias:
        return case
    if any(h.event_id == event.event_id for h in case.history):
        return case
    if refusal(case, event) is not None:
        # Two secretariat requests may race (close, then verify): the first one folded wins.
        return case
    update: dict = {"updated_at": event.at, "history": [*case.history, _bare(event)]}
    kind, data = event.kind, event.data
    if kind is CaseEventKind.report_merged:
        stored = event.report
        if any(r.report_id == stored.report_id for r in case.reports):
            return case
        update |= _merge(case, stored)
    elif kind is CaseEventKind.verified:
        update["status"] = CaseStatus.verified
    elif kind is CaseEventKind.escalated:
        new = Urgency(data["urgency"])
        update["urgency"] = new
        update["reasons"] = [*case.reasons, f"escalated by the secretariat to {new.value}: {event.reason or ''}".rstrip(": ")]
        update["mechanisms"] = case_mechanisms(case.reports, case.consent, new)
    elif kind is CaseEventKind.consent_changed:
        consent = Consent(data["consent"])
        update["consent"] = consent
        update["mechanisms"] = case_mechanisms(case.reports, consent, case.urgency)
    elif kind is CaseEventKind.closed:
        update["status"], update["outcome"] = CaseStatus.closed, event.reason
    elif kind is CaseEventKind.dismissed:
        update["status"], update["outcome"] = CaseStatus.dismissed, event.reason
    elif kind is CaseEventKind.shredded:
        return tombstone(case, event)
    return case.model_copy(update=update)


def tombstone(case: Case, event: CaseEvent) -> Case:
    """The case after crypto-shredding: what it was (reference, dates, urgency, place, consent, mechanisms, counts,
    the kinds, actors and dates of its history), with nothing a person wrote or reported: no reports, no urgency
    reasons, no outcome, no free-text reason in its history."""
    history = [h.model_copy(update={"reason": None, "report": None, "details": {}}) for h in [*case.history, event]]
    return case.model_copy(update={
        "reports": [], "reasons": [], "outcome": None, "history": history, "updated_at": event.at,
        "shredded_at": event.at, "shred_reason": (event.reason or "")[:SHRED_REASON_MAX] or None,
        "report_count": case.reports_total,
    })


def merged_ids(case: Case) -> list[str]:
    """Every case id whose data is this case's: its own, and each id a report merged into it was proposed at intake
    (that report's copy on reports.submitted.v1 is sealed under it). Shredding a case shreds them all.

    Read from the case's own history, never from the aliases on cases.state.v1: a merge refused because the case
    had closed leaves an alias behind, while the report became a case of its own under that id.
    """
    ids = {case.case_id}
    ids |= {h.data["proposed_case_id"] for h in case.history
            if h.kind is CaseEventKind.report_merged and isinstance(h.data.get("proposed_case_id"), str)}
    return sorted(i for i in ids if i)


def _merge(case: Case, stored: StoredReport) -> dict:
    """Fold a duplicate report in: highest urgency wins, the narrowest consent wins, mechanisms recomputed."""
    cls = stored.classification
    reports = [*case.reports, stored]
    update: dict = {"reports": reports}
    urgency = case.urgency
    if cls.urgency > case.urgency:
        urgency = update["urgency"] = cls.urgency
        update["reasons"] = [*cls.reasons, f"raised by merged report {stored.reference}"]
    # Do no harm: a merged report can only narrow what may be shared, never widen it.
    consent = update["consent"] = min(case.consent, stored.report.consent)
    # Recomputed rather than united: the new report's own mechanisms were chosen under its own consent,
    # which may be wider than the case's.
    update["mechanisms"] = case_mechanisms(reports, consent, urgency)
    return update
