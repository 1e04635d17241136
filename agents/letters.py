"""Sign-on letters and petitions: the text per language, the target, the signatories grouped for the document.

`build_letter(letter, signatures)` makes the `Letter` that streams.documents renders: the title and body in the
target's language (falling back sensibly), the target block, the signatory organisations grouped by country
(sorted by the country's name in the letter's language) and counted per network region, and the total.

A letter's text is written by people: it is data, never code. Nothing here fills, formats or evaluates it; the
renderer passes it to its template only as an escaped variable, so `{{ 7*7 }}` or `<script>` print as written.

A signature is a mapping with member_id, organization, country (ISO 3166-1 alpha-2, may be missing) and signed_at
(a datetime or ISO 8601 text). A member signing twice counts once (its earliest signature); two contacts of the
same organisation in the same country are one signatory organisation. A signature without an organisation name
is left out (the document never shows a member id). Member ids are only used to deduplicate: they never reach
the `Letter`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from agents.regions import network_region
from agents.texts import country_name as localised_country_name
from schemas.fields import AwareDatetime, LanguageCode

FALLBACK = "en"


def collation_key(text: str) -> tuple[str, str]:
    """A sort key that ignores case and accents ('Équateur' sorts with 'Equateur', before 'Zambie')."""
    decomposed = unicodedata.normalize("NFKD", text)
    base = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return base.casefold().strip(), text


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Target(_Model):
    """Whom the letter is addressed to."""

    name: str = Field(min_length=1, max_length=200)
    title: str = Field("", max_length=300)
    address: str = Field("", max_length=1000)
    email: EmailStr | None = None
    language: LanguageCode = FALLBACK


class SignOnLetter(_Model):
    """A sign-on letter or petition as the secretariat wrote it."""

    reference: str = Field(min_length=1, max_length=64, description="The case or action reference.")
    kind: Literal["sign_on_letter", "petition"] = "sign_on_letter"
    titles: dict[LanguageCode, str] = Field(default_factory=dict, description="Title per language.")
    texts: dict[LanguageCode, str] = Field(min_length=1, description="Letter text per language (plain text).")
    target: Target
    deadline: AwareDatetime | None = None

    @field_validator("texts")
    @classmethod
    def _some_text(cls, texts: dict[str, str]) -> dict[str, str]:
        if not any(t.strip() for t in texts.values()):
            raise ValueError("give the letter's text in at least one language")
        return texts


class Signatory(_Model):
    """One signature as read from the signatures store."""

    member_id: str
    organization: str
    country: str | None = None
    signed_at: datetime | None = None


class CountryGroup(_Model):
    """The signatory organisations of one country (country None: no country given)."""

    country: str | None
    name: str
    organizations: list[str]


class RegionCount(_Model):
    """How many signatory organisations a region has (region None: not known)."""

    region: str | None
    count: int


class Letter(_Model):
    """A letter ready to render: every text already chosen for its language."""

    kind: Literal["sign_on_letter", "petition"]
    reference: str
    language: str = Field(description="The language of the body, the title and the document's headings.")
    title: str
    body: str
    dated: date
    deadline: datetime | None = None
    target: Target
    groups: list[CountryGroup]
    regions: list[RegionCount]
    total: int


def pick_language(available: Iterable[str], wanted: str, fallbacks: Sequence[str] = (FALLBACK,)) -> str | None:
    """`wanted` if available, else the first available fallback, else the first available language (or None)."""
    present = list(available)
    for lang in (wanted, *fallbacks):
        if lang in present:
            return lang
    return present[0] if present else None


def _signed_at(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str) and value.strip():
        try:
            return _signed_at(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def signatories(signatures: Iterable[Mapping[str, Any] | Signatory]) -> list[Signatory]:
    """The distinct signatory organisations: one per member (its earliest signature), one per organisation name
    and country, none without an organisation name."""
    earliest: dict[str, Signatory] = {}
    never = datetime.max.replace(tzinfo=timezone.utc)
    for raw in signatures:
        data = raw.model_dump() if isinstance(raw, BaseModel) else dict(raw)
        organization = str(data.get("organization") or "").strip()
        member_id = str(data.get("member_id") or "").strip()
        if not organization:
            continue
        country = str(data.get("country") or "").strip().upper() or None
        sig = Signatory(member_id=member_id or f"org:{organization}", organization=organization, country=country,
                        signed_at=_signed_at(data.get("signed_at")))
        seen = earliest.get(sig.member_id)
        if seen is None or (sig.signed_at or never) < (seen.signed_at or never):
            earliest[sig.member_id] = sig
    by_org: dict[tuple[str | None, str], Signatory] = {}
    for sig in sorted(earliest.values(), key=lambda s: (s.signed_at or never, s.member_id)):
        key = (sig.country, collation_key(" ".join(sig.organization.split()))[0])
        by_org.setdefault(key, sig)
    return list(by_org.values())


def signatories_by_country(
    signatures: Iterable[Mapping[str, Any] | Signatory],
    country_name: Callable[[str], str] = lambda code: localised_country_name(code, FALLBACK),
) -> list[CountryGroup]:
    """Signatory organisations grouped by country, countries sorted by `country_name` (the letter's language),
    organisations sorted within each; signatures without a country come last."""
    grouped: dict[str | None, list[str]] = {}
    for sig in signatories(signatures):
        grouped.setdefault(sig.country, []).append(sig.organization)
    groups = [
        CountryGroup(country=code, name=country_name(code) if code else "",
                     organizations=sorted(orgs, key=collation_key))
        for code, orgs in grouped.items()
    ]
    return sorted(groups, key=lambda g: (g.country is None, collation_key(g.name), g.country or ""))


def counts_by_region(
    signatures: Iterable[Mapping[str, Any] | Signatory],
    region_of: Callable[[str], Any] = network_region,
) -> list[RegionCount]:
    """Signatory organisations per region, most first (ties by region name); unknown regions (no country, or one
    `region_of` does not know) are counted under None, last."""
    counts: dict[str | None, int] = {}
    for sig in signatories(signatures):
        region: str | None = None
        if sig.country:
            try:
                found = region_of(sig.country)
            except (KeyError, ValueError, LookupError):
                found = None
            region = str(found) if found else None
        counts[region] = counts.get(region, 0) + 1
    return sorted((RegionCount(region=r, count=n) for r, n in counts.items()),
                  key=lambda rc: (rc.region is None, -rc.count, rc.region or ""))


def build_letter(
    letter: SignOnLetter,
    signatures: Iterable[Mapping[str, Any] | Signatory],
    *,
    region_of: Callable[[str], Any] = network_region,
    dated: date | None = None,
    fallbacks: Sequence[str] = (FALLBACK,),
) -> Letter:
    """The document content of `letter` with its signatures, in the target's language when the letter has a text
    in it, else the first of `fallbacks` it has, else its first language."""
    texts = {lang: text for lang, text in letter.texts.items() if text.strip()}
    language = pick_language(texts, letter.target.language, fallbacks) or FALLBACK
    titles = {lang: text for lang, text in letter.titles.items() if text.strip()}
    # The title in the body's language; a title in another language is better than none.
    title_lang = pick_language(titles, language, fallbacks)
    title = titles[title_lang] if title_lang else ""
    signed = signatories(signatures)
    groups = signatories_by_country(signed, lambda code: localised_country_name(code, language))
    return Letter(
        kind=letter.kind,
        reference=letter.reference,
        language=language,
        title=title,
        body=texts[language],
        dated=dated or datetime.now(timezone.utc).date(),
        deadline=letter.deadline,
        target=letter.target,
        groups=groups,
        regions=counts_by_region(signed, region_of),
        total=sum(len(g.organizations) for g in groups),
    )
