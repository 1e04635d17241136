"""Reports: build the intake envelope, check the sender's limit, publish durably, page at once if urgent.

Shared by the HTTP API, the reporter form and the command line.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import OrderedDict

from kafka.errors import KafkaError
from pydantic import ValidationError

from agents.intake import dedup_key, loggable_fields
from agents.ratelimit import RateLimiter, retry_after_seconds
from schemas.audit import TokenRecord
from schemas.base import FieldProblem, problems_from
from schemas.deadletters import DeadLetter
from schemas.reports import ReportIn, ReportSubmitted
from streams import crypto
from streams.admin import KafkaUnavailable
from streams.ids import ALPHABET, new_id, new_reference
from streams.runtime import Runtime
from streams.services.errors import ServiceError

log = logging.getLogger("solidarity.intake")
KEYS_REMEMBERED = 10_000


def build_submission(report: ReportIn, source: str, submitted_by: str | None,
                     slot: str | None = None) -> tuple[bytes, ReportSubmitted]:
    """The partition key and envelope for a validated report.

    With an idempotency slot the ids are derived from it: a retry through any worker (or after a restart)
    gets the same report id, case id and reference, and the pipeline treats a repeated report id as a replay,
    so the report is recorded once whichever copies arrive.
    """
    if slot is None:
        ids = {"report_id": new_id("rep"), "case_id": new_id("case"), "reference": new_reference()}
    else:
        digits = int(slot[48:64], 16)
        ref = "".join(ALPHABET[(digits >> (5 * i)) & 31] for i in range(6))
        ids = {"report_id": f"rep_{slot[:24]}", "case_id": f"case_{slot[24:48]}", "reference": f"SOL-{ref}"}
    envelope = ReportSubmitted(**ids, source=source, submitted_by=submitted_by, report=report.model_dump(mode="json"))
    return dedup_key(report.country, report.incident_type).encode(), envelope


def receipt(envelope: ReportSubmitted) -> dict[str, str]:
    """What the reporter gets back."""
    return {"report_id": envelope.report_id, "case_id": envelope.case_id, "reference": envelope.reference}


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


class BrokerTimeout(ServiceError):
    """The broker did not acknowledge the report in time: 503, retry (with the same Idempotency-Key)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(503, f"the report could not be recorded within {seconds:g} s (the message queue is not "
                              "answering); send it again with the same Idempotency-Key header", field="broker")


def idempotency_slot(who: str | None, key: str | None, body: object) -> tuple[str, str] | None:
    """(slot, body digest) for a client's Idempotency-Key, scoped to its token; None without a key."""
    if key is None or who is None:
        return None
    if not (1 <= len(key) <= 200) or not key.isprintable():
        raise ServiceError(422, "Idempotency-Key must be 1 to 200 printable characters", field="Idempotency-Key")
    slot = hashlib.sha256(f"{who}\n{key}".encode()).hexdigest()
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    return slot, digest


class KeyMemory:
    """The body digests of recent Idempotency-Keys seen by this worker: a key reused for a different report
    is refused (422). The ids themselves need no memory: they are derived from the key."""

    def __init__(self, size: int = KEYS_REMEMBERED) -> None:
        self.size, self.seen = size, OrderedDict()

    def check(self, slot: str, digest: str) -> None:
        earlier = self.seen.get(slot)
        if earlier is not None and earlier != digest:
            raise ServiceError(422, "this Idempotency-Key was already used for a different report",
                               field="Idempotency-Key")
        self.seen[slot] = digest
        self.seen.move_to_end(slot)
        while len(self.seen) > self.size:
            self.seen.popitem(last=False)


async def submit_report(rt: Runtime, body: object, source: str, submitted_by: str | None,
                        idempotency_key: str | None = None) -> dict:
    """Validate a report body, publish it durably, and return its identifiers (ServiceError 422 if invalid)."""
    try:
        report = ReportIn.model_validate(body)
    except ValidationError as exc:
        problems = problems_from(exc)
        await dead_letter(rt, source, problems, _dump(body))
        raise ServiceError(422, problems) from None
    slot = idempotency_slot(submitted_by, idempotency_key, body)
    if slot is not None:
        if rt.hooks.idempotency_keys is None:
            rt.hooks.idempotency_keys = KeyMemory()
        rt.hooks.idempotency_keys.check(*slot)
    key, envelope = build_submission(report, source, submitted_by, slot[0] if slot else None)
    sealer = crypto.sealer()
    # Wait for the broker's acknowledgement: a 202 means the report cannot be lost. But not for ever (faust's
    # producer would wait 20 minutes): a reporter on a weak connection is better told to retry.
    timeout = rt.settings.web.publish_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            # The case's data key first, made (and acknowledged) off the event loop, before anything is sealed
            # with it; a broker that does not answer is the same 503 as for the report itself.
            try:
                await asyncio.to_thread(sealer.keys.ensure, [f"case:{envelope.case_id}"])
            except (KafkaError, KafkaUnavailable, OSError):
                raise BrokerTimeout(timeout) from None
            fut = await rt.topics.reports_submitted.send(key=key, value=sealer.dumps(envelope))
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
