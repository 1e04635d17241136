"""Routing: every mechanism rule (positive and negative), the consent gate, and the data file's checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.classification import classify
from agents.routing import (
    CatalogueError, Condition, Facts, eligible_mechanisms, holds, load_catalogue,
)
from schemas.reports import ReportIn
from schemas.vocab import Gender, Group, IncidentType, Urgency


def report(**overrides: Any) -> ReportIn:
    """A medium-urgency report from Japan (no regional body, no NHRI in the catalogue)."""
    body: dict[str, Any] = {
        "incident_type": "surveillance",
        "country": "JP",
        "occurred_at": "2025-03-01T10:00:00+00:00",
        "description": "Unknown men followed the defender for a week in 2024.",
        "language": "en",
        "defenders": [{"name": "Aiko Tanaka"}],
        "consent": "network",
    }
    body.update(overrides)
    return ReportIn.model_validate(body)


def mechanisms(**overrides: Any) -> list[str]:
    """The mechanisms that classify() proposes for the report."""
    return classify(report(**overrides)).mechanisms


WOMAN = [{"name": "Ana", "gender": "woman"}]
MAN = [{"name": "Juan", "gender": "man"}]
NON_BINARY = [{"name": "Alex", "gender": "non_binary"}]


def group(name: str) -> list[dict[str, Any]]:
    """One defender in the group."""
    return [{"name": "Ana", "groups": [name]}]


# (mechanism id, report overrides, expected to be proposed)
RULES: list[tuple[str, dict[str, Any], bool]] = [
    ("un-sr-hrd", {}, True),
    ("un-sr-hrd", {"incident_type": "other"}, False),
    ("un-wgad", {"incident_type": "arbitrary_detention"}, True),
    ("un-wgad", {"incident_type": "judicial_harassment", "defenders": [{"name": "A", "detained": True}]}, True),
    ("un-wgad", {"incident_type": "judicial_harassment"}, False),
    ("un-wgeid", {"incident_type": "enforced_disappearance"}, True),
    ("un-wgeid", {"incident_type": "abduction"}, False),
    ("un-sr-executions", {"incident_type": "killing"}, True),
    ("un-sr-executions", {"incident_type": "attempted_killing"}, True),
    ("un-sr-executions", {"incident_type": "death_threat"}, True),
    ("un-sr-executions", {"incident_type": "physical_attack"}, False),
    ("un-sr-torture", {"incident_type": "torture_ill_treatment"}, True),
    ("un-sr-torture", {"incident_type": "physical_attack"}, False),
    ("un-sr-housing", {"incident_type": "forced_eviction"}, True),
    ("un-sr-housing", {"incident_type": "land_grab"}, False),
    ("un-sr-indigenous", {"defenders": group("indigenous")}, True),
    ("un-sr-indigenous", {"defenders": [{"name": "A"}, {"name": "B", "groups": ["peasant", "indigenous"]}]}, True),
    ("un-sr-indigenous", {"defenders": group("peasant")}, False),
    ("un-sr-environment", {"incident_type": "land_grab"}, True),
    ("un-sr-environment", {"defenders": group("environmental")}, True),
    ("un-sr-environment", {"defenders": group("land_rights")}, True),
    ("un-sr-environment", {"defenders": group("fisherfolk")}, False),
    ("un-wg-business", {"corporate_actor": "Acme Mining Ltd"}, True),
    ("un-wg-business", {}, False),
    ("un-sr-vaw", {"incident_type": "sexual_violence", "defenders": MAN}, True),
    ("un-sr-vaw", {"incident_type": "physical_attack", "defenders": WOMAN}, True),
    ("un-sr-vaw", {"incident_type": "death_threat", "defenders": WOMAN}, True),
    ("un-sr-vaw", {"incident_type": "smear_campaign", "defenders": WOMAN}, True),
    ("un-sr-vaw", {"incident_type": "threat_intimidation", "defenders": WOMAN}, True),
    ("un-sr-vaw", {"incident_type": "physical_attack", "defenders": MAN}, False),
    ("un-sr-vaw", {"incident_type": "surveillance", "defenders": WOMAN}, False),
    ("un-sr-assembly", {"incident_type": "org_closure"}, True),
    ("un-sr-assembly", {"incident_type": "raid_search"}, False),
    ("iachr", {"country": "MX", "incident_type": "physical_attack"}, True),
    ("iachr", {"country": "US", "incident_type": "surveillance", "imminent_danger": True}, True),
    ("iachr", {"country": "MX", "incident_type": "surveillance"}, False),
    ("iachr", {"country": "ES", "incident_type": "physical_attack"}, False),
    ("achpr-sr-hrd", {"country": "KE"}, True),
    ("achpr-sr-hrd", {"country": "EG"}, True),
    ("achpr-sr-hrd", {"country": "JO"}, False),
    ("coe-commissioner", {"country": "TR"}, True),
    ("coe-commissioner", {"country": "UA"}, True),
    ("coe-commissioner", {"country": "GB"}, True),
    ("coe-commissioner", {"country": "RU"}, False),
    ("coe-commissioner", {"country": "BY"}, False),
    ("fld-emergency", {"incident_type": "physical_attack"}, True),
    ("fld-emergency", {"incident_type": "surveillance"}, False),
    ("protectdefenders-eu", {"incident_type": "surveillance", "people_affected": 60}, True),
    ("protectdefenders-eu", {"incident_type": "other", "people_affected": 60}, False),
    ("uaf-whrd", {"incident_type": "physical_attack", "defenders": WOMAN}, True),
    ("uaf-whrd", {"incident_type": "physical_attack", "defenders": NON_BINARY}, True),
    ("uaf-whrd", {"incident_type": "physical_attack", "defenders": MAN}, False),
    ("uaf-whrd", {"incident_type": "surveillance", "defenders": WOMAN}, False),
    ("lifeline", {"incident_type": "org_closure"}, True),
    ("lifeline", {"incident_type": "raid_search"}, True),
    ("lifeline", {"incident_type": "surveillance"}, False),
    *[(f"nhri-{cc.lower()}", {"country": cc}, True) for cc in ("IN", "PK", "MX", "KE", "PH", "ZA", "CO", "HN", "GT", "BR")],
    ("nhri-mx", {"country": "GT"}, False),
]


@pytest.mark.parametrize(
    ("mechanism", "overrides", "expected"), RULES,
    ids=[f"{m}-{'yes' if e else 'no'}-{i}" for i, (m, _, e) in enumerate(RULES)],
)
def test_mechanism_rule(mechanism: str, overrides: dict[str, Any], expected: bool) -> None:
    assert (mechanism in mechanisms(**overrides)) is expected


def test_every_mechanism_has_a_positive_and_a_negative_case() -> None:
    ids = set(load_catalogue().ids)
    assert {m for m, _, e in RULES if e} == ids
    nhri = {m for m in ids if m.startswith("nhri-")}
    assert {m for m, _, e in RULES if not e} | nhri == ids


def test_catalogue_ids() -> None:
    assert load_catalogue().ids == sorted([
        "un-sr-hrd", "un-wgad", "un-wgeid", "un-sr-executions", "un-sr-torture", "un-sr-housing",
        "un-sr-indigenous", "un-sr-environment", "un-wg-business", "un-sr-vaw", "un-sr-assembly", "iachr",
        "achpr-sr-hrd", "coe-commissioner", "fld-emergency", "protectdefenders-eu", "uaf-whrd", "lifeline",
        "nhri-in", "nhri-pk", "nhri-mx", "nhri-ke", "nhri-ph", "nhri-za", "nhri-co", "nhri-hn", "nhri-gt", "nhri-br",
    ])


def test_every_entry_has_name_languages_and_example_org_contact() -> None:
    for mechanism in load_catalogue().mechanisms:
        assert mechanism.name and mechanism.languages
        assert str(mechanism.referral.email).endswith("example.org")


@pytest.mark.parametrize(("consent", "expected"), [("private", []), ("mechanisms", None), ("network", None), ("public", None)])
def test_consent_gate(consent: str, expected: list[str] | None) -> None:
    found = mechanisms(consent=consent, country="MX", incident_type="killing", defenders=WOMAN)
    if expected is not None:
        assert found == expected
    else:
        assert {"un-sr-hrd", "un-sr-executions", "iachr", "nhri-mx", "uaf-whrd"} <= set(found)


def test_output_is_sorted_and_unique() -> None:
    found = mechanisms(country="CO", incident_type="forced_eviction", imminent_danger=True, corporate_actor="X",
                       defenders=[{"name": "A", "gender": "woman", "groups": ["indigenous"], "detained": True}])
    assert found == sorted(set(found))
    assert len(found) >= 10


def test_mechanisms_follow_urgency_not_just_type() -> None:
    r = report(country="MX")
    assert "iachr" not in eligible_mechanisms(r, Urgency.medium)
    assert "iachr" in eligible_mechanisms(r, Urgency.high)


FACTS = Facts(
    incident_type=IncidentType.land_grab, country="BR", urgency=Urgency.medium, m49=frozenset({"019", "419", "005"}),
    country_groups=frozenset(), detained=False, groups=frozenset({Group.peasant}),
    genders=frozenset({Gender.woman}), corporate_actor=True,
)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"incident_types": ["land_grab"]}, True),
        ({"incident_types": ["land_grab"], "min_urgency": "high"}, False),
        ({"any_of": [{"min_urgency": "high"}, {"m49": ["005"]}]}, True),
        ({"all_of": [{"corporate_actor": True}, {"defender_detained": True}]}, False),
        ({"not": {"countries": ["BR"]}}, False),
        ({"not": {"defender_detained": True}}, True),
        ({"defender_genders": ["man", "woman"]}, True),
        ({"country_groups": ["council_of_europe"]}, False),
    ],
)
def test_holds(condition: dict[str, Any], expected: bool) -> None:
    assert holds(Condition.model_validate(condition), FACTS) is expected


ENTRY = """
mechanisms:
  - id: un-sr-hrd
    name: Special Rapporteur
    languages: [en]
    referral: {email: a@example.org}
    when: {min_urgency: high}
"""


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        ("{min_urgency: high}", "{incident_types: [stabbing]}", r"entry 0 \(un-sr-hrd\): field when.incident_types.0"),
        ("{min_urgency: high}", "{min_urgency: extreme}", r"entry 0 \(un-sr-hrd\): field when.min_urgency"),
        ("{min_urgency: high}", "{}", r"entry 0 \(un-sr-hrd\): field when"),
        ("{min_urgency: high}", "{colour: red}", r"entry 0 \(un-sr-hrd\): field when.colour"),
        ("{min_urgency: high}", "{any_of: [{incident_types: [x]}]}", r"field when.any_of.0.incident_types.0"),
        ("{min_urgency: high}", "{m49: ['999']}", r"entry 0 \(un-sr-hrd\): field when.m49: unknown M49 area"),
        ("{min_urgency: high}", "{country_groups: [nato]}", r"field when.country_groups: unknown group 'nato'"),
        ("{min_urgency: high}", "{countries: [XX]}", r"field when.countries.0"),
        ("languages: [en]", "languages: [english]", r"entry 0 \(un-sr-hrd\): field languages.0"),
        ("a@example.org", "not-an-email", r"entry 0 \(un-sr-hrd\): field referral.email"),
        ("    name: Special Rapporteur\n", "", r"entry 0 \(un-sr-hrd\): field name: Field required"),
        ("id: un-sr-hrd", "id: UN SR", r"entry 0 \(UN SR\): field id"),
        ("id: un-sr-hrd", "id: nhri-mx", r"entry 0 \(nhri-mx\): field \(entry\): .*countries: \[MX\]"),
    ],
)
def test_bad_file_names_entry_and_field(tmp_path: Path, replace: str, by: str, message: str) -> None:
    assert replace in ENTRY
    path = tmp_path / "mechanisms.yaml"
    path.write_text(ENTRY.replace(replace, by), encoding="utf-8")
    with pytest.raises(CatalogueError, match=message):
        load_catalogue(path)


def test_duplicate_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mechanisms.yaml"
    path.write_text(ENTRY + ENTRY.split("mechanisms:\n")[1], encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"entry 1 \(un-sr-hrd\): field id: duplicate id"):
        load_catalogue(path)


@pytest.mark.parametrize("content", ["mechanisms: [", "{}", "mechanisms: []"])
def test_unreadable_or_empty_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "mechanisms.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CatalogueError, match=str(path)):
        load_catalogue(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(tmp_path / "nope.yaml")


def test_custom_file_is_used(tmp_path: Path) -> None:
    path = tmp_path / "mechanisms.yaml"
    path.write_text(ENTRY, encoding="utf-8")
    catalogue = load_catalogue(path)
    assert eligible_mechanisms(report(incident_type="killing"), Urgency.critical, catalogue) == ["un-sr-hrd"]
    assert eligible_mechanisms(report(), Urgency.medium, catalogue) == []
