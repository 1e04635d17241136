"""Indexes the replicated views keep as records arrive, so nothing walks every action each second or per request:
whatever order action, plan and progress records come in, each equals a walk over the view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.actions import Audience, CallToAction
from schemas.vocab import Channel
from streams.replicas import Views
from tests.stubs import put

IDS = ("act_1", "act_2", "act_3", "act_4")
CASES = ("case_1", "case_2")
T0 = datetime(2026, 12, 1, 10, tzinfo=UTC)


def action(action_id: str, case_id: str, minutes: int) -> CallToAction:
    return CallToAction(action_id=action_id, case_id=case_id, reference="SOL-AAAAAA", kind="petition",
                        audience=Audience(), messages={"es": "Firme {reference}."}, channels=[Channel.sms],
                        approved_by="test", approved_at=T0 + timedelta(minutes=minutes))


records = st.one_of(
    st.tuples(st.just("action"), st.sampled_from(IDS), st.one_of(st.none(), st.tuples(st.sampled_from(CASES),
                                                                                       st.integers(0, 5)))),
    st.tuples(st.just("plan"), st.sampled_from(IDS), st.sampled_from([None, {}, {"planned_at": "x"},
                                                                      {"planned_at": "x", "finished_at": "y"}])),
    st.tuples(st.just("counts"), st.sampled_from(IDS), st.sampled_from([None, {"sent": 1}])),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(records, max_size=40))
def test_unfinished_actions_and_each_cases_actions_equal_a_walk_over_the_views(ops):
    views = Views()
    for kind, action_id, value in ops:
        if kind == "action":
            put(views.actions, action_id, None if value is None else action(action_id, *value))
        elif kind == "plan":
            put(views.progress, action_id, value)
        else:
            put(views.progress, f"{action_id}|0", value)
    assert views.unfinished == {a.action_id for a in views.actions.values()
                                if not views.progress.plan(a.action_id).get("finished_at")}
    for case_id in CASES:
        walked = sorted((a for a in views.actions.values() if a.case_id == case_id),
                        key=lambda a: (a.approved_at, a.action_id), reverse=True)
        assert views.actions.for_case(case_id) == walked
