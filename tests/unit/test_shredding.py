"""Crypto-shredding a case: the tombstone keeps what the case was and nothing a person wrote or reported; a repeat is
harmless; nothing changes a shredded case again; the worker destroys the keys of the case and of every id merged
into it, after which every sealed copy opens only as placeholders."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from agents.casefile import TransitionRefused, apply_event, check_transition, merged_ids, refusal
from schemas.cases import Case, CaseEvent, CaseEventKind, CaseSnapshot
from schemas.vocab import CaseStatus
from streams import crypto
from streams.replicas import Views
from streams.runtime import Hooks
from streams.services.cases import TRANSITIONS, ShredIn, case_summary, list_cases
from streams.settings import Settings
from streams.stages.cases import CaseFile
from streams.tables import ModelTable
from schemas.notifications import DeliveryState
from streams.stages.delivery.plans import PlanSweeper
from testing.samples import named, stored
from tests.stubs import Topic, put
from tests.unit.test_plan_sweep import world as plan_world

NAME, PLACE = "Rosa Quispe Mamani", "Comunidad Alto Sereno"
WORDS = "Hombres armados rodearon la casa de la defensora esta noche y amenazaron a su familia."
ESCALATION, OUTCOME = "the family of Rosa says armed men came back", "Rosa was moved to a safe house in Lima"
PERSONAL = (NAME, PLACE, WORDS, "esta noche", ESCALATION, OUTCOME, "+51987654321", "rosa@example.org")


def at(minute: int) -> datetime:
    return datetime(2026, 5, 1, 12, minute, tzinfo=timezone.utc)


def event(kind: CaseEventKind, n: int, case_id: str = "case_1", report=None, reason=None, **data) -> CaseEvent:
    return CaseEvent(event_id=f"evt_{kind.value}_{n}", case_id=case_id, kind=kind, actor="desk", at=at(n),
                     reason=reason, data=data, report=report)


def body(**overrides) -> dict:
    return named(NAME, incident_type="judicial_harassment", country="pe", locality=PLACE, description=WORDS,
                 imminent_danger=True, consent="network",
                 reporter_contact={"phone": "+51987654321", "email": "rosa@example.org"}, **overrides)


def history() -> list[CaseEvent]:
    """A case of two reports (the second proposed case_2 at intake), verified, escalated and closed."""
    first = stored(body(), report_id="rep_1", reference="SOL-FIRST1")
    second = stored(body(), report_id="rep_2", reference="SOL-SECND2")
    return [
        event(CaseEventKind.opened, 1, report=first, report_id="rep_1"),
        event(CaseEventKind.report_merged, 2, report=second, reason="report SOL-SECND2 matches this case",
              report_id="rep_2", reference="SOL-SECND2", proposed_case_id="case_2"),
        event(CaseEventKind.verified, 3, reason=f"called {NAME}"),
        event(CaseEventKind.escalated, 4, reason=ESCALATION, urgency="critical"),
        event(CaseEventKind.closed, 5, reason=OUTCOME),
    ]


def fold(case, events):
    for ev in events:
        case = apply_event(case, ev)
    return case


def shred(n: int = 9, reason: str = "erasure request of the defender") -> CaseEvent:
    return event(CaseEventKind.shredded, n, reason=reason)


@pytest.fixture
def live() -> Case:
    return fold(None, history())


def test_the_tombstone_keeps_what_the_case_was(live):
    tomb = apply_event(live, shred())
    kept = ("case_id", "reference", "status", "incident_type", "country", "region", "consent", "urgency",
            "mechanisms", "opened_at")
    assert {k: getattr(tomb, k) for k in kept} == {k: getattr(live, k) for k in kept}
    assert tomb.status is CaseStatus.closed and tomb.urgency.value == "critical" and tomb.mechanisms
    assert tomb.shredded and tomb.shredded_at == at(9) == tomb.updated_at
    assert tomb.shred_reason == "erasure request of the defender"
    assert tomb.report_count == 2 == tomb.reports_total and tomb.reports == []
    assert [(h.kind, h.actor, h.at) for h in tomb.history] == \
        [(h.kind, h.actor, h.at) for h in live.history] + [(CaseEventKind.shredded, "desk", at(9))]
    summary = case_summary(tomb)
    assert summary["reports"] == 2 and summary["shredded_at"] == at(9).isoformat()


def test_the_tombstone_holds_none_of_the_personal_data(live):
    assert all(word in live.model_dump_json() for word in (NAME, PLACE, WORDS, OUTCOME))
    text = apply_event(live, shred()).model_dump_json()
    for word in PERSONAL:
        assert word not in text, word
    assert all(h.reason is None and h.report is None for h in apply_event(live, shred()).history)


def test_a_repeated_shred_is_harmless(live):
    tomb = apply_event(live, shred())
    assert apply_event(tomb, shred()) is tomb, "a replay of the same event"
    assert apply_event(tomb, shred(10, "second request")) is tomb, "another request"
    assert refusal(tomb, shred()) is None


@pytest.mark.parametrize("kind, data", [
    (CaseEventKind.verified, {}), (CaseEventKind.escalated, {"urgency": "critical"}),
    (CaseEventKind.consent_changed, {"consent": "private"}), (CaseEventKind.closed, {}),
    (CaseEventKind.dismissed, {}), (CaseEventKind.report_merged, {}), (CaseEventKind.shredded, {}),
])
def test_nothing_changes_a_shredded_case(kind, data):
    tomb = apply_event(fold(None, history()[:1]), shred())
    assert tomb.status is CaseStatus.new
    with pytest.raises(TransitionRefused, match="shredded"):
        check_transition(tomb, kind, data)
    merged = event(kind, 20, report=stored(body()), **data)
    assert apply_event(tomb, merged) is tomb
    assert "shredded" in refusal(tomb, merged)


def test_shred_is_a_lifecycle_request_with_a_short_plain_reason():
    assert TRANSITIONS["shred"] == (ShredIn, CaseEventKind.shredded)
    with pytest.raises(ValueError):
        ShredIn(reason="x" * 201)
    with pytest.raises(ValueError):
        ShredIn(reason="no")


def test_merged_ids_are_the_case_and_every_id_proposed_for_its_reports(live):
    assert merged_ids(live) == ["case_1", "case_2"] == merged_ids(apply_event(live, shred()))


# The worker ----------------------------------------------------------------------------------------------------


@pytest.fixture
def sealer(installed_sealer):
    return installed_sealer


def worker() -> SimpleNamespace:
    """What the case agent touches: the cases table (sealed as on a worker), its topics, the replicated views."""
    views = Views()
    topics = SimpleNamespace(cases_state=Topic(views.cases), cases_index=Topic(), cases_events=Topic(),
                             audit_submitted=Topic())
    tables = SimpleNamespace(cases=ModelTable({}, Case), case_notices={})
    return SimpleNamespace(settings=Settings(), tables=tables, topics=topics, hooks=Hooks(), views=views,
                           app=SimpleNamespace())


async def test_the_worker_writes_the_tombstone_then_destroys_every_key_of_the_case(sealer):
    rt = worker()
    stage = CaseFile(rt)
    events = history()
    # What the pipeline sealed meanwhile: the merged report's intake copy under case_2, the events under case_1.
    sealed = [sealer.dumps(ev) for ev in events]
    intake_copy = sealer.dumps(events[1].model_copy(update={"case_id": "case_2"}))
    for ev in events + [event(CaseEventKind.alias, 2, case_id="case_2", target="case_1")]:
        await stage.apply(ev)
    assert rt.views.cases.find("case_2").case_id == "case_1"
    raw_table = json.dumps(rt.tables.cases.table["case_1"])
    assert NAME not in raw_table and "$sealed" in raw_table, "the table keeps the case sealed"

    await stage.apply(shred())
    assert sealer.keys.is_shredded("case:case_1") and sealer.keys.is_shredded("case:case_2")
    tomb = rt.tables.cases.get("case_1")
    assert tomb.shredded and tomb.reports == [] and rt.views.cases.find("case_1") == tomb
    assert json.loads(rt.topics.cases_index.items[-1])["action"] == "close"
    [audit] = [json.loads(v) for v in rt.topics.audit_submitted.items]
    assert (audit["actor"], audit["action"], audit["subject"], audit["detail"]) == \
        ("system", "keys.shred", "case_1", {"subjects": 2, "keys": 2})
    # Every sealed copy now opens only as placeholders.
    for raw in sealed + [intake_copy]:
        opened = sealer.loads(CaseEvent, raw)
        assert opened.reason is None
        if opened.report is not None:
            text = opened.report.model_dump_json()
            assert not any(word in text for word in PERSONAL), text
            assert opened.report.report.description == crypto.PLACEHOLDER
            assert opened.report.report.defenders[0].name is None
    # The tombstone has nothing sealed: it stays readable.
    assert sealer.loads(CaseSnapshot, sealer.dumps(CaseSnapshot(case=tomb))).case == tomb

    states = len(rt.topics.cases_state.items)
    await stage.apply(shred(10, "again"))
    assert rt.tables.cases.get("case_1") == tomb, "a second shred changes nothing"
    assert len(rt.topics.cases_state.items) == states + 1
    assert len(rt.topics.audit_submitted.items) == 1, "no key left to destroy, nothing more to audit"


async def test_a_report_for_a_shredded_case_opens_a_case_of_its_own_whose_keys_a_replay_leaves_alone(sealer):
    rt = worker()
    stage = CaseFile(rt)
    for ev in history()[:1] + [shred()]:
        await stage.apply(ev)
    late = event(CaseEventKind.report_merged, 30, report=stored(body(), report_id="rep_9"), report_id="rep_9",
                 proposed_case_id="case_9")
    await stage.apply(late)
    await stage.apply(event(CaseEventKind.alias, 30, case_id="case_9", target="case_1"))  # sent with the merge
    [reopened] = rt.topics.cases_events.items
    assert reopened.kind is CaseEventKind.opened and reopened.case_id == "case_9"
    await stage.apply(reopened)
    sealer.keys.ensure(["case:case_9"])
    assert rt.tables.cases.get("case_1").report_count == 1
    await stage.apply(shred())  # a replay of the shred (a rebalance) must not reach the new case
    assert not sealer.keys.is_shredded("case:case_9") and rt.tables.cases.get("case_9").reports


def test_the_queue_finds_a_tombstone_by_any_of_its_references(live):
    rt = SimpleNamespace(views=Views())
    rt.views.cases.apply("case_1", CaseSnapshot(case=apply_event(live, shred())), (0, 1))
    assert [r["case_id"] for r in list_cases(rt, {"reference": "SOL-SECND2"})] == ["case_1"]


async def test_a_call_to_action_of_a_case_shredded_meanwhile_sends_nothing_more():
    rt, action, deliverer, stub = await plan_world()
    case = rt.views.cases.get(action.case_id)
    put(rt.views.cases, case.case_id, CaseSnapshot(case=apply_event(case, shred().model_copy(
        update={"case_id": case.case_id}))))
    await PlanSweeper(rt, deliverer).sweep()
    assert stub.sent == []
    entries = [rt.tables.ledger.get(f"act:act_1:{m}:sms") for m in ("m1", "m2", "m3", "m4")]
    assert {(e.state, e.reason) for e in entries} == {
        (DeliveryState.cancelled, "the case was shredded before this message left")}
