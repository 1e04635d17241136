"""Nothing planned is ever dropped: the sweep delivers planned keys the ledger never saw, and every planned
notification ends in one final state, so the action finishes."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.actions import Audience, CallToAction
from schemas.notifications import DeliveryState, LedgerEntry
from schemas.vocab import Channel
from streams.stages.delivery.engine import Deliverer, revised
from schemas.cases import CaseSnapshot
from streams.stages.delivery.plans import PlanSweeper, record_plan
from streams.stages.delivery.progress import ProgressCounter, progress
from tests.stubs import StubSms, put, runtime
from tests.unit.test_fanout import make_case, member

PHONES = {"m1": "+525512345671", "m2": "+525512345672", "m3": "+525512345673", "m4": "+525512345674"}


async def world():
    rt = runtime()
    case = make_case()
    put(rt.views.cases, case.case_id, CaseSnapshot(case=case))
    members = [member(mid, channels=("sms",)).model_copy(update={"phone": phone}) for mid, phone in PHONES.items()]
    for m in members:
        put(rt.views.members, m.member_id, m)
    action = CallToAction(action_id="act_1", case_id=case.case_id, reference=case.reference, kind="petition",
                          audience=Audience(), messages={"es": "Firme la petición {reference}."},
                          channels=[Channel.sms], approved_by="test")
    put(rt.views.actions, action.action_id, action)
    _, stats = await record_plan(rt, action, members)
    stats = {**stats, "planned_at": "2026-12-01T10:00:00+00:00"}
    rt.tables.action_stats[action.action_id] = stats
    put(rt.views.progress, action.action_id, stats)
    stub = StubSms([])
    deliverer = Deliverer(rt)
    deliverer._notifiers[Channel.sms] = [stub]
    deliverer.started -= 3600  # the worker has been up, and the action quiet, for an hour
    return rt, action, deliverer, stub


async def test_planned_notifications_that_never_reached_the_ledger_are_delivered_once():
    # As after offsets committed past events still in a take buffer: m1 went out, m2..m4 were never seen.
    rt, action, deliverer, stub = await world()
    rt.tables.ledger["act:act_1:m1:sms"] = LedgerEntry(
        state=DeliveryState.delivered, provider_id="SMold", action_id="act_1",
        settled_at=datetime(2026, 12, 1, 10, 0, 1, tzinfo=UTC))
    sweeper = PlanSweeper(rt, deliverer)
    assert await sweeper.sweep() == 3
    assert sorted(to for to, _ in stub.sent) == sorted(PHONES[m] for m in ("m2", "m3", "m4"))
    assert await sweeper.sweep() == 0, "a second sweep sends nothing again"
    assert len(stub.sent) == 3


async def test_members_who_opted_out_or_left_after_the_plan_end_final_and_the_action_finishes():
    rt, action, deliverer, stub = await world()
    put(rt.views.members, "m2", rt.views.members.get("m2").model_copy(update={"opted_out": [Channel.sms]}))
    put(rt.views.members, "m3", None)
    sweeper = PlanSweeper(rt, deliverer)
    await sweeper.sweep()
    ledger = rt.tables.ledger
    assert ledger.get("act:act_1:m2:sms").state is DeliveryState.opted_out
    assert ledger.get("act:act_1:m3:sms").state is DeliveryState.cancelled
    assert "removed" in ledger.get("act:act_1:m3:sms").reason
    assert sorted(to for to, _ in stub.sent) == sorted(PHONES[m] for m in ("m1", "m4"))
    # Receipts for the two sent messages arrive: then every planned notification is final.
    for key in ("act:act_1:m1:sms", "act:act_1:m4:sms"):
        ledger[key] = revised(ledger.get(key), state=DeliveryState.delivered,
                              settled_at=datetime(2026, 12, 1, 10, 5, tzinfo=UTC))
    deliverer.writes += 1
    await ProgressCounter(rt, deliverer).tick()
    state = progress(rt, "act_1")
    assert state["finished"] and state["finished_at"] == max(e.settled_at for e in ledger.values()).isoformat()
    c = state["counts"]
    assert c["targeted"] == c["delivered"] + c["failed"] + c["opted_out"] + c["cancelled"] + c["unknown"] == 4


async def test_an_action_with_sends_still_unsettled_is_not_finished():
    rt, action, deliverer, stub = await world()
    await PlanSweeper(rt, deliverer).sweep()
    await ProgressCounter(rt, deliverer).tick()
    state = progress(rt, "act_1")
    assert state["counts"]["sent"] == 4 and not state["finished"] and state["status"] == "sending"
