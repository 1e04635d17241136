"""Duplicates: same country, type, within 72 hours and a defender's name in common joins the open case."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.duplicates import CaseSummary, find_duplicate, is_duplicate, names_match, normalize_name
from schemas.reports import ReportIn

WHEN = datetime(2025, 3, 1, 10, 0, tzinfo=timezone.utc)


def report(**overrides: Any) -> ReportIn:
    """A report of a detention in Honduras."""
    body: dict[str, Any] = {
        "incident_type": "arbitrary_detention",
        "country": "HN",
        "occurred_at": WHEN.isoformat(),
        "description": "Detenida por la policía sin orden judicial.",
        "language": "es",
        "defenders": [{"name": "María José López"}],
        "consent": "network",
    }
    body.update(overrides)
    return ReportIn.model_validate(body)


CASE = CaseSummary.from_report(report(), case_id="case-1")


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("María José López", "jose lopez maria"),
        ("LÓPEZ, María-José", "jose lopez maria"),
        ("  lopez   maria jose ", "jose lopez maria"),
        ("Zoë O'Brien", "brien o zoe"),
        ("محمد أحمد", "احمد محمد"),
        ("—", ""),
    ],
)
def test_normalize_name(raw: str, normalized: str) -> None:
    assert normalize_name(raw) == normalized
    assert normalize_name(normalized) == normalized


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (["María López"], ["maria lopez"], True),
        (["María López"], ["López María"], True),
        (["Ana Ruiz", "María López"], ["Pedro Gómez", "LOPEZ Maria"], True),
        (["Maria Lopes"], ["María López"], True),
        (["Mohammed Ahmed"], ["Mohamed Ahmed"], True),
        (["Ana Ruiz"], ["Ana Ríos"], False),
        (["María José López"], ["María López"], False),
        (["Ana"], ["Ama"], False),
        ([None], [None], False),
        ([None, ""], ["María López"], False),
        ([], ["María López"], False),
        (["  "], ["  "], False),
    ],
)
def test_names_match(a: list[str | None], b: list[str | None], expected: bool) -> None:
    assert names_match(a, b) is expected
    assert names_match(b, a) is expected


DUPLICATE_CASES = [
    ("same report", {}, {}, True),
    ("names reordered and unaccented", {"defenders": [{"name": "lopez maria jose"}]}, {}, True),
    ("one of several defenders", {"defenders": [{"name": "Juan Pérez"}, {"name": "María José López"}]}, {}, True),
    ("country in lower case", {"country": "hn"}, {}, True),
    ("72 hours later", {"occurred_at": (WHEN + timedelta(hours=72)).isoformat()}, {}, True),
    ("72 hours earlier", {"occurred_at": (WHEN - timedelta(hours=72)).isoformat()}, {}, True),
    ("other time zone, same instant",
     {"occurred_at": WHEN.astimezone(timezone(timedelta(hours=-6))).isoformat()}, {}, True),
    ("73 hours later", {"occurred_at": (WHEN + timedelta(hours=73)).isoformat()}, {}, False),
    ("other country", {"country": "GT"}, {}, False),
    ("other type", {"incident_type": "physical_attack"}, {}, False),
    ("other defender", {"defenders": [{"name": "Juan Pérez"}]}, {}, False),
    ("unnamed defender", {"defenders": [{"organization": "COPINH"}]}, {}, False),
    ("case closed", {}, {"open": False}, False),
    ("case has no names", {}, {"names": frozenset()}, False),
]


@pytest.mark.parametrize(
    ("new", "case_changes", "expected"),
    [row[1:] for row in DUPLICATE_CASES],
    ids=[row[0] for row in DUPLICATE_CASES],
)
def test_is_duplicate(new: dict[str, Any], case_changes: dict[str, Any], expected: bool) -> None:
    case = CASE.model_copy(update=case_changes)
    assert is_duplicate(case, report(**new)) is expected


def test_summary_holds_normalized_names_only() -> None:
    summary = CaseSummary.from_report(report(defenders=[{"name": "Ana Ruiz"}, {}, {"name": "LÓPEZ María"}]))
    assert summary.names == {"ana ruiz", "lopez maria"}
    assert summary.open and summary.country == "HN"


def test_find_duplicate_returns_the_first_matching_open_case() -> None:
    closed = CASE.model_copy(update={"case_id": "closed", "open": False})
    other = CASE.model_copy(update={"case_id": "other", "country": "GT"})
    assert find_duplicate([closed, other, CASE], report()) == CASE
    assert find_duplicate([closed, other], report()) is None


# --- find_duplicate compares names in one rapidfuzz pass; it must pick exactly what the plain rule picks. ---

_NAMES = st.sampled_from(["María José López", "Maria Jose Lopes", "Rosa Díaz", "Rosa Dias", "Ana", "Anna",
                          "Juan Pérez", "Pérez Juan", "محمد أحمد", "محمد احمد", "Zoë O'Brien", "—"])
_CANDIDATES = st.lists(st.builds(
    lambda i, names, hours, country, kind, open_: CaseSummary.from_report(
        report(defenders=[{"name": n} for n in names], country=country, incident_type=kind,
               occurred_at=(WHEN + timedelta(hours=hours)).isoformat()), case_id=f"case-{i}", open=open_),
    st.integers(0, 10**6), st.lists(_NAMES, min_size=1, max_size=3), st.integers(-90, 90),
    st.sampled_from(["HN", "HN", "HN", "GT"]), st.sampled_from(["arbitrary_detention"] * 3 + ["land_grab"]),
    st.sampled_from([True, True, True, False]),
), min_size=2, max_size=25)


@settings(max_examples=300, deadline=None)
@given(candidates=_CANDIDATES, names=st.lists(_NAMES, min_size=1, max_size=2), hours=st.integers(-80, 80))
def test_find_duplicate_picks_the_first_case_the_plain_rule_accepts(candidates, names, hours) -> None:
    new = report(defenders=[{"name": n} for n in names], occurred_at=(WHEN + timedelta(hours=hours)).isoformat())
    plain = next((c for c in candidates if is_duplicate(c, new)), None)
    assert find_duplicate(candidates, new) == plain
