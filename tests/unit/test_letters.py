"""Sign-on letters: grouping and sorting signatories, counts per region, language fallback, no member ids."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from agents.letters import (
    SignOnLetter, build_letter, collation_key, counts_by_region, pick_language, signatories,
    signatories_by_country,
)
from agents.texts import country_name
from schemas.vocab import Region


def sig(member_id: str, organization: str | None, country: str | None, signed_at: Any = None) -> dict[str, Any]:
    return {"member_id": member_id, "organization": organization, "country": country,
            "signed_at": signed_at or "2026-05-01T10:00:00+00:00"}


SIGNATURES = [
    sig("m01", "Via Campesina Ecuador", "EC"),
    sig("m02", "Red de Pescadores", "ES"),
    sig("m03", "Asociación de Vecinos", "ES"),
    sig("m04", "Landless Workers", "ZA"),
    sig("m05", "Bauernbund", "DE"),
    sig("m06", "Union des Paysans", "US"),
    sig("m07", "ámbar Colectivo", "ES"),
]


def french(code: str) -> str:
    return country_name(code, "fr")


def test_countries_sorted_by_their_localised_name_ignoring_accents() -> None:
    groups = signatories_by_country(SIGNATURES, country_name=french)
    # Afrique du Sud, Allemagne, Équateur, Espagne, États-Unis: É sorts as E, not after Z.
    assert [g.country for g in groups] == ["ZA", "DE", "EC", "ES", "US"]
    assert groups[0].name == "Afrique du Sud" and groups[2].name == "Équateur"


def test_english_names_sort_differently() -> None:
    groups = signatories_by_country(SIGNATURES)
    assert [g.name for g in groups] == ["Ecuador", "Germany", "South Africa", "Spain", "United States"]


def test_organisations_sorted_within_their_country() -> None:
    spain = next(g for g in signatories_by_country(SIGNATURES) if g.country == "ES")
    assert spain.organizations == ["ámbar Colectivo", "Asociación de Vecinos", "Red de Pescadores"]


def test_a_member_signing_twice_counts_once_and_keeps_its_earliest_signature() -> None:
    twice = [sig("m1", "Colectivo Tierra", "MX", "2026-05-02T10:00:00Z"),
             sig("m1", "Colectivo Tierra (new name)", "MX", "2026-05-01T10:00:00Z")]
    (only,) = signatories(twice)
    assert only.organization == "Colectivo Tierra (new name)"
    assert only.signed_at == datetime(2026, 5, 1, 10, tzinfo=timezone.utc)


def test_two_contacts_of_one_organisation_are_one_signatory() -> None:
    groups = signatories_by_country([sig("m1", "Colectivo Tierra", "MX"), sig("m2", "colectivo  tierra", "MX"),
                                     sig("m3", "Colectivo Tierra", "GT")])
    assert [(g.country, g.organizations) for g in groups] == [("GT", ["Colectivo Tierra"]),
                                                             ("MX", ["Colectivo Tierra"])]


def test_no_organisation_is_left_out_and_no_country_comes_last() -> None:
    groups = signatories_by_country([sig("m1", "", "MX"), sig("m2", None, "MX"), sig("m3", "Red Global", None),
                                     sig("m4", "Zeta", "AR")])
    assert [(g.country, g.name, g.organizations) for g in groups] == [
        ("AR", "Argentina", ["Zeta"]), (None, "", ["Red Global"])]


@pytest.mark.parametrize(("signatures", "expected"), [
    (SIGNATURES, [("europe_central_asia", 4), ("africa", 1), ("americas", 1), ("asia_pacific", 1)]),
    ([], []),
    ([sig("m1", "A", "MX"), sig("m2", "B", "BR"), sig("m3", "C", "KE"), sig("m4", "D", None)],
     [("americas", 2), ("africa", 1), (None, 1)]),
])
def test_counts_by_region(signatures: list[dict[str, Any]], expected: list[tuple[str | None, int]]) -> None:
    def region_of(code: str) -> Region:
        # A stand-in table: Europe, Americas, Africa, and the US counted as Asia-Pacific to prove it is used.
        return {"EC": Region.americas, "MX": Region.americas, "BR": Region.americas, "ES": Region.europe_central_asia,
                "DE": Region.europe_central_asia, "ZA": Region.africa, "KE": Region.africa,
                "US": Region.asia_pacific}[code]
    # Most first, ties by region name, unknown last (SIGNATURES: three Spanish organisations and a German one).
    assert [(rc.region, rc.count) for rc in counts_by_region(signatures, region_of)] == expected


def test_unknown_country_counts_under_unknown_region() -> None:
    counts = counts_by_region([sig("m1", "A", "XK"), sig("m2", "B", "MX")],
                              region_of=lambda code: {"MX": "americas"}[code])
    assert [(rc.region, rc.count) for rc in counts] == [("americas", 1), (None, 1)]


def test_default_region_table_is_the_network_one() -> None:
    counts = counts_by_region([sig("m1", "A", "MX"), sig("m2", "B", "EG"), sig("m3", "C", "PH")])
    assert {rc.region for rc in counts} == {"americas", "mena", "asia_pacific"}


def letter(**overrides: Any) -> SignOnLetter:
    data: dict[str, Any] = {
        "reference": "SOL-LTR001",
        "titles": {"en": "Release Ana now", "es": "Liberen a Ana ya"},
        "texts": {"en": "We, the undersigned organisations, call for her release.",
                  "es": "Las organizaciones firmantes exigimos su liberación.",
                  "fr": "Les organisations signataires demandent sa libération."},
        "target": {"name": "Fiscalía General", "title": "Fiscal General", "address": "Av. Reforma 1\nCiudad de México",
                   "email": "fiscal@example.org", "language": "es"},
        "deadline": "2026-05-10T23:59:00+00:00",
    }
    data.update(overrides)
    return SignOnLetter.model_validate(data)


@pytest.mark.parametrize(("texts", "target_language", "expected"), [
    ({"en": "E", "es": "S", "fr": "F"}, "es", "es"),       # the target's language
    ({"en": "E", "fr": "F"}, "pt", "en"),                  # else English
    ({"fr": "F", "ar": "A"}, "pt", "fr"),                  # else the first text given
    ({"en": "E", "es": "   "}, "es", "en"),                # a blank text is no text
])
def test_body_language_falls_back_sensibly(texts: dict[str, str], target_language: str, expected: str) -> None:
    target = {"name": "Minister", "language": target_language}
    built = build_letter(letter(texts=texts, target=target, titles={}), [])
    assert built.language == expected
    assert built.body == texts[expected].strip()


def test_title_follows_the_body_language_or_falls_back() -> None:
    assert build_letter(letter(), []).title == "Liberen a Ana ya"
    fr = build_letter(letter(target={"name": "Ministre", "language": "fr"}), [])
    assert (fr.language, fr.title) == ("fr", "Release Ana now")
    assert build_letter(letter(titles={}), []).title == ""


def test_pick_language() -> None:
    assert pick_language(["fr", "en"], "es") == "en"
    assert pick_language(["fr", "en"], "es", fallbacks=("fr",)) == "fr"
    assert pick_language([], "es") is None


def test_letter_content_object() -> None:
    built = build_letter(letter(), SIGNATURES, dated=date(2026, 5, 3))
    assert built.reference == "SOL-LTR001" and built.kind == "sign_on_letter"
    assert built.dated == date(2026, 5, 3)
    assert built.deadline == datetime(2026, 5, 10, 23, 59, tzinfo=timezone.utc)
    assert built.target.name == "Fiscalía General" and built.target.email == "fiscal@example.org"
    # Groups are named in the letter's language (Spanish): Alemania, Ecuador, España, Estados Unidos, Sudáfrica.
    assert [g.country for g in built.groups] == ["DE", "EC", "ES", "US", "ZA"]
    assert built.groups[2].name == "España"
    assert built.total == 7 == sum(rc.count for rc in built.regions)
    dumped = built.model_dump_json()
    assert not any(f'"m0{i}"' in dumped for i in range(1, 8)), "member ids never reach the document"


def test_letter_text_is_kept_exactly_as_data() -> None:
    text = "Dear {reference} {{ 7*7 }} {% if x %}<script>alert(1)</script>"
    built = build_letter(letter(texts={"en": text}, target={"name": "X"}), [])
    assert built.body == text


def test_letter_needs_some_text() -> None:
    with pytest.raises(ValidationError, match="texts"):
        letter(texts={"en": "  "})
    with pytest.raises(ValidationError, match="texts"):
        letter(texts={})


def test_collation_key_ignores_case_and_accents() -> None:
    assert sorted(["Zeta", "éclair", "Alpha", "Éden"], key=collation_key) == ["Alpha", "éclair", "Éden", "Zeta"]
