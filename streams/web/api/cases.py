"""Case API for the secretariat: list, read, and lifecycle actions that become case events."""

from __future__ import annotations

from aiohttp import web
from faust.web import View

from schemas.vocab import TokenRole
from streams.audit import record
from streams.runtime import Runtime
from streams.services.oncall import on_call_now
from streams.services.cases import case_filters, case_view, change_case, get_case, list_cases
from streams.web.api.common import ApiError, authenticate, guarded, json_response, read_json


def register_case_views(rt: Runtime) -> None:
    """Add the case endpoints."""
    app = rt.app

    @app.page("/api/v1/cases")
    class Cases(View):
        """The case queue."""

        @guarded
        async def get(self, request: web.Request) -> web.Response:
            """List cases, filtered by status, urgency, country, region or reference."""
            await authenticate(rt, request, TokenRole.secretariat)
            filters = case_filters(request.query)
            await rt.views.sync()
            return json_response({"cases": list_cases(rt, filters)})

    @app.page("/api/v1/cases/{case_id}")
    class OneCase(View):
        """One case."""

        @guarded
        async def get(self, request: web.Request, case_id: str) -> web.Response:
            """The case with its reports, urgency, reasons, mechanisms, consent, status and history."""
            who = await authenticate(rt, request, TokenRole.secretariat)
            case = await get_case(rt, case_id)
            if case is None:
                raise ApiError(404, "no such case (a report just submitted may take a moment)", field="case_id")
            await record(rt, who.token_id, "case.read", case.case_id, case.case_id, via="api")
            return json_response(case_view(case))

    @app.page("/api/v1/oncall")
    class OnCall(View):
        """Who is on call now."""

        @guarded
        async def get(self, request: web.Request) -> web.Response:
            """Each schedule's on-call members, until when, and the escalation policies."""
            await authenticate(rt, request, TokenRole.secretariat)
            await rt.views.sync()
            return json_response(on_call_now(rt))

    @app.page("/api/v1/cases/{case_id}/{verb}")
    class CaseAction(View):
        """Lifecycle actions on a case."""

        @guarded
        async def post(self, request: web.Request, case_id: str, verb: str) -> web.Response:
            """Verify, escalate, change consent, close or dismiss."""
            who = await authenticate(rt, request, TokenRole.secretariat)
            body = await read_json(request, rt.settings.web.max_body_bytes) if request.can_read_body else {}
            return json_response(await change_case(rt, case_id, verb, body, who.name, token_id=who.token_id), status=202)
