"""Regions: every ISO country has a network region; M49 Africa and Americas and the Council of Europe are exact."""

from __future__ import annotations

from pathlib import Path

import pycountry
import pytest

from agents.classification import classify
from agents.regions import RegionTableError, UnknownCountry, load_region_table, network_region
from schemas.reports import ReportIn
from schemas.vocab import Region

# UN M49 region 002, as published by UNSD (including territories).
M49_AFRICA = set("""
DZ EG LY MA SD TN EH IO BI KM DJ ER ET TF KE MG MW MU YT MZ RE RW SC SO SS UG TZ ZM ZW AO CM CF TD CG CD GQ GA ST
BW SZ LS NA ZA BJ BF CV CI GM GH GN GW LR ML MR NE NG SH SN SL TG
""".split())

# UN M49 region 019.
M49_AMERICAS = set("""
AI AG AW BS BB BQ VG KY CU CW DM DO GD GP HT JM MQ MS PR BL KN LC MF VC SX TT TC VI BZ CR SV GT HN MX NI PA
AR BO BV BR CL CO EC FK GF GY PY PE GS SR UY VE BM CA GL PM US
""".split())

COUNCIL_OF_EUROPE = set("""
AL AD AM AT AZ BE BA BG HR CY CZ DK EE FI FR GE DE GR HU IS IE IT LV LI LT LU MT MD MC ME NL MK NO PL PT RO SM
RS SK SI ES SE CH TR UA GB
""".split())


def test_reference_lists_have_the_published_sizes() -> None:
    assert (len(M49_AFRICA), len(M49_AMERICAS), len(COUNCIL_OF_EUROPE)) == (60, 57, 46)


def test_every_pycountry_country_maps_to_a_region() -> None:
    table = load_region_table()
    for country in pycountry.countries:
        assert isinstance(table.network_region(country.alpha_2), Region), country.name
    assert table.countries == {c.alpha_2 for c in pycountry.countries}


def test_m49_africa_is_complete_and_exact() -> None:
    assert load_region_table().area_members("002") == M49_AFRICA


def test_m49_americas_is_complete_and_exact() -> None:
    assert load_region_table().area_members("019") == M49_AMERICAS


def test_council_of_europe_has_the_46_members_without_russia() -> None:
    members = load_region_table().members("council_of_europe")
    assert members == COUNCIL_OF_EUROPE
    assert "RU" not in members and "BY" not in members


@pytest.mark.parametrize(
    ("country", "region"),
    [
        ("KE", "africa"), ("ZA", "africa"), ("NG", "africa"), ("MR", "africa"),
        ("EG", "mena"), ("MA", "mena"), ("SD", "mena"), ("EH", "mena"), ("SA", "mena"), ("PS", "mena"),
        ("IL", "mena"), ("IR", "mena"), ("YE", "mena"),
        ("MX", "americas"), ("US", "americas"), ("GL", "americas"), ("FK", "americas"),
        ("IN", "asia_pacific"), ("PH", "asia_pacific"), ("AU", "asia_pacific"), ("TW", "asia_pacific"),
        ("FJ", "asia_pacific"), ("AF", "asia_pacific"),
        ("TR", "europe_central_asia"), ("GE", "europe_central_asia"), ("KZ", "europe_central_asia"),
        ("RU", "europe_central_asia"), ("CY", "europe_central_asia"), ("NO", "europe_central_asia"),
        ("gb", "europe_central_asia"),
    ],
)
def test_network_region(country: str, region: str) -> None:
    assert network_region(country) == Region(region)


@pytest.mark.parametrize(
    ("country", "areas"),
    [("BR", {"019", "419", "005"}), ("KE", {"002", "202", "014"}), ("EG", {"002", "015"}), ("AQ", set())],
)
def test_m49_areas(country: str, areas: set[str]) -> None:
    assert load_region_table().m49_areas(country) == areas


def test_unknown_country() -> None:
    with pytest.raises(UnknownCountry):
        network_region("XK")


def test_classification_carries_the_region() -> None:
    report = ReportIn.model_validate({
        "incident_type": "surveillance", "country": "ir", "occurred_at": "2025-03-01T10:00:00+00:00",
        "description": "Phones tapped since 2024.", "language": "fa", "defenders": [{}], "consent": "private",
    })
    assert classify(report).region == Region.mena


LEAF = "m49:\n  - {code: '001', name: World, network: africa, countries: %s}\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (LEAF % "[KE, KE]", "KE is listed twice"),
        (LEAF % "[QQ]", r"m49.0.countries.0"),
        ("m49:\n  - {code: '001', name: World, countries: [KE]}\n", "no network region for KE"),
        (LEAF % "[KE]" + "network_overrides: {UG: mena}\n", "network_overrides.UG"),
        (LEAF % "[KE]" + "outside_m49: {KE: mena}\n", "outside_m49.KE"),
        (LEAF % "[KE]" + "network_overrides: {KE: atlantis}\n", "network_overrides.KE"),
        ("m49: [", "cannot read"),
    ],
)
def test_bad_table_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "regions.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RegionTableError, match=message):
        load_region_table(path)


def test_groups_of_a_country_are_the_groups_listing_it() -> None:
    table = load_region_table()
    assert "council_of_europe" in table.groups_of("FR")
    assert "council_of_europe" not in table.groups_of("RU")
    for country in table.countries:
        assert table.groups_of(country) == {g for g in table.group_names if country in table.members(g)}
