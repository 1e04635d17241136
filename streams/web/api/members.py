"""Member API for the secretariat: list with filters, create, read and patch member organisations."""

from __future__ import annotations

from aiohttp import web
from faust.web import View

from schemas.vocab import TokenRole
from streams.audit import record
from streams.runtime import Runtime
from streams.services.members import create_member, get_member, list_members, member_filters, patch_member
from streams.web.api.common import authenticate, guarded, json_response, read_json


def register_member_views(rt: Runtime) -> None:
    """Add the member endpoints."""
    app = rt.app

    @app.page("/api/v1/members")
    class Members(View):
        """The member list."""

        @guarded
        async def get(self, request: web.Request) -> web.Response:
            """List members (with contact data), filtered by country, language, role or working_group."""
            who = await authenticate(rt, request, TokenRole.secretariat)
            rows = await list_members(rt, member_filters(request.query))
            await record(rt, who.token_id, "member.list", "members", count=len(rows), via="api")
            return json_response({"members": [m.model_dump(mode="json") for m in rows], "count": len(rows)})

        @guarded
        async def post(self, request: web.Request) -> web.Response:
            """Create a member; 409 when the member_id exists."""
            who = await authenticate(rt, request, TokenRole.secretariat)
            body = await read_json(request, rt.settings.web.max_body_bytes)
            member = await create_member(rt, body)
            await record(rt, who.token_id, "member.create", member.member_id, via="api")
            return json_response(member.model_dump(mode="json"), status=201)

    @app.page("/api/v1/members/{member_id}")
    class OneMember(View):
        """One member."""

        @guarded
        async def get(self, request: web.Request, member_id: str) -> web.Response:
            """The member with its contact data."""
            who = await authenticate(rt, request, TokenRole.secretariat)
            member = await get_member(rt, member_id)
            await record(rt, who.token_id, "member.read", member.member_id, via="api")
            return json_response(member.model_dump(mode="json"))

        @guarded
        async def patch(self, request: web.Request, member_id: str) -> web.Response:
            """Change some fields of a member."""
            who = await authenticate(rt, request, TokenRole.secretariat)
            body = await read_json(request, rt.settings.web.max_body_bytes) if request.can_read_body else {}
            member = await patch_member(rt, member_id, body)
            fields = sorted(body)[:20] if isinstance(body, dict) else []
            await record(rt, who.token_id, "member.update", member.member_id, via="api",
                         fields=[f for f in fields if f.isidentifier() and len(f) <= 40])
            return json_response(member.model_dump(mode="json"))
