"""Folding case events into case state: replays, merges, consent, escalation and mechanism recomputation."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from agents.casefile import TransitionRefused, apply_event, check_transition
from schemas.cases import CaseEvent, CaseEventKind
from schemas.vocab import CaseStatus, Consent, Urgency
from testing.samples import named, stored

EMERGENCY = {"fld-emergency", "iachr", "protectdefenders-eu", "uaf-whrd"}
"""Mechanisms of a Mexican case that only open at high urgency."""


def event(kind: CaseEventKind, case_id: str = "case_1", n: int = 1, report=None, reason="because", **data) -> CaseEvent:
    """A case event with a deterministic id."""
    return CaseEvent(event_id=f"evt_{kind.value}_{n}", case_id=case_id, kind=kind, actor="desk",
                     at=datetime(2026, 5, 1, 12, n, tzinfo=timezone.utc), reason=reason, data=data, report=report)


def opened(body=None):
    """A case opened by one judicial-harassment report from Mexico (medium urgency)."""
    first = stored(body or named("Ana Pérez", incident_type="judicial_harassment", consent="network"),
                   report_id="rep_first", reference="SOL-FIRST1")
    return apply_event(None, event(CaseEventKind.opened, report=first, report_id="rep_first"))


def fold(case, *events):
    for ev in events:
        case = apply_event(case, ev)
    return case


def test_opened_case_takes_the_reports_classification():
    case = opened()
    assert case.status is CaseStatus.new
    assert case.urgency is Urgency.medium
    assert case.consent is Consent.network
    assert "un-sr-hrd" in case.mechanisms and not EMERGENCY & set(case.mechanisms)
    assert [h.kind for h in case.history] == [CaseEventKind.opened]
    assert case.history[0].report is None, "the history must not repeat the report body"


def test_replaying_every_event_changes_nothing():
    merge = stored(named("Ana Perez", incident_type="judicial_harassment", ongoing=True, consent="mechanisms"))
    events = [
        event(CaseEventKind.report_merged, n=2, report=merge),
        event(CaseEventKind.verified, n=3),
        event(CaseEventKind.escalated, n=4, urgency="critical"),
        event(CaseEventKind.consent_changed, n=5, consent="public"),
        event(CaseEventKind.closed, n=6, reason="released"),
    ]
    once = fold(opened(), *events)
    twice = fold(once, *events)
    assert twice == once
    assert len(twice.reports) == 2
    assert [h.kind for h in twice.history].count(CaseEventKind.report_merged) == 1


def test_reopening_an_existing_case_keeps_it():
    case = fold(opened(), event(CaseEventKind.verified, n=2))
    again = apply_event(case, event(CaseEventKind.opened, report=stored(), n=9))
    assert again is case


def test_merge_keeps_both_reports_and_the_highest_urgency():
    critical = stored(named("Ana Pérez", incident_type="judicial_harassment", imminent_danger=True, ongoing=True,
                            people_affected=80), reference="SOL-SECOND")
    case = fold(opened(), event(CaseEventKind.report_merged, n=2, report=critical))
    assert [r.reference for r in case.reports] == ["SOL-FIRST1", "SOL-SECOND"]
    assert case.urgency is critical.classification.urgency is not Urgency.medium
    assert any("SOL-SECOND" in r for r in case.reasons)
    assert case.history[-1].kind is CaseEventKind.report_merged
    # Urgency rose, so the mechanisms that need a high urgency now apply.
    assert EMERGENCY <= set(case.mechanisms)


def test_merge_of_a_lower_urgency_report_keeps_the_case_urgency():
    case = fold(opened(), event(CaseEventKind.escalated, n=2, urgency="critical"))
    low = stored(named("Ana Pérez", incident_type="judicial_harassment"), reference="SOL-LOWER1")
    merged = apply_event(case, event(CaseEventKind.report_merged, n=3, report=low))
    assert merged.urgency is Urgency.critical and len(merged.reports) == 2


def test_merge_narrows_consent_and_private_drops_every_mechanism():
    private = stored(named("Ana Pérez", incident_type="judicial_harassment", consent="private"))
    case = fold(opened(), event(CaseEventKind.report_merged, n=2, report=private))
    assert case.consent is Consent.private
    assert case.mechanisms == []


def test_merge_never_widens_consent_nor_adds_mechanisms_to_a_private_case():
    case = opened(named("Ana Pérez", incident_type="judicial_harassment", consent="private"))
    assert case.mechanisms == []
    public = stored(named("Ana Pérez", incident_type="judicial_harassment", consent="public", imminent_danger=True))
    merged = apply_event(case, event(CaseEventKind.report_merged, n=2, report=public))
    assert merged.consent is Consent.private
    assert merged.mechanisms == [], "the merged report's own mechanisms must not leak into a private case"


def test_escalation_raises_urgency_records_why_and_recomputes_mechanisms():
    case = apply_event(opened(), event(CaseEventKind.escalated, n=2, urgency="high", reason="armed men at the house"))
    assert case.urgency is Urgency.high
    assert case.reasons[-1] == "escalated by the secretariat to high: armed men at the house"
    assert EMERGENCY <= set(case.mechanisms)


def test_consent_change_recomputes_mechanisms_both_ways():
    private = apply_event(opened(), event(CaseEventKind.consent_changed, n=2, consent="private"))
    assert private.consent is Consent.private and private.mechanisms == []
    back = apply_event(private, event(CaseEventKind.consent_changed, n=3, consent="mechanisms"))
    assert back.consent is Consent.mechanisms
    assert back.mechanisms == opened().mechanisms


def test_mechanisms_are_the_union_over_reports():
    # A second report naming a company brings the mechanisms that follow corporate actors.
    other = named("Ana Pérez", incident_type="judicial_harassment", corporate_actor="Minera Ejemplo SA")
    case = apply_event(opened(), event(CaseEventKind.report_merged, n=2, report=stored(other)))
    assert set(opened().mechanisms) <= set(case.mechanisms)
    assert "un-wg-business" in case.mechanisms and "un-wg-business" not in opened().mechanisms


@pytest.mark.parametrize("status_events, kind, data", [
    ([], CaseEventKind.escalated, {"urgency": "medium"}),
    ([], CaseEventKind.escalated, {"urgency": "low"}),
    ([], CaseEventKind.escalated, {"urgency": "extreme"}),
    ([], CaseEventKind.consent_changed, {}),
    ([CaseEventKind.verified], CaseEventKind.verified, {}),
    ([CaseEventKind.closed], CaseEventKind.verified, {}),
    ([CaseEventKind.closed], CaseEventKind.escalated, {"urgency": "critical"}),
    ([CaseEventKind.dismissed], CaseEventKind.closed, {}),
    ([CaseEventKind.dismissed], CaseEventKind.report_merged, {}),
])
def test_refused_transitions(status_events, kind, data):
    case = fold(opened(), *(event(k, n=2) for k in status_events))
    with pytest.raises(TransitionRefused):
        check_transition(case, kind, data)
    # Folding refuses them too: two racing requests cannot reopen a closed case.
    report = stored(named("Ana Pérez", incident_type="judicial_harassment")) if kind is CaseEventKind.report_merged else None
    assert apply_event(case, event(kind, n=7, report=report, **data)) is case


def test_close_and_dismiss_record_the_outcome():
    closed = apply_event(opened(), event(CaseEventKind.closed, n=2, reason="released after 3 days"))
    assert closed.status is CaseStatus.closed and closed.outcome == "released after 3 days"
    dismissed = apply_event(opened(), event(CaseEventKind.dismissed, n=2, reason="could not be verified"))
    assert dismissed.status is CaseStatus.dismissed and dismissed.outcome == "could not be verified"
    assert dismissed.history[-1].actor == "desk" and dismissed.history[-1].reason == "could not be verified"


def test_events_for_an_unknown_case_are_ignored():
    assert apply_event(None, event(CaseEventKind.verified)) is None
