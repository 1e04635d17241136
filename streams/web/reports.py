"""POST /api/v1/reports: accept a report, put it on the intake topic, answer with its reference."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging

from aiohttp import web
from faust.web import View
from pydantic import ValidationError

from agents.intake import loggable_fields
from agents.ratelimit import RateLimiter, retry_after_seconds
from schemas.audit import TokenRecord
from schemas.base import FieldProblem, problems_from
from schemas.deadletters import DeadLetter
from schemas.reports import ReportIn
from schemas.vocab import TokenRole
from streams.runtime import Runtime
from streams.web.common import ApiError, authenticate, error_response, guarded, json_response, parse_json, read_body
from streams.submission import build_submission, receipt

log = logging.getLogger("solidarity.intake")


def report_limiter(rt: Runtime) -> RateLimiter:
    """This worker's per-token report limiter, shared by the API and the reporter form."""
    limiter = rt.hooks.report_limiter
    if limiter is None:
        # In memory, per worker: with N workers behind a balancer a token may send up to N times the limit,
        # and a restart forgets every bucket. Enough to stop a leaked token or a runaway script flooding the
        # pipeline; a shared store would be needed for an exact network-wide limit.
        limits = rt.settings.limits
        limiter = rt.hooks.report_limiter = RateLimiter(limits.reports_per_minute / 60, limits.report_burst,
                                                    max_keys=limits.tracked_keys)
    return limiter


def report_wait(rt: Runtime, who: TokenRecord) -> int | None:
    """Whole seconds `who` must wait before sending a report, or None when this one may go (and is counted)."""
    # Keyed by the token's id, never by the token itself.
    wait = report_limiter(rt).take(who.token_id)
    return retry_after_seconds(wait) if wait > 0 else None


def too_many_reports(wait: int) -> web.Response:
    """The API's 429 for a token over its report limit, naming the field `token`."""
    problem = FieldProblem(field="token", message=(
        f"this token has sent too many reports in a short time; wait {wait} s and send again"))
    return error_response(429, [problem], headers={"Retry-After": str(wait)})


class BrokerTimeout(ApiError):
    """The broker did not acknowledge the report in time: 503, retry (with the same Idempotency-Key)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(503, f"the report could not be recorded within {seconds:g} s (the message queue is not "
                              "answering); send it again with the same Idempotency-Key header", field="broker")


def idempotency_slot(who: str | None, key: str | None, body: object) -> tuple[str, str] | None:
    """(table key, body digest) for a client's Idempotency-Key, scoped to its token; None without a key."""
    if key is None or who is None:
        return None
    if not (1 <= len(key) <= 200) or not key.isprintable():
        raise ApiError(422, "Idempotency-Key must be 1 to 200 printable characters", field="Idempotency-Key")
    slot = hashlib.sha256(f"{who}\n{key}".encode()).hexdigest()
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    return slot, digest


async def submit_report(rt: Runtime, body: object, source: str, submitted_by: str | None,
                        idempotency_key: str | None = None) -> dict:
    """Validate a report body, publish it durably, and return its identifiers (ApiError 422 if invalid)."""
    try:
        report = ReportIn.model_validate(body)
    except ValidationError as exc:
        problems = problems_from(exc)
        await dead_letter(rt, source, problems, _dump(body))
        raise ApiError(422, problems) from None
    key, envelope = build_submission(report, source, submitted_by)
    slot = idempotency_slot(submitted_by, idempotency_key, body)
    if slot is not None:
        earlier = rt.tables.intake_keys.get(slot[0])
        if earlier is not None and earlier["digest"] != slot[1]:
            raise ApiError(422, "this Idempotency-Key was already used for a different report",
                           field="Idempotency-Key")
        if earlier is not None:
            # A retry (the answer was lost, or the broker was down): the same ids again. The pipeline treats a
            # repeated report id as a replay, so the report is recorded once whichever copy arrives.
            envelope = envelope.model_copy(update={k: earlier[k] for k in ("report_id", "case_id", "reference")})
        else:
            # Remembered before the send: a 503 below may still end with the report on the broker.
            rt.tables.intake_keys[slot[0]] = {"digest": slot[1], "report_id": envelope.report_id,
                                              "case_id": envelope.case_id, "reference": envelope.reference,
                                              "at": envelope.received_at.isoformat()}
    # Wait for the broker's acknowledgement: a 202 means the report cannot be lost. But not for ever (faust's
    # producer would wait 20 minutes): a reporter on a weak connection is better told to retry.
    timeout = rt.settings.web.publish_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            fut = await rt.topics.reports_submitted.send(key=key, value=envelope.model_dump_json().encode())
            await fut
    except TimeoutError:
        raise BrokerTimeout(timeout) from None
    metrics = rt.hooks.metrics
    if metrics is not None:
        metrics.reports_received.labels(source=source).inc()
    page = rt.hooks.page_now
    if page is not None:
        # The on-call must not wait behind the intake backlog; the pipeline's own page for the same case
        # and urgency carries the same idempotency keys, so nobody is paged twice.
        await page(envelope, report)
    return receipt(envelope)


async def dead_letter(rt: Runtime, source: str, problems: list[FieldProblem], payload: str) -> None:
    """Record a refused submission with its reasons; the log line names fields only, never values."""
    log.info("report refused at %s: %s", source, loggable_fields(problems))
    # Durable before we answer: a refused report is kept, with its reasons, for the secretariat to replay.
    fut = await rt.topics.reports_dlq.send(value=DeadLetter(
        source_topic=f"api:{source}", reasons=problems, payload=payload, stage="api"))
    await fut


def _dump(body: object) -> str:
    """The body as JSON text; ASCII-escaped so lone surrogates from the client survive encoding."""
    try:
        return json.dumps(body, default=str)
    except (TypeError, ValueError, RecursionError):
        return "<unserialisable body>"


def register_report_views(rt: Runtime) -> None:
    """Add the report intake endpoint."""

    @rt.app.page("/api/v1/reports")
    class Reports(View):
        """Report intake."""

        @guarded
        async def post(self, request: web.Request) -> web.Response:
            """Accept a report from a reporter token."""
            who = authenticate(rt, request, TokenRole.reporter)
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
