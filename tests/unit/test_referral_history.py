"""A referral's status as the case history tells it, and when its follow-up reminder falls due."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from agents.casefile import apply_event, tombstone
from schemas.cases import CaseEvent, CaseEventKind
from streams.services.referrals import referrals_of
from tests.unit.test_referral_packets import make_case

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def event(kind: CaseEventKind, n: int, **data) -> CaseEvent:
    return CaseEvent(event_id=f"e{n}", case_id="case_ref", kind=kind, actor="desk", at=T0 + timedelta(hours=n),
                     data={"referral_id": "ref_1", **data},
                     details={"perpetrators": "Policía municipal"} if kind is CaseEventKind.referral_drafted else {})


def folded(*events: CaseEvent):
    case = make_case()
    for e in events:
        case = apply_event(case, e)
    return case


def test_a_referral_moves_from_drafted_to_answered_and_keeps_what_the_secretariat_wrote():
    due = (T0 + timedelta(days=60)).isoformat()
    case = folded(event(CaseEventKind.referral_drafted, 0, mechanism="un-wgad", language="es"),
                  event(CaseEventKind.referral_sent, 1, via="email", follow_up_at=due))
    [ref] = referrals_of(case)
    assert (ref.status, ref.sent_via, ref.language, ref.mechanism) == ("sent", "email", "es", "un-wgad")
    assert ref.details == {"perpetrators": "Policía municipal"}
    assert "Detención Arbitraria" in ref.mechanism_name or "Arbitrary" in ref.mechanism_name
    assert not ref.due(T0 + timedelta(days=59))
    assert ref.due(T0 + timedelta(days=60, hours=1))
    acknowledged = apply_event(case, event(CaseEventKind.referral_acknowledged, 2))
    assert referrals_of(acknowledged)[0].due(T0 + timedelta(days=61)), "acknowledged is not answered: still due"
    answered = apply_event(acknowledged, event(CaseEventKind.referral_answered, 3))
    [done] = referrals_of(answered)
    assert done.status == "answered" and not done.due(T0 + timedelta(days=400))
    assert [e.kind for e in done.events] == [CaseEventKind.referral_drafted, CaseEventKind.referral_sent,
                                             CaseEventKind.referral_acknowledged, CaseEventKind.referral_answered]


def test_a_drafted_referral_is_never_due_and_a_replayed_event_changes_nothing():
    drafted = event(CaseEventKind.referral_drafted, 0, mechanism="un-sr-hrd", language="en")
    case = folded(drafted, drafted)
    [ref] = referrals_of(case)
    assert ref.status == "drafted" and not ref.due(T0 + timedelta(days=1000))
    assert len(case.history) == 1


def test_shredding_erases_what_the_secretariat_wrote_about_the_referral():
    case = folded(event(CaseEventKind.referral_drafted, 0, mechanism="un-wgad", language="es"))
    shredded = tombstone(case, CaseEvent(event_id="s", case_id="case_ref", kind=CaseEventKind.shredded, actor="desk",
                                         reason="erasure request"))
    assert all(not h.details for h in shredded.history)
