"""Which protection mechanisms a case can be referred to, from the data file agents/data/mechanisms.yaml.

Conditions are data (see the file's header); `holds` evaluates one against the facts of a report. Each entry also
has a `kind` (the layout of its referral packet, agents/referrals.py), an optional `follow_up_days` and optional
`names` per language; the loader refuses an unknown kind, a name in a language the entry does not work in, and an
nhri-<cc> entry of another kind, naming the entry and the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel, ConfigDict, EmailStr, Field, HttpUrl, StringConstraints, ValidationError, model_validator,
)

from agents.regions import RegionTable, load_region_table
from schemas.fields import CountryCode, LanguageCode
from schemas.reports import ReportIn
from schemas.vocab import Consent, Gender, Group, IncidentType, Urgency

DEFAULT_PATH = Path(__file__).parent / "data" / "mechanisms.yaml"

# Consent is a safeguard, not configuration: below this level nothing leaves the secretariat.
MINIMUM_CONSENT = Consent.mechanisms


class CatalogueError(ValueError):
    """The mechanisms file is missing, malformed or refers to unknown regions or groups."""


class MechanismKind(StrEnum):
    """What sort of body a mechanism is: decides the layout of a referral packet and when to follow it up."""

    un_special_procedure = "un_special_procedure"
    regional = "regional"
    emergency_fund = "emergency_fund"
    nhri = "nhri"


# An entry without `kind` takes it from its id when the id says it (the file names every kind; this keeps files
# written before `kind` existed loading); any other entry must name its kind.
KIND_BY_ID_PREFIX = {"un-": MechanismKind.un_special_procedure, "nhri-": MechanismKind.nhri}


class Condition(BaseModel):
    """When a mechanism applies: every key given must hold (see mechanisms.yaml for the keys)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    incident_types: list[IncidentType] | None = Field(None, min_length=1)
    defender_detained: bool | None = None
    defender_groups: list[Group] | None = Field(None, min_length=1)
    defender_genders: list[Gender] | None = Field(None, min_length=1)
    corporate_actor: bool | None = None
    min_urgency: Urgency | None = None
    m49: list[str] | None = Field(None, min_length=1)
    country_groups: list[str] | None = Field(None, min_length=1)
    countries: list[CountryCode] | None = Field(None, min_length=1)
    any_of: list[Condition] | None = Field(None, min_length=1)
    all_of: list[Condition] | None = Field(None, min_length=1)
    not_: Condition | None = Field(None, alias="not")

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        # An empty condition would silently match every case.
        if not self.model_fields_set:
            raise ValueError("a condition needs at least one key")
        return self


class Referral(BaseModel):
    """Where the secretariat sends a referral."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: EmailStr
    url: HttpUrl | None = None


class Mechanism(BaseModel):
    """One protection mechanism with its display name(s), languages, kind, referral contact and condition."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    name: str = Field(min_length=1, max_length=200)
    languages: list[LanguageCode] = Field(min_length=1)
    referral: Referral
    when: Condition
    kind: MechanismKind
    follow_up_days: int | None = Field(None, ge=1, le=365)
    names: dict[LanguageCode, Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]] = (
        Field(default_factory=dict))

    @model_validator(mode="before")
    @classmethod
    def _kind_from_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and "kind" not in data and isinstance(data.get("id"), str):
            kind = next((k for prefix, k in KIND_BY_ID_PREFIX.items() if data["id"].startswith(prefix)), None)
            if kind is not None:
                data = {**data, "kind": kind}
        return data

    @model_validator(mode="after")
    def _nhri_country(self) -> Mechanism:
        # nhri-<cc> is how other tools find a country's national institution: id and country must agree.
        if self.id.startswith("nhri-") and self.when.countries != [self.id[5:].upper()]:
            raise ValueError(f"an nhri-<cc> entry must have when: {{countries: [{self.id[5:].upper()}]}}")
        return self

    def display_name(self, language: str) -> str:
        """The mechanism's name in `language` when the file gives one, else its `name`."""
        return self.names.get(language) or self.name


class MechanismFile(BaseModel):
    """The whole mechanisms.yaml document."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mechanisms: list[Mechanism] = Field(min_length=1)


@dataclass(frozen=True)
class Facts:
    """What conditions look at, computed once per report."""

    incident_type: IncidentType
    country: str
    urgency: Urgency
    m49: frozenset[str]
    country_groups: frozenset[str]
    detained: bool
    groups: frozenset[Group]
    genders: frozenset[Gender]
    corporate_actor: bool

    @classmethod
    def from_report(cls, report: ReportIn, urgency: Urgency, regions: RegionTable | None = None) -> Facts:
        """The facts of a report at a given urgency."""
        regions = regions or load_region_table()
        return cls(
            incident_type=report.incident_type,
            country=report.country,
            urgency=urgency,
            m49=regions.m49_areas(report.country),
            country_groups=regions.groups_of(report.country),
            detained=any(d.detained for d in report.defenders),
            groups=frozenset(g for d in report.defenders for g in d.groups),
            genders=frozenset(d.gender for d in report.defenders),
            corporate_actor=report.corporate_actor is not None,
        )


def holds(condition: Condition, facts: Facts) -> bool:
    """Whether every key of the condition holds for the facts."""
    c = condition
    # Cheapest keys first, stopping at the first that fails: this runs for every mechanism of every report.
    return (
        (c.incident_types is None or facts.incident_type in c.incident_types)
        and (c.defender_detained is None or facts.detained == c.defender_detained)
        and (c.corporate_actor is None or facts.corporate_actor == c.corporate_actor)
        and (c.countries is None or facts.country in c.countries)
        and (c.min_urgency is None or facts.urgency >= c.min_urgency)
        and (c.defender_groups is None or not facts.groups.isdisjoint(c.defender_groups))
        and (c.defender_genders is None or not facts.genders.isdisjoint(c.defender_genders))
        and (c.m49 is None or not facts.m49.isdisjoint(c.m49))
        and (c.country_groups is None or not facts.country_groups.isdisjoint(c.country_groups))
        and (c.any_of is None or any(holds(sub, facts) for sub in c.any_of))
        and (c.all_of is None or all(holds(sub, facts) for sub in c.all_of))
        and (c.not_ is None or not holds(c.not_, facts))
    )


class Catalogue:
    """The validated mechanisms, in file order."""

    # Reports share a few thousand distinct facts at most (country, type, urgency, groups...): each is routed once.
    MEMO_SIZE = 4096

    def __init__(self, mechanisms: list[Mechanism]) -> None:
        self.mechanisms = tuple(mechanisms)
        self._by_id = {m.id: m for m in mechanisms}
        self._memo: dict[Facts, tuple[str, ...]] = {}

    def __getitem__(self, mechanism_id: str) -> Mechanism:
        """The mechanism with this id."""
        return self._by_id[mechanism_id]

    @property
    def ids(self) -> list[str]:
        """Every mechanism id, sorted."""
        return sorted(self._by_id)

    def eligible(self, facts: Facts) -> list[str]:
        """Sorted ids of the mechanisms whose condition holds (consent is checked by the caller)."""
        found = self._memo.get(facts)
        if found is None:
            if len(self._memo) >= self.MEMO_SIZE:
                self._memo.clear()
            found = self._memo[facts] = tuple(sorted(m.id for m in self.mechanisms if holds(m.when, facts)))
        return list(found)


def _walk(condition: Condition, path: str) -> Iterator[tuple[str, Condition]]:
    yield path, condition
    for key in ("any_of", "all_of"):
        for i, sub in enumerate(getattr(condition, key) or ()):
            yield from _walk(sub, f"{path}.{key}.{i}")
    if condition.not_ is not None:
        yield from _walk(condition.not_, f"{path}.not")


def _entry_label(raw: Any, index: int) -> str:
    entries = raw.get("mechanisms") if isinstance(raw, dict) else None
    entry = entries[index] if isinstance(entries, list) and index < len(entries) else None
    ident = entry.get("id") if isinstance(entry, dict) else None
    return f"entry {index} ({ident})" if ident else f"entry {index}"


def _describe(raw: Any, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = list(err["loc"])
        if len(loc) >= 2 and loc[0] == "mechanisms" and isinstance(loc[1], int):
            where = _entry_label(raw, loc[1])
            field = ".".join(str(p) for p in loc[2:]) or "(entry)"
            lines.append(f"{where}: field {field}: {err['msg']}")
        else:
            lines.append(f"field {'.'.join(str(p) for p in loc) or '(file)'}: {err['msg']}")
    return "; ".join(lines)


def _check(data: MechanismFile, regions: RegionTable) -> Catalogue:
    seen: set[str] = set()
    for index, mechanism in enumerate(data.mechanisms):
        label = f"entry {index} ({mechanism.id})"
        if mechanism.id in seen:
            raise CatalogueError(f"{label}: field id: duplicate id {mechanism.id!r}")
        seen.add(mechanism.id)
        if mechanism.id.startswith("nhri-") and mechanism.kind is not MechanismKind.nhri:
            raise CatalogueError(f"{label}: field kind: an nhri-<cc> entry must be of kind nhri")
        for lang in mechanism.names:
            if lang not in mechanism.languages:
                raise CatalogueError(f"{label}: field names.{lang}: {lang!r} is not one of the entry's languages")
        for path, cond in _walk(mechanism.when, "when"):
            for code in cond.m49 or ():
                if code not in regions.area_codes:
                    raise CatalogueError(f"{label}: field {path}.m49: unknown M49 area {code!r}")
            for group in cond.country_groups or ():
                if group not in regions.group_names:
                    raise CatalogueError(f"{label}: field {path}.country_groups: unknown group {group!r}")
    return Catalogue(list(data.mechanisms))


@lru_cache(maxsize=8)
def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load and check the mechanisms file once per path (the packaged file by default)."""
    path = Path(path) if path else DEFAULT_PATH
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogueError(f"{path}: cannot read mechanisms file: {exc}") from exc
    try:
        data = MechanismFile.model_validate(raw)
    except ValidationError as exc:
        raise CatalogueError(f"{path}: {_describe(raw, exc)}") from None
    try:
        return _check(data, load_region_table())
    except CatalogueError as exc:
        raise CatalogueError(f"{path}: {exc}") from None


def eligible_mechanisms(report: ReportIn, urgency: Urgency, catalogue: Catalogue | None = None) -> list[str]:
    """Sorted ids of the mechanisms a report may be referred to; none without consent to share."""
    if report.consent < MINIMUM_CONSENT:
        return []
    catalogue = catalogue or load_catalogue()
    return catalogue.eligible(Facts.from_report(report, urgency))
