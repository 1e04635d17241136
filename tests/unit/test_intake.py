"""Intake as a plain function: dead letters with field paths, cases opened, duplicates routed to their case."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from agents.duplicates import CaseSummary
from agents.intake import dedup_key, loggable_fields, process_submission
from schemas.cases import CaseEventKind
from schemas.reports import ReportIn
from testing.samples import envelope, named, report

SOURCE = "reports.submitted.v1"


def submit(body, index=None, **env):
    """Process one envelope around `body` against a duplicate index (a dict standing in for the table)."""
    index = {} if index is None else index
    payload = json.dumps(envelope(body, **env)).encode()
    outcome = process_submission(payload, SOURCE, None, lambda k: index.get(k, []))
    if outcome.index_key is not None:
        index[outcome.index_key] = outcome.index
    return outcome


def reasons(outcome) -> dict[str, str]:
    return {p.field: p.message for p in outcome.dead_letter.reasons}


def test_valid_report_opens_a_case_with_its_classification():
    outcome = submit(report(), case_id="case_a")
    assert outcome.dead_letter is None and not outcome.merged
    [ev] = outcome.events
    assert ev.kind is CaseEventKind.opened and ev.case_id == "case_a"
    assert ev.report.classification.urgency.value == "high"
    assert outcome.index_key == dedup_key("MX", "arbitrary_detention")


def test_body_problems_are_dead_lettered_with_paths_inside_the_envelope():
    outcome = submit(report(country="ZZ", defenders=[{"gender": "robot"}], extra=1))
    assert outcome.events == []
    assert {"report.country", "report.defenders.0.gender", "report.extra"} <= set(reasons(outcome))
    letter = outcome.dead_letter
    assert letter.stage == "validate" and letter.source_topic == SOURCE
    assert json.loads(letter.payload)["report"]["country"] == "ZZ", "the payload is kept verbatim for replay"


def test_envelope_problems_name_envelope_fields():
    outcome = process_submission(json.dumps({"report": report()}).encode(), SOURCE, "k", lambda k: [])
    assert {"report_id", "case_id", "reference"} <= set(reasons(outcome))
    assert outcome.dead_letter.key == "k"


def test_bytes_that_are_not_json_are_dead_lettered():
    for payload in (b"\xff\xfe\x00", b"", None, b"[1, 2]", b'"text"'):
        outcome = process_submission(payload, SOURCE, None, lambda k: [])
        assert outcome.events == [] and set(reasons(outcome)) == {"body"}, payload


def test_log_line_never_repeats_unknown_field_names():
    outcome = submit(report(**{"Ana María Pérez": "x"}, defenders=[{"name": "x", "Tía Rosa": 1}]))
    line = loggable_fields(outcome.dead_letter.reasons)
    assert "Ana" not in line and "Rosa" not in line
    assert "report.<unknown>" in line and "report.defenders.0.<unknown>" in line


def test_a_duplicate_joins_the_open_case_and_leaves_an_alias():
    index: dict = {}
    submit(named("María José Núñez"), index, case_id="case_first")
    # Same person, word order, accents and case changed, a day later.
    later = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat()
    outcome = submit(named("NUNEZ maria jose", occurred_at=later), index, case_id="case_second", report_id="rep_2")
    assert outcome.merged and outcome.case_id == "case_first"
    merged, alias = outcome.events
    assert merged.kind is CaseEventKind.report_merged and merged.case_id == "case_first"
    assert merged.report.report_id == "rep_2" and merged.data["proposed_case_id"] == "case_second"
    assert alias.kind is CaseEventKind.alias and alias.case_id == "case_second"
    assert alias.data == {"target": "case_first"}


def test_fuzzy_name_match_joins_the_case():
    index: dict = {}
    submit(named("Maria Fernanda Quispe"), index, case_id="case_first")
    assert submit(named("Maria Fernanda Quispee"), index).case_id == "case_first"


def test_not_a_duplicate_when_any_rule_differs():
    index: dict = {}
    submit(named("Rosa Elena Mamani"), index, case_id="case_first")
    old = (datetime.now(timezone.utc) - timedelta(hours=80)).isoformat()
    for body in (
        named("Rosa Elena Mamani", country="gt"),
        named("Rosa Elena Mamani", incident_type="death_threat"),
        named("Rosa Elena Mamani", occurred_at=old),
        named("Carmen Ruiz"),
    ):
        outcome = submit(body, index)
        assert not outcome.merged and outcome.events[0].kind is CaseEventKind.opened


def test_a_closed_case_absorbs_no_duplicates():
    body = named("Lucía Torres")
    closed = CaseSummary.from_report(ReportIn.model_validate(body), "case_closed", open=False)
    index = {dedup_key("MX", "arbitrary_detention"): [closed]}
    outcome = submit(body, index, case_id="case_new")
    assert not outcome.merged and outcome.case_id == "case_new"


def test_replayed_submission_is_idempotent():
    index: dict = {}
    env = envelope(named("Inés Quispe"))
    payload = json.dumps(env).encode()
    first = process_submission(payload, SOURCE, None, lambda k: index.get(k, []))
    index[first.index_key] = first.index
    again = process_submission(payload, SOURCE, None, lambda k: index.get(k, []))
    assert [e.event_id for e in again.events] == [e.event_id for e in first.events]
    assert len(again.index) == 1
