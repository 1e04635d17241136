"""Calls to action: approve one for a case, follow its progress, download its signatories."""

from __future__ import annotations

from aiohttp import web
from faust.web import View

from schemas.vocab import TokenRole
from streams.runtime import Runtime
from streams.services.actions import action_view, approve_action, export_signatories, get_action
from streams.web.api.common import authenticate, guarded, json_response, read_json


def register_action_views(rt: Runtime) -> None:
    """Add the call-to-action endpoints (before the generic case routes, so they match first)."""

    @rt.app.page("/api/v1/cases/{case_id}/actions")
    class Approve(View):
        """Approve a call to action for a case."""

        @guarded
        async def post(self, request: web.Request, case_id: str) -> web.Response:
            """Publish a call to action; 202 with recipients per channel and segment warnings."""
            who = await authenticate(rt, request, TokenRole.secretariat)
            body = await read_json(request, rt.settings.web.max_body_bytes)
            return json_response(await approve_action(rt, case_id, body, who.name, token_id=who.token_id), status=202)

    @rt.app.page("/api/v1/actions/{action_id}")
    class Progress(View):
        """Progress of a call to action."""

        @guarded
        async def get(self, request: web.Request, action_id: str) -> web.Response:
            """Status (planning, sending, finished with its time) and the counters of every final state."""
            await authenticate(rt, request, TokenRole.secretariat)
            return json_response(action_view(rt, await get_action(rt, action_id)))

    @rt.app.page("/api/v1/actions/{action_id}/signatories.csv")
    class Signatories(View):
        """Organisations that signed."""

        @guarded
        async def get(self, request: web.Request, action_id: str) -> web.Response:
            """The signatories as CSV."""
            who = await authenticate(rt, request, TokenRole.secretariat)
            action = await get_action(rt, action_id)
            return web.Response(text=await export_signatories(rt, action, who.token_id), content_type="text/csv",
                                headers={"Content-Disposition": f'attachment; filename="{action_id}-signatories.csv"'})
