"""POST /api/v1/reports: accept a report, put it on the intake topic, answer with its reference."""

from __future__ import annotations

import logging

from aiohttp import web
from faust.web import View
from pydantic import ValidationError

from schemas.base import problems_from
from schemas.deadletters import DeadLetter
from schemas.reports import ReportIn
from schemas.vocab import TokenRole
from streams.runtime import Runtime
from streams.web.common import ApiError, authenticate, guarded, json_response, read_json
from streams.submission import build_submission, receipt

log = logging.getLogger("solidarity.intake")


async def submit_report(rt: Runtime, body: object, source: str, submitted_by: str | None) -> dict:
    """Validate a report body, publish it durably, and return its identifiers (ApiError 422 if invalid)."""
    try:
        report = ReportIn.model_validate(body)
    except ValidationError as exc:
        problems = problems_from(exc)
        log.info("report refused at %s: %s", source, ", ".join(p.field for p in problems))
        await rt.topics.reports_dlq.send(value=DeadLetter(
            source_topic=f"api:{source}", reasons=problems, payload=_dump(body), stage="api"))
        raise ApiError(422, problems) from None
    key, envelope = build_submission(report, source, submitted_by)
    # Wait for the broker's acknowledgement: a 202 means the report cannot be lost.
    fut = await rt.topics.reports_submitted.send(key=key, value=envelope.model_dump_json().encode())
    await fut
    metrics = rt.extras.get("metrics")
    if metrics is not None:
        metrics.reports_received.labels(source=source).inc()
    return receipt(envelope)


def _dump(body: object) -> str:
    import json

    try:
        return json.dumps(body, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(body)


def register_report_views(rt: Runtime) -> None:
    """Add the report intake endpoint."""

    @rt.app.page("/api/v1/reports")
    class Reports(View):
        """Report intake."""

        @guarded
        async def post(self, request: web.Request) -> web.Response:
            """Accept a report from a reporter token."""
            who = authenticate(rt, request, TokenRole.reporter)
            body = await read_json(request, rt.settings.web.max_body_bytes)
            return json_response(await submit_report(rt, body, "api", who.token_id), status=202)
