"""Members: publish a change, create and patch with the checks the API and the replies agent share."""

from __future__ import annotations

import asyncio

from pydantic import ValidationError

from schemas.base import FieldProblem, problems_from, utcnow
from schemas.members import Member, MemberPatch
from schemas.vocab import Role
from streams import crypto
from streams.runtime import Runtime
from streams.services.errors import ServiceError

FILTERS = ("country", "language", "role", "working_group")


async def publish_member(rt: Runtime, member: Member, touch: bool = True) -> Member:
    """Publish a member to members.v1 (keyed by member_id) and wait for the broker's ack; return it."""
    if touch:
        member = member.model_copy(update={"updated_at": utcnow()})
    # A new member's data key is made (and acknowledged) off the event loop, before the member is sealed with it.
    await asyncio.to_thread(crypto.sealer().keys.ensure, [f"member:{member.member_id}"])
    fut = await rt.topics.members.send(key=member.member_id.encode(), value=member)
    await fut
    return member


def member_filters(query) -> dict[str, str]:
    """The list filters from a query string, normalised; 422 for an unknown filter or role."""
    out = {}
    for name, value in query.items():
        if name not in FILTERS:
            raise ServiceError(422, f"unknown filter; use {', '.join(FILTERS)}", field=f"query.{name}")
        value = value.strip()
        if name == "role" and value not in {r.value for r in Role}:
            raise ServiceError(422, f"must be one of {', '.join(r.value for r in Role)}", field="query.role")
        out[name] = value.upper() if name == "country" else value.lower() if name == "language" else value
    return out


def filter_members(members, filters: dict[str, str]) -> list[Member]:
    """The members matching every filter, ordered by member_id."""
    def keep(m: Member) -> bool:
        return (filters.get("country", m.country) == m.country
                and filters.get("language", m.language) == m.language
                and ("role" not in filters or filters["role"] in {r.value for r in m.roles})
                and ("working_group" not in filters
                     or filters["working_group"].casefold() in {g.casefold() for g in m.working_groups}))

    return sorted((m for m in members if keep(m)), key=lambda m: m.member_id)


def _validate(model, data):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ServiceError(422, problems_from(exc)) from None


def _check_phone_free(rt: Runtime, member: Member) -> None:
    if member.phone:
        owner = rt.views.members.by_phone(member.phone)
        if owner and owner.member_id != member.member_id:
            raise ServiceError(409, "this phone number already belongs to another member", field="phone")


async def list_members(rt: Runtime, filters: dict[str, str]) -> list[Member]:
    """Members matching the filters, as of now (every write acknowledged before this call is included)."""
    await rt.views.sync()
    return filter_members(rt.views.members.values(), filters)


async def get_member(rt: Runtime, member_id: str) -> Member:
    """One member; 404 naming member_id."""
    await rt.views.sync()
    member = rt.views.members.get(member_id)
    if member is None:
        raise ServiceError(404, "no such member", field="member_id")
    return member


async def create_member(rt: Runtime, body: object) -> Member:
    """Validate a new member, refuse a taken member_id or phone, publish it and return it."""
    if not isinstance(body, dict):
        raise ServiceError(422, [FieldProblem(field="body", message="must be a JSON object")])
    member = _validate(Member, body)
    await rt.views.sync()
    if member.member_id in rt.views.members:
        raise ServiceError(409, "a member with this member_id exists; use PATCH to change it", field="member_id")
    if crypto.sealer().keys.is_shredded(f"member:{member.member_id}"):
        # Its data keys are destroyed for good: a member under this id would be stored as placeholders.
        raise ServiceError(409, "this member_id belonged to an erased member; choose another", field="member_id")
    _check_phone_free(rt, member)
    return await publish_member(rt, member)


async def patch_member(rt: Runtime, member_id: str, body: object) -> Member:
    """Apply a MemberPatch to a stored member, publish the result and return it."""
    patch = _validate(MemberPatch, body if body is not None else {})
    current = await get_member(rt, member_id)
    changes = patch.model_dump(exclude_unset=True, exclude={"schema_version"})
    member = _validate(Member, {**current.model_dump(), **changes})
    _check_phone_free(rt, member)
    return await publish_member(rt, member)
