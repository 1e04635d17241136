"""Who receives a call to action, and who is on call at the secretariat: rules over Member records."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from schemas.actions import Audience
from schemas.members import Member
from schemas.vocab import Region, Role


def _region_matches(member: Member, wanted: set[Region], region_of: Callable[[str], Region]) -> bool:
    try:
        return region_of(member.country) in wanted
    except KeyError:
        # A country the region table does not know belongs to no region, so no region filter selects it.
        return False


def matches(member: Member, audience: Audience, region_of: Callable[[str], Region]) -> bool:
    """Whether a member passes every filter the audience gives (an empty filter passes everyone)."""
    if audience.member_ids and member.member_id not in audience.member_ids:
        return False
    if audience.countries and member.country not in audience.countries:
        return False
    if audience.languages and member.language not in audience.languages:
        return False
    if audience.working_groups:
        wanted = {g.casefold() for g in audience.working_groups}
        if not wanted & {g.casefold() for g in member.working_groups}:
            return False
    if audience.regions and not _region_matches(member, set(audience.regions), region_of):
        return False
    return True


def select_members(members: Iterable[Member], audience: Audience, region_of: Callable[[str], Region]) -> list[Member]:
    """The members (role `member`) matching every given audience filter; an empty audience selects them all."""
    return [m for m in members if Role.member in m.roles and matches(m, audience, region_of)]


def oncall(members: Iterable[Member]) -> list[Member]:
    """The secretariat's on-call contacts (role `secretariat_oncall`)."""
    return [m for m in members if Role.secretariat_oncall in m.roles]
