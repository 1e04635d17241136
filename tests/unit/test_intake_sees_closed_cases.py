"""Which open cases a report may join when the duplicate index has not yet heard what every worker's view of
cases already shows: a case closed a moment ago, or a case opened in place of a merge refused because its case had
closed (the index learns of both through cases.index.v1, a moment after the case's state is published).

Seen in CI: a report matching a just-closed case opened a case of its own, as it should, but the next report
about the same defender opened a third case instead of joining it."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from agents.casefile import apply_event
from agents.intake import dedup_key, process_submission
from schemas.cases import CaseEvent, CaseEventKind, CaseSnapshot
from streams.replicas import Views
from streams.stages.intake import DedupIndex, live_candidates
from streams.stages.cases import reopened
from testing.samples import envelope, named

SOURCE = "reports.submitted.v1"
KEY = dedup_key("MX", "arbitrary_detention")
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def submit(index: DedupIndex, views: Views, case_id: str, name: str = "Rosa Elvira Quispe"):
    """What validate_reports does with one report: look up the candidates, decide, write the index."""
    payload = json.dumps(envelope(named(name), case_id=case_id)).encode()
    outcome = process_submission(payload, SOURCE, KEY, lambda key: live_candidates(index, views.cases, key))
    index.put(outcome.index_key, outcome.index)
    return outcome


def published(views: Views, *events: CaseEvent) -> None:
    """The case stage folds the events and publishes the state, which every worker's view reads."""
    for ev in events:
        before = views.cases.get(ev.case_id)
        after = apply_event(before, ev)
        views.cases.apply(ev.case_id, CaseSnapshot(case=after), (0, 0))


def closing(case_id: str) -> CaseEvent:
    return CaseEvent(event_id=f"evt_close_{case_id}", case_id=case_id, kind=CaseEventKind.closed,
                     actor="secretariat", at=T0, data={"outcome": "released"})


def test_a_report_after_a_close_the_index_has_not_heard_of_opens_its_own_case():
    index, views = DedupIndex({}), Views()
    first = submit(index, views, "case_1")
    published(views, *first.events, closing("case_1"))
    second = submit(index, views, "case_2")
    assert not second.merged and second.case_id == "case_2"


def test_the_next_report_joins_a_case_opened_in_place_of_a_refused_merge():
    index, views = DedupIndex({}), Views()
    first = submit(index, views, "case_1")
    published(views, *first.events)
    # The second report is read before the case is closed: it is merged into case_1 ...
    second = submit(index, views, "case_2")
    assert second.merged and second.case_id == "case_1"
    merged = second.events[0]
    # ... which has closed meanwhile, so the case stage refuses the merge and opens case_2 instead.
    published(views, closing("case_1"))
    published(views, reopened(merged))
    assert views.cases.get("case_2").status.value == "new"
    # The secretariat sees case_2 open; the index has not yet heard of it or of the close.
    third = submit(index, views, "case_3")
    assert third.merged and third.case_id == "case_2"
    assert third.events[0].kind is CaseEventKind.report_merged


def test_a_case_the_view_has_not_yet_seen_is_kept():
    index, views = DedupIndex({}), Views()
    submit(index, views, "case_1")  # opened by intake; its state is still on its way to the views
    second = submit(index, views, "case_2")
    assert second.merged and second.case_id == "case_1"
