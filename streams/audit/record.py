"""Recording an action: an AuditRequest on audit.submitted.v1, which the audit writer chains onto audit.log.v1.

`record` is for the worker (the API, the dashboard, stages), `record_sync` for command-line tools. Both return
once the broker has the request: an action audited this way cannot be lost to a crash that follows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kafka import KafkaProducer

from schemas.audit import AuditRequest
from streams import crypto
from streams import topics as catalogue
from streams.admin import producer as make_producer
from streams.ids import new_id
from streams.settings import Settings

if TYPE_CHECKING:  # types only: the command line records without loading faust
    from streams.runtime import Runtime

SYSTEM = "system"
CLI = "cli"


def audit_key() -> bytes:
    """The key that seals audit entries (streams.crypto.start must have run in this process)."""
    return crypto.sealer().keys.ring.audit_key


def request(actor: str, action: str, subject: str, case_id: str | None = None, **detail: Any) -> AuditRequest:
    """A validated request: refuses an actor that is not a token id, 'system' or 'cli', and free-text detail."""
    return AuditRequest(request_id=new_id("aud"), actor=actor, action=action, subject=subject, case_id=case_id,
                        detail=detail)


async def record(rt: Runtime, actor: str, action: str, subject: str, case_id: str | None = None,
                 **detail: Any) -> AuditRequest:
    """Record an action from the worker; returns once the request is on the broker."""
    req = request(actor, action, subject, case_id, **detail)
    fut = await rt.topics.audit_submitted.send(value=req.model_dump_json().encode())
    await fut
    return req


def record_sync(settings: Settings, actor: str, action: str, subject: str, case_id: str | None = None, *,
                producer: KafkaProducer | None = None, **detail: Any) -> AuditRequest:
    """Record an action from a command-line tool (kafka-python); returns once the request is on the broker."""
    req = request(actor, action, subject, case_id, **detail)
    prod = producer or make_producer(settings)
    try:
        prod.send(catalogue.full_name(catalogue.AUDIT_SUBMITTED, settings.topic_prefix),
                  value=req.model_dump_json().encode()).get(timeout=30)
    finally:
        if producer is None:
            prod.close()
    return req
