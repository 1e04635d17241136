"""POST /api/v1/reports: accept a report, put it on the intake topic, answer with its reference."""

from __future__ import annotations

from aiohttp import web
from faust.web import View

from schemas.base import FieldProblem
from schemas.vocab import TokenRole
from streams.runtime import Runtime
from streams.services.reports import BrokerTimeout, dead_letter, report_wait, submit_report
from streams.stages.reporter_sms import report_status, reporters_case
from streams.web.api.common import ApiError, authenticate, error_response, guarded, json_response, parse_json, read_body


def too_many_reports(wait: int) -> web.Response:
    """The API's 429 for a token over its report limit, naming the field `token`."""
    problem = FieldProblem(field="token", message=(
        f"this token has sent too many reports in a short time; wait {wait} s and send again"))
    return error_response(429, [problem], headers={"Retry-After": str(wait)})


def register_report_views(rt: Runtime) -> None:
    """Add the report intake endpoint."""

    @rt.app.page("/api/v1/reports/{reference}/status")
    class ReportStatus(View):
        """What a reporter may learn of one of their reports."""

        @guarded
        async def get(self, request: web.Request, reference: str) -> web.Response:
            """received, verified, action (under way) or closed; 404 for a reference this token did not send."""
            who = await authenticate(rt, request, TokenRole.reporter)
            await rt.views.sync()
            case = reporters_case(rt, who, reference.upper())
            if case is None:
                raise ApiError(404, "no report with this reference was sent with this token", field="reference")
            return json_response({"reference": reference.upper(), "status": report_status(rt, case)})

    @rt.app.page("/api/v1/reports")
    class Reports(View):
        """Report intake."""

        @guarded
        async def post(self, request: web.Request) -> web.Response:
            """Accept a report from a reporter token."""
            who = await authenticate(rt, request, TokenRole.reporter)
            # Counted before the body is read: a flood of refused (even malformed) reports reaches neither the
            # intake topic nor the dead-letter topic.
            wait = report_wait(rt, who)
            if wait is not None:
                return too_many_reports(wait)
            raw = await read_body(request, rt.settings.web.max_body_bytes)
            try:
                body = parse_json(raw)
            except ApiError as exc:
                await dead_letter(rt, "api", exc.problems, raw.decode("utf-8", "replace"))
                raise
            try:
                answer = await submit_report(rt, body, "api", who.token_id, request.headers.get("Idempotency-Key"))
            except BrokerTimeout as exc:
                return error_response(exc.status, exc.problems, headers={"Retry-After": "5"})
            return json_response(answer, status=202)
