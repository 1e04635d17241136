"""The duplicate index table: one row per open case, read back after a restart, older layout upgraded."""

from __future__ import annotations

from datetime import UTC, datetime

from agents.duplicates import CaseSummary
from agents.intake import index_dump
from streams.stages.intake import DedupIndex

AT = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def summary(case_id: str, *names: str) -> CaseSummary:
    return CaseSummary(case_id=case_id, country="MX", incident_type="land_grab", occurred_at=AT, names=frozenset(names))


def test_a_restarted_worker_sees_the_same_open_cases():
    table: dict = {}
    index = DedupIndex(table)
    index.put("MX|land_grab", [summary("c1", "ana lopez")])
    index.put("MX|land_grab", [*index.get("MX|land_grab"), summary("c2", "rosa diaz")])
    index.put("CO|land_grab", [summary("c3", "luz")])
    index.put("MX|land_grab", [e for e in index.get("MX|land_grab") if e.case_id != "c1"])  # c1 closed
    again = DedupIndex(table)
    assert [e.case_id for e in again.get("MX|land_grab")] == ["c2"]
    assert [e.names for e in again.get("CO|land_grab")] == [frozenset({"luz"})]
    assert again.get("PE|land_grab") == []


def test_each_case_is_its_own_row():
    table: dict = {}
    index = DedupIndex(table)
    index.put("MX|land_grab", [summary("c1", "ana"), summary("c2", "rosa")])
    assert sorted(table) == ["MX|land_grab|c1", "MX|land_grab|c2"]


def test_an_index_in_the_older_one_row_per_key_layout_is_read_and_upgraded():
    table: dict = {"MX|land_grab": index_dump([summary("c1", "ana"), summary("c2", "rosa")])}
    index = DedupIndex(table)
    assert [e.case_id for e in index.get("MX|land_grab")] == ["c1", "c2"]
    index.put("MX|land_grab", [*index.get("MX|land_grab"), summary("c3", "luz")])
    assert sorted(table) == ["MX|land_grab|c1", "MX|land_grab|c2", "MX|land_grab|c3"]
    assert [e.case_id for e in DedupIndex(table).get("MX|land_grab")] == ["c1", "c2", "c3"]
