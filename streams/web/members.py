"""Member API for the secretariat: list with filters, create, read and patch member organisations."""

from __future__ import annotations

from aiohttp import web
from faust.web import View
from pydantic import ValidationError

from schemas.base import FieldProblem, problems_from
from schemas.members import Member, MemberPatch
from schemas.vocab import Role, TokenRole
from streams.members import publish_member
from streams.runtime import Runtime
from streams.web.common import ApiError, authenticate, guarded, json_response, read_json

FILTERS = ("country", "language", "role", "working_group")


def member_filters(query) -> dict[str, str]:
    """The list filters from a query string, normalised; 422 for an unknown filter or role."""
    out = {}
    for name, value in query.items():
        if name not in FILTERS:
            raise ApiError(422, f"unknown filter; use {', '.join(FILTERS)}", field=f"query.{name}")
        value = value.strip()
        if name == "role" and value not in {r.value for r in Role}:
            raise ApiError(422, f"must be one of {', '.join(r.value for r in Role)}", field="query.role")
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
        raise ApiError(422, problems_from(exc)) from None


def _check_phone_free(rt: Runtime, member: Member) -> None:
    if member.phone:
        owner = rt.tables.member_phones.get(member.phone)
        if owner and owner != member.member_id:
            raise ApiError(409, "this phone number already belongs to another member", field="phone")


async def create_member(rt: Runtime, body: object) -> Member:
    """Validate a new member, refuse a taken member_id or phone, publish it and return it."""
    if not isinstance(body, dict):
        raise ApiError(422, [FieldProblem(field="body", message="must be a JSON object")])
    member = _validate(Member, body)
    if member.member_id in rt.tables.members:
        raise ApiError(409, "a member with this member_id exists; use PATCH to change it", field="member_id")
    _check_phone_free(rt, member)
    return await publish_member(rt, member)


async def patch_member(rt: Runtime, member_id: str, body: object) -> Member:
    """Apply a MemberPatch to a stored member, publish the result and return it."""
    patch = _validate(MemberPatch, body if body is not None else {})
    current = rt.tables.members.get(member_id)
    if current is None:
        raise ApiError(404, "no such member", field="member_id")
    changes = patch.model_dump(exclude_unset=True, exclude={"schema_version"})
    member = _validate(Member, {**current.model_dump(), **changes})
    _check_phone_free(rt, member)
    return await publish_member(rt, member)


def register_member_views(rt: Runtime) -> None:
    """Add the member endpoints."""
    app = rt.app

    @app.page("/api/v1/members")
    class Members(View):
        """The member list."""

        @guarded
        async def get(self, request: web.Request) -> web.Response:
            """List members (with contact data), filtered by country, language, role or working_group."""
            authenticate(rt, request, TokenRole.secretariat)
            rows = filter_members(rt.tables.members.values(), member_filters(request.query))
            return json_response({"members": [m.model_dump(mode="json") for m in rows], "count": len(rows)})

        @guarded
        async def post(self, request: web.Request) -> web.Response:
            """Create a member; 409 when the member_id exists."""
            authenticate(rt, request, TokenRole.secretariat)
            body = await read_json(request, rt.settings.web.max_body_bytes)
            member = await create_member(rt, body)
            return json_response(member.model_dump(mode="json"), status=201)

    @app.page("/api/v1/members/{member_id}")
    class OneMember(View):
        """One member."""

        @app.table_route(table=rt.tables.members_raw, match_info="member_id")
        @guarded
        async def get(self, request: web.Request, member_id: str) -> web.Response:
            """The member with its contact data."""
            authenticate(rt, request, TokenRole.secretariat)
            member = rt.tables.members.get(member_id)
            if member is None:
                raise ApiError(404, "no such member", field="member_id")
            return json_response(member.model_dump(mode="json"))

        @app.table_route(table=rt.tables.members_raw, match_info="member_id")
        @guarded
        async def patch(self, request: web.Request, member_id: str) -> web.Response:
            """Change some fields of a member."""
            authenticate(rt, request, TokenRole.secretariat)
            body = await read_json(request, rt.settings.web.max_body_bytes) if request.can_read_body else {}
            member = await patch_member(rt, member_id, body)
            return json_response(member.model_dump(mode="json"))
