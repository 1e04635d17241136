"""UN M49 areas, the network's regions and named country groups, loaded from agents/data/regions.yaml."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.fields import CountryCode
from schemas.vocab import Region

DEFAULT_PATH = Path(__file__).parent / "data" / "regions.yaml"


class RegionTableError(ValueError):
    """The region table file is missing, malformed or inconsistent."""


class UnknownCountry(KeyError):
    """A country code that the region table does not know."""


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Area(_Data):
    """One M49 area: either a leaf listing countries or a parent of nested areas."""

    code: str = Field(pattern=r"^\d{3}$", description="M49 numeric code, quoted in YAML.")
    name: str
    network: Region | None = Field(None, description="Network region of every country below, unless overridden.")
    countries: list[CountryCode] = Field(default_factory=list)
    areas: list[Area] = Field(default_factory=list)


class RegionFile(_Data):
    """The whole regions.yaml document."""

    m49: list[Area]
    network_overrides: dict[CountryCode, Region] = Field(default_factory=dict)
    outside_m49: dict[CountryCode, Region] = Field(default_factory=dict)
    groups: dict[str, list[CountryCode]] = Field(default_factory=dict)


class RegionTable:
    """Country lookups built from a validated RegionFile."""

    def __init__(self, data: RegionFile) -> None:
        self._areas: dict[str, frozenset[str]] = {}
        self._network: dict[str, Region] = {}
        self._names: dict[str, str] = {}
        for area in data.m49:
            self._walk(area, (), None)
        for code, region in data.outside_m49.items():
            if code in self._network:
                raise RegionTableError(f"outside_m49.{code}: country is already listed in an M49 area")
            self._areas[code] = frozenset()
            self._network[code] = region
        for code, region in data.network_overrides.items():
            if code not in self._network:
                raise RegionTableError(f"network_overrides.{code}: country is not listed in any area")
            self._network[code] = region
        self._groups = {name: frozenset(codes) for name, codes in data.groups.items()}
        by_country: dict[str, set[str]] = {}
        for name, codes in self._groups.items():
            for code in codes:
                by_country.setdefault(code, set()).add(name)
        self._groups_of = {code: frozenset(names) for code, names in by_country.items()}

    def _walk(self, area: Area, parents: tuple[str, ...], network: Region | None) -> None:
        codes = (*parents, area.code)
        if area.code in self._names:
            raise RegionTableError(f"m49 area {area.code}: code listed twice")
        self._names[area.code] = area.name
        network = area.network or network
        for sub in area.areas:
            self._walk(sub, codes, network)
        for country in area.countries:
            if country in self._network:
                raise RegionTableError(f"m49 area {area.code} ({area.name}): {country} is listed twice")
            if network is None:
                raise RegionTableError(f"m49 area {area.code} ({area.name}): no network region for {country}")
            self._areas[country] = frozenset(codes)
            self._network[country] = network

    @property
    def countries(self) -> frozenset[str]:
        """Every country code the table knows."""
        return frozenset(self._network)

    @property
    def area_codes(self) -> frozenset[str]:
        """Every M49 area code in the table."""
        return frozenset(self._names)

    @property
    def group_names(self) -> frozenset[str]:
        """Names of the country groups (e.g. council_of_europe)."""
        return frozenset(self._groups)

    def network_region(self, country: str) -> Region:
        """The network region of a country code (any case)."""
        try:
            return self._network[country.upper()]
        except KeyError:
            raise UnknownCountry(country) from None

    def m49_areas(self, country: str) -> frozenset[str]:
        """The M49 codes of every area containing the country, from continent down to sub-region."""
        try:
            return self._areas[country.upper()]
        except KeyError:
            raise UnknownCountry(country) from None

    def in_area(self, country: str, m49_code: str) -> bool:
        """Whether the country lies in the M49 area (region, intermediate region or sub-region)."""
        return m49_code in self.m49_areas(country)

    def members(self, group: str) -> frozenset[str]:
        """The countries of a named group."""
        try:
            return self._groups[group]
        except KeyError:
            raise RegionTableError(f"unknown country group {group!r}") from None

    def groups_of(self, country: str) -> frozenset[str]:
        """Names of the country groups a country belongs to (none for a code in no group)."""
        return self._groups_of.get(country, frozenset())

    def area_members(self, m49_code: str) -> frozenset[str]:
        """Every country in an M49 area."""
        return frozenset(c for c, codes in self._areas.items() if m49_code in codes)


@lru_cache(maxsize=8)
def load_region_table(path: Path | None = None) -> RegionTable:
    """Load and check the region table once per path (the packaged file by default)."""
    path = Path(path) if path else DEFAULT_PATH
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RegionTableError(f"{path}: cannot read region table: {exc}") from exc
    try:
        data = RegionFile.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise RegionTableError(f"{path}: {problems}") from None
    return RegionTable(data)


def network_region(country: str) -> Region:
    """The network region of a country, from the packaged table."""
    return load_region_table().network_region(country)
