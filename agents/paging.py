"""Where a case's paging stands, read from its own history (plain functions: the case file and the stages agree).

A case's history records every page (`paged`, one event per firing of its escalation policy, data: the firing
index, round and step, the member ids paged and the channels), its acknowledgement (`acknowledged`, data: `via`
and, from an SMS, the `member_id`), an ESC reply (`escalation_requested`) and the end of a policy nobody
acknowledged (`escalation_ended`). An escalation starts with the firing whose index is 0; a case whose urgency
rises into a higher policy starts another.
"""

from __future__ import annotations

from enum import StrEnum

from schemas.cases import Case, CaseEvent, CaseEventKind
from schemas.members import Member
from schemas.vocab import Role


class Paging(StrEnum):
    """A case's paging now."""

    none = "none"  # nobody was paged about it
    active = "active"  # paged, not acknowledged, steps still to come
    ended = "ended"  # every step fired and nobody acknowledged (it may still be acknowledged)
    acknowledged = "acknowledged"


def current_pages(case: Case) -> list[CaseEvent]:
    """The `paged` events of the case's latest escalation, oldest first."""
    pages: list[CaseEvent] = []
    for event in case.history:
        if event.kind is CaseEventKind.paged:
            if event.data.get("index") == 0:
                pages = []
            pages.append(event)
    return pages


def paging(case: Case) -> Paging:
    """Where the case's latest escalation stands."""
    state = Paging.none
    for event in case.history:
        if event.kind is CaseEventKind.paged and (event.data.get("index") == 0 or state is not Paging.acknowledged):
            state = Paging.active
        elif event.kind is CaseEventKind.acknowledged and state is not Paging.none:
            state = Paging.acknowledged
        elif event.kind is CaseEventKind.escalation_ended and state is Paging.active:
            state = Paging.ended
    return state


def acknowledgement(case: Case) -> CaseEvent | None:
    """The event that acknowledged the latest escalation, or None."""
    if paging(case) is not Paging.acknowledged:
        return None
    return next(e for e in reversed(case.history) if e.kind is CaseEventKind.acknowledged)


def paged_members(case: Case) -> list[str]:
    """Member ids the latest escalation paged, in the order first paged."""
    seen: dict[str, None] = {}
    for event in current_pages(case):
        for member_id in event.data.get("members", []):
            seen.setdefault(member_id, None)
    return list(seen)


def refusal(case: Case, kind: CaseEventKind) -> str | None:
    """Why an acknowledgement or an ESC cannot apply to the case now, or None."""
    state = paging(case)
    if kind is CaseEventKind.acknowledged:
        if state is Paging.none:
            return "nobody has been paged about this case: there is nothing to acknowledge"
        if state is Paging.acknowledged:
            return f"already acknowledged ({acknowledgement(case).actor})"
    elif kind is CaseEventKind.escalation_requested and state is not Paging.active:
        return {Paging.none: "nobody has been paged about this case", Paging.ended: "its escalation is over",
                Paging.acknowledged: "it was acknowledged: the escalation stopped"}[state]
    return None


def display(member: Member | None) -> str:
    """How a secretariat member is named to colleagues: contact and organisation."""
    return f"{member.contact_name} ({member.organization})" if member is not None else "?"


def secretariat(member: Member) -> bool:
    """Whether a member is secretariat staff (may acknowledge or escalate pages)."""
    return Role.secretariat in member.roles or Role.secretariat_oncall in member.roles
