"""Closed vocabularies shared by reports, cases, members and actions."""

from __future__ import annotations

from enum import StrEnum
from functools import cache


class IncidentType(StrEnum):
    """What happened to the defender(s)."""

    killing = "killing"
    attempted_killing = "attempted_killing"
    enforced_disappearance = "enforced_disappearance"
    abduction = "abduction"
    arbitrary_detention = "arbitrary_detention"
    torture_ill_treatment = "torture_ill_treatment"
    physical_attack = "physical_attack"
    sexual_violence = "sexual_violence"
    death_threat = "death_threat"
    threat_intimidation = "threat_intimidation"
    judicial_harassment = "judicial_harassment"
    forced_eviction = "forced_eviction"
    land_grab = "land_grab"
    raid_search = "raid_search"
    surveillance = "surveillance"
    smear_campaign = "smear_campaign"
    travel_ban = "travel_ban"
    org_closure = "org_closure"
    other = "other"


@cache
def _rank(member: StrEnum) -> int:
    # Compared on every routing rule of every report: look the position up once per member.
    return list(type(member)).index(member)


class _Ordered(StrEnum):
    """A string enum whose members compare by declaration order."""

    @property
    def rank(self) -> int:
        """Position in declaration order (0 is lowest)."""
        return _rank(self)

    def __lt__(self, other: object) -> bool:  # type: ignore[override]
        if isinstance(other, type(self)):
            return self.rank < other.rank
        return NotImplemented

    def __le__(self, other: object) -> bool:  # type: ignore[override]
        if isinstance(other, type(self)):
            return self.rank <= other.rank
        return NotImplemented

    def __gt__(self, other: object) -> bool:  # type: ignore[override]
        if isinstance(other, type(self)):
            return self.rank > other.rank
        return NotImplemented

    def __ge__(self, other: object) -> bool:  # type: ignore[override]
        if isinstance(other, type(self)):
            return self.rank >= other.rank
        return NotImplemented


class Consent(_Ordered):
    """How far information about the defender may travel; ordered from narrowest to widest."""

    private = "private"
    mechanisms = "mechanisms"
    network = "network"
    public = "public"


class Urgency(_Ordered):
    """How fast the network must act; ordered from low to critical."""

    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class Gender(StrEnum):
    """A defender's gender as reported."""

    woman = "woman"
    man = "man"
    non_binary = "non_binary"
    undisclosed = "undisclosed"


class Group(StrEnum):
    """Groups a defender belongs to or works with."""

    indigenous = "indigenous"
    peasant = "peasant"
    fisherfolk = "fisherfolk"
    urban_poor = "urban_poor"
    landless = "landless"
    domestic_worker = "domestic_worker"
    trade_unionist = "trade_unionist"
    journalist = "journalist"
    lgbti = "lgbti"
    environmental = "environmental"
    land_rights = "land_rights"
    women_rights = "women_rights"
    minority = "minority"
    youth = "youth"
    lawyer = "lawyer"


class Region(StrEnum):
    """The network's regions."""

    africa = "africa"
    americas = "americas"
    asia_pacific = "asia_pacific"
    europe_central_asia = "europe_central_asia"
    mena = "mena"


class CaseStatus(StrEnum):
    """Lifecycle of a case: new -> verified -> closed | dismissed."""

    new = "new"
    verified = "verified"
    closed = "closed"
    dismissed = "dismissed"


class Channel(StrEnum):
    """Ways to reach a member."""

    sms = "sms"
    email = "email"


class Role(StrEnum):
    """Roles of a member organisation's contact."""

    member = "member"
    secretariat = "secretariat"  # secretariat staff who are not on call now (escalation's "whole secretariat")
    secretariat_oncall = "secretariat_oncall"  # on call: everyone with it is paged first (the simple schedule)


class TokenRole(StrEnum):
    """Roles an API token can carry."""

    reporter = "reporter"
    secretariat = "secretariat"
    metrics = "metrics"


class ActionKind(StrEnum):
    """Kinds of call to action."""

    sign_on_letter = "sign_on_letter"
    petition = "petition"
    solidarity_message = "solidarity_message"
    decentralized_action = "decentralized_action"
    # Follow-ups: sent to exactly those an earlier action of the case reached (the delivery ledger's recipients).
    further_information = "further_information"
    closure_notice = "closure_notice"
