"""ReportIn validation: every rule, each problem reported with its dotted field path and without the value."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from agents.classification import classify_json
from schemas.base import problems_from, utcnow
from schemas.reports import ReportIn


def body(**overrides: Any) -> dict[str, Any]:
    """A valid report body, changed by the overrides (None removes a field)."""
    data: dict[str, Any] = {
        "incident_type": "death_threat",
        "country": "CO",
        "occurred_at": "2025-03-01T10:00:00-05:00",
        "description": "Recibió una amenaza de muerte por teléfono.",
        "language": "es",
        "defenders": [{"name": "Luz Marina", "gender": "woman", "groups": ["peasant"]}],
        "consent": "network",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def problems(data: dict[str, Any]) -> dict[str, str]:
    """Field path -> message of every problem in the body."""
    with pytest.raises(ValidationError) as exc:
        ReportIn.model_validate(data)
    return {p.field: p.message for p in problems_from(exc.value)}


def future(hours: float) -> str:
    """An ISO time this many hours from now."""
    return (utcnow() + timedelta(hours=hours)).isoformat()


ACCEPTED = [
    ("country lower case", {"country": "co"}, "country", "CO"),
    ("country mixed case", {"country": "cO"}, "country", "CO"),
    ("language upper case", {"language": "ES"}, "language", "es"),
    ("locality 200", {"locality": "x" * 200}, "locality", "x" * 200),
    ("description 10", {"description": "0123456789"}, "description", "0123456789"),
    ("description 10000", {"description": "x" * 10_000}, "description", "x" * 10_000),
    ("people affected 1", {"people_affected": 1}, "people_affected", 1),
    ("corporate actor 200", {"corporate_actor": "c" * 200}, "corporate_actor", "c" * 200),
    ("50 defenders", {"defenders": [{}] * 50}, "defenders", None),
    ("30 minutes ahead", {"occurred_at": future(0.5)}, "occurred_at", None),
    ("phone", {"reporter_contact": {"phone": "+254712345678"}}, "reporter_contact", None),
    ("email", {"reporter_contact": {"email": "reporter@example.org"}}, "reporter_contact", None),
]


@pytest.mark.parametrize(("overrides", "field", "stored"), [r[1:] for r in ACCEPTED], ids=[r[0] for r in ACCEPTED])
def test_accepted(overrides: dict[str, Any], field: str, stored: Any) -> None:
    report = ReportIn.model_validate(body(**overrides))
    if stored is not None:
        assert getattr(report, field) == stored


def test_occurred_at_is_stored_in_utc() -> None:
    report = ReportIn.model_validate(body())
    assert report.occurred_at.utcoffset() == timedelta(0)
    assert report.occurred_at.hour == 15


def test_phone_is_stored_in_e164() -> None:
    report = ReportIn.model_validate(body(reporter_contact={"phone": "+254 712 345 678"}))
    assert report.reporter_contact is not None and report.reporter_contact.phone == "+254712345678"


REJECTED = [
    ("incident type unknown", {"incident_type": "stabbing"}, "incident_type", None),
    ("country unknown", {"country": "XX"}, "country", "ISO 3166-1"),
    ("country alpha-3", {"country": "COL"}, "country", "ISO 3166-1"),
    ("locality 201", {"locality": "x" * 201}, "locality", "200"),
    ("occurred_at without time zone", {"occurred_at": "2025-03-01T10:00:00"}, "occurred_at", "time zone"),
    ("occurred_at 2 hours ahead", {"occurred_at": future(2)}, "occurred_at", "future"),
    ("description 9", {"description": "123456789"}, "description", "10"),
    ("description 10001", {"description": "x" * 10_001}, "description", "10000"),
    ("language unknown", {"language": "xx"}, "language", "ISO 639-1"),
    ("language alpha-3", {"language": "spa"}, "language", "ISO 639-1"),
    ("no defenders", {"defenders": []}, "defenders", "at least 1"),
    ("51 defenders", {"defenders": [{}] * 51}, "defenders", "at most 50"),
    ("gender unknown", {"defenders": [{"gender": "female"}]}, "defenders.0.gender", None),
    ("group unknown", {"defenders": [{"groups": ["pirates"]}]}, "defenders.0.groups.0", None),
    ("second defender's group", {"defenders": [{}, {"groups": ["lawyer", "x"]}]}, "defenders.1.groups.1", None),
    ("people affected 0", {"people_affected": 0}, "people_affected", "greater than or equal to 1"),
    ("corporate actor 201", {"corporate_actor": "c" * 201}, "corporate_actor", "200"),
    ("corporate actor blank", {"corporate_actor": "   "}, "corporate_actor", "blank"),
    ("consent missing", {"consent": None}, "consent", "field required"),
    ("consent invalid", {"consent": "everyone"}, "consent", None),
    ("phone without +", {"reporter_contact": {"phone": "0712345678"}}, "reporter_contact.phone", "E.164"),
    ("phone invalid", {"reporter_contact": {"phone": "+1555"}}, "reporter_contact.phone", None),
    ("email invalid", {"reporter_contact": {"email": "nobody"}}, "reporter_contact.email", None),
    ("contact empty", {"reporter_contact": {}}, "reporter_contact", "phone or an email"),
    ("unknown field", {"victim_name": "X"}, "victim_name", "unknown field"),
    ("unknown defender field", {"defenders": [{"age": 30}]}, "defenders.0.age", "unknown field"),
]


@pytest.mark.parametrize(("overrides", "field", "says"), [r[1:] for r in REJECTED], ids=[r[0] for r in REJECTED])
def test_rejected_with_field_path(overrides: dict[str, Any], field: str, says: str | None) -> None:
    found = problems(body(**overrides))
    assert list(found) == [field]
    if says is not None:
        assert says in found[field]


def test_every_problem_is_reported_at_once() -> None:
    found = problems(body(country="ZZ", language="klingon", consent=None, defenders=[{"gender": "?"}]))
    assert set(found) == {"country", "language", "consent", "defenders.0.gender"}


def test_problems_never_echo_the_rejected_value() -> None:
    secret = "+15550000000 Calle Secreta 12"
    found = problems(body(reporter_contact={"phone": secret}, locality=secret * 10))
    assert found and all("Secreta" not in message for message in found.values())


def test_classify_json_raises_validation_error_for_bad_body() -> None:
    with pytest.raises(ValidationError) as exc:
        classify_json(json.dumps(body(consent="everyone")))
    assert [p.field for p in problems_from(exc.value)] == ["consent"]
    with pytest.raises(ValidationError):
        classify_json("{not json")


def test_classify_json_classifies_a_good_body() -> None:
    result = classify_json(json.dumps(body(imminent_danger=True)))
    assert result.urgency == "critical"
    assert result.region == "americas"
    assert "nhri-co" in result.mechanisms and "un-sr-vaw" in result.mechanisms
