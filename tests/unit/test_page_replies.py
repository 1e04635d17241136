"""Which case a bare ACK or ESC (no reference) is about: the member's page may reach their phone before its
`paged` event reaches the worker's views, and meanwhile an older escalation that also paged them may be over."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from agents import paging
from agents.casefile import apply_event
from schemas.cases import CaseEvent, CaseEventKind, CaseSnapshot
from streams.replicas import Views
from streams.stages.replies import Replies
from testing.samples import named, stored

MEMBER = SimpleNamespace(member_id="sec-a")
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def opened(case_id: str, reference: str):
    report = stored(named("Ana Pérez", incident_type="death_threat", consent="network"), report_id=f"rep_{case_id}",
                    reference=reference)
    return apply_event(None, CaseEvent(event_id=f"evt_open_{case_id}", case_id=case_id, kind=CaseEventKind.opened,
                                       actor="intake", at=T0, report=report, data={"report_id": report.report_id}))


def then(case, kind: CaseEventKind, minutes: int, **data):
    return apply_event(case, CaseEvent(event_id=f"evt_{case.case_id}_{kind.value}_{minutes}", case_id=case.case_id,
                                       kind=kind, actor="system", at=T0 + timedelta(minutes=minutes), data=data))


def page(case, minutes: int, index: int = 0):
    return then(case, CaseEventKind.paged, minutes, policy="high", index=index, members=[MEMBER.member_id])


def replies_on(views: Views) -> Replies:
    return Replies(SimpleNamespace(views=views))


def put(views: Views, case) -> None:
    views.cases.apply(case.case_id, CaseSnapshot(case=case), (0, 0))


@pytest.fixture
def views():
    views = Views()
    old = then(page(opened("case_old", "SOL-OLD001"), 1), CaseEventKind.escalation_ended, 5, policy="high", firings=1)
    assert paging.paging(old) is paging.Paging.ended
    put(views, old)
    return views


async def test_a_bare_esc_waits_for_the_page_still_on_its_way_rather_than_answer_for_an_ended_one(views):
    new = page(opened("case_new", "SOL-NEW002"), 30)

    async def arrives_late():
        await asyncio.sleep(0.5)  # the page reached the phone; its `paged` event is still on its way to the views
        put(views, new)

    late = asyncio.create_task(arrives_late())
    found = await replies_on(views).paged_case(MEMBER, None, wait=5.0)
    await late
    assert found is not None and found.case_id == "case_new"


async def test_with_no_escalation_under_way_a_bare_esc_is_about_the_latest_that_paged_the_member(views):
    found = await replies_on(views).paged_case(MEMBER, None, wait=0.5)
    assert found is not None and found.case_id == "case_old"


async def test_a_reference_names_its_case_even_when_another_is_escalating(views):
    put(views, page(opened("case_new", "SOL-NEW002"), 30))
    old = views.cases.find("case_old")
    found = await replies_on(views).paged_case(MEMBER, old.reference, wait=0.5)
    assert found.case_id == "case_old"
