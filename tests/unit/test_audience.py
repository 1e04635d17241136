"""Audience selection: each filter, combinations, empty = all members, and the on-call list."""

from __future__ import annotations

import pytest

from agents.audience import oncall, select_members
from agents.regions import load_region_table
from schemas.actions import Audience
from schemas.members import Member


def member(member_id: str, country: str, language: str, groups=(), roles=("member",)) -> Member:
    """A member with just the fields selection looks at."""
    return Member(member_id=member_id, organization=f"Org {member_id}", contact_name="Contact", country=country,
                  language=language, working_groups=list(groups), roles=list(roles))


MEMBERS = [
    member("mx1", "MX", "es", ["land", "indigenous"]),
    member("br1", "BR", "pt", ["fisherfolk"]),
    member("sn1", "SN", "fr", ["women_defenders"]),
    member("eg1", "EG", "ar"),
    member("ph1", "PH", "en", ["Fisherfolk"]),
    member("es1", "ES", "es", ["land"]),
    member("sec", "KE", "en", roles=["secretariat_oncall"]),
    member("both", "GB", "en", roles=["member", "secretariat_oncall"]),
]
region_of = load_region_table().network_region


CASES = [
    ("empty = all members", {}, ["mx1", "br1", "sn1", "eg1", "ph1", "es1", "both"]),
    ("region", {"regions": ["americas"]}, ["mx1", "br1"]),
    ("two regions", {"regions": ["mena", "africa"]}, ["sn1", "eg1"]),
    ("country", {"countries": ["mx", "ES"]}, ["mx1", "es1"]),
    ("language", {"languages": ["es"]}, ["mx1", "es1"]),
    ("working group, any overlap, any case", {"working_groups": ["fisherfolk", "women_defenders"]},
     ["br1", "sn1", "ph1"]),
    ("member ids", {"member_ids": ["eg1", "ph1", "nobody"]}, ["eg1", "ph1"]),
    ("language and region", {"languages": ["es"], "regions": ["americas"]}, ["mx1"]),
    ("group and country", {"working_groups": ["land"], "countries": ["ES"]}, ["es1"]),
    ("member ids and language", {"member_ids": ["mx1", "br1"], "languages": ["pt"]}, ["br1"]),
    ("no match", {"languages": ["fr"], "regions": ["americas"]}, []),
    ("on-call only contacts are not members", {"member_ids": ["sec"]}, []),
]


@pytest.mark.parametrize(("_name", "filters", "expected"), CASES, ids=[c[0] for c in CASES])
def test_select_members(_name, filters, expected):
    chosen = select_members(MEMBERS, Audience(**filters), region_of)
    assert [m.member_id for m in chosen] == expected


def test_region_filter_is_only_consulted_when_given():
    def refuse(_country):
        raise AssertionError("region_of should not be called")

    assert len(select_members(MEMBERS, Audience(languages=["en"]), refuse)) == 2


def test_unknown_country_matches_no_region_but_other_filters_still_apply():
    def unknown(country):
        raise KeyError(country)

    assert select_members(MEMBERS, Audience(regions=["americas"]), unknown) == []
    assert [m.member_id for m in select_members(MEMBERS, Audience(countries=["EG"]), unknown)] == ["eg1"]


def test_accepts_any_iterable():
    assert len(select_members(iter(MEMBERS), Audience(), region_of)) == 7


def test_oncall():
    assert [m.member_id for m in oncall(MEMBERS)] == ["sec", "both"]
    assert oncall([]) == []
