"""Cases: the queue, one case, and lifecycle requests that become case events."""

from __future__ import annotations

from pydantic import Field, ValidationError

from agents import paging
from agents.casefile import TransitionRefused, apply_event, check_transition
from schemas.base import Message, problems_from
from schemas.cases import SHRED_REASON_MAX, Case, CaseEvent, CaseEventKind
from schemas.vocab import CaseStatus, Consent, Urgency
from streams.audit import record
from streams.ids import new_id
from streams.runtime import Runtime
from streams.services.errors import ServiceError


class VerifyIn(Message):
    """Body of POST /cases/{id}/verify."""

    note: str | None = Field(None, max_length=2000, description="How it was verified.")


class EscalateIn(Message):
    """Body of POST /cases/{id}/escalate."""

    urgency: Urgency
    reason: str = Field(min_length=3, max_length=2000)


class ConsentIn(Message):
    """Body of POST /cases/{id}/consent."""

    consent: Consent
    note: str = Field(min_length=3, max_length=2000)


class CloseIn(Message):
    """Body of POST /cases/{id}/close."""

    outcome: str = Field(min_length=3, max_length=2000)


class DismissIn(Message):
    """Body of POST /cases/{id}/dismiss."""

    reason: str = Field(min_length=3, max_length=2000)


class ShredIn(Message):
    """Body of POST /cases/{id}/shred: erase the case's personal data now (it cannot be undone)."""

    reason: str = Field(min_length=3, max_length=SHRED_REASON_MAX, description=(
        "Why, kept on the tombstone in the clear: never personal data (e.g. 'erasure request of the defender')."))


class AckIn(Message):
    """Body of POST /cases/{id}/ack: acknowledge the case's page (the escalation stops)."""

    note: str | None = Field(None, max_length=2000, description="Anything the others should know.")


TRANSITIONS: dict[str, tuple[type[Message], CaseEventKind]] = {
    "ack": (AckIn, CaseEventKind.acknowledged),
    "verify": (VerifyIn, CaseEventKind.verified),
    "escalate": (EscalateIn, CaseEventKind.escalated),
    "consent": (ConsentIn, CaseEventKind.consent_changed),
    "close": (CloseIn, CaseEventKind.closed),
    "dismiss": (DismissIn, CaseEventKind.dismissed),
    "shred": (ShredIn, CaseEventKind.shredded),
}


def find_case(rt: Runtime, case_id: str) -> Case | None:
    """The case by id (as every worker reads it), following the alias left when a report was merged."""
    return rt.views.cases.find(case_id)


async def get_case(rt: Runtime, case_id: str) -> Case | None:
    """The case as of now: every change acknowledged before this call is included."""
    await rt.views.sync()
    return find_case(rt, case_id)


def case_view(case: Case) -> dict:
    """The full JSON of a case for the secretariat."""
    return case.model_dump(mode="json")


def case_summary(case: Case) -> dict:
    """A case as one row of the queue (no personal data)."""
    return {
        "case_id": case.case_id, "reference": case.reference, "status": case.status.value,
        "urgency": case.urgency.value, "incident_type": case.incident_type.value, "country": case.country,
        "region": case.region.value, "consent": case.consent.value, "reports": case.reports_total,
        "mechanisms": case.mechanisms, "opened_at": case.opened_at.isoformat(), "updated_at": case.updated_at.isoformat(),
        "shredded_at": case.shredded_at.isoformat() if case.shredded_at else None, "shred_reason": case.shred_reason,
    }


def references(case: Case) -> set[str]:
    """Every report reference a case answers to (a tombstone keeps them in its history)."""
    return ({case.reference} | {r.reference for r in case.reports}
            | {h.data["reference"] for h in case.history if isinstance(h.data.get("reference"), str)})


FILTERS = {"status": CaseStatus, "urgency": Urgency, "country": None, "region": None, "reference": None}


def case_filters(query) -> dict[str, str]:
    """The queue's filters from a query string; 422 naming an unknown filter or value."""
    out = {}
    for name, value in query.items():
        if name not in FILTERS:
            raise ServiceError(422, "unknown filter", field=f"query.{name}")
        enum = FILTERS[name]
        if enum is not None and value not in {e.value for e in enum}:
            raise ServiceError(422, f"must be one of {', '.join(e.value for e in enum)}", field=f"query.{name}")
        out[name] = value.upper() if name in ("country", "reference") else value
    return out


def list_cases(rt: Runtime, filters: dict[str, str]) -> list[dict]:
    """Case summaries matching every filter, most urgent and newest first."""
    rows = []
    for case in rt.views.cases.values():
        row = case_summary(case)
        if all(row.get(k, "").upper() == v.upper() for k, v in filters.items() if k != "reference"):
            if "reference" in filters and filters["reference"] not in references(case):
                continue
            rows.append(row)
    rows.sort(key=lambda r: (-Urgency(r["urgency"]).rank, r["opened_at"]), reverse=False)
    return rows


async def change_case(rt: Runtime, case_id: str, verb: str, body: object, actor: str, *, token_id: str,
                      via: str = "api") -> dict:
    """Validate a lifecycle request, audit it (as `token_id`), publish its event, and return the case as it will be."""
    if verb not in TRANSITIONS:
        raise ServiceError(404, f"unknown action; use one of {', '.join(TRANSITIONS)}", field="path")
    model, kind = TRANSITIONS[verb]
    try:
        req = model.model_validate(body if body is not None else {})
    except ValidationError as exc:
        raise ServiceError(422, problems_from(exc)) from None
    case = await get_case(rt, case_id)
    if case is None:
        raise ServiceError(404, "no such case", field="case_id")
    data = {k: v for k, v in req.model_dump(mode="json").items() if k in ("urgency", "consent")}
    if kind is CaseEventKind.acknowledged:
        data = {"via": via}
    reason = getattr(req, "reason", None) or getattr(req, "note", None) or getattr(req, "outcome", None)
    try:
        check_transition(case, kind, data)
    except TransitionRefused as exc:
        raise ServiceError(409, str(exc), field="status" if kind is not CaseEventKind.escalated else "urgency") from None
    event = CaseEvent(event_id=new_id("evt"), case_id=case.case_id, kind=kind, actor=actor, reason=reason, data=data)
    after = apply_event(case, event)
    # Audited before it takes effect; the reason is text a person typed and stays out of the audit trail.
    await record(rt, token_id, f"case.{verb}", case.case_id, case.case_id, event_id=event.event_id,
                 **changed_states(case, after))
    fut = await rt.topics.cases_events.send(key=case.case_id.encode(), value=event)
    await fut
    out = {"event_id": event.event_id, "case": case_view(after)}
    if kind is CaseEventKind.acknowledged:
        # The acknowledger learns who else was paged (everyone paged is told who acknowledged, by SMS).
        out["paged"] = [{"member_id": m, "name": paging.display(rt.views.members.get(m))} for m in paging.paged_members(case)]
    return out


def changed_states(before: Case, after: Case) -> dict[str, str]:
    """Status, urgency and consent that an event changed, before and after (for the audit trail)."""
    out = {}
    for name in ("status", "urgency", "consent"):
        old, new = getattr(before, name).value, getattr(after, name).value
        if old != new:
            out[f"{name}_before"], out[name] = old, new
    return out
