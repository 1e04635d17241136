"""An escalation in progress: which policy pages a case, how far it has gone, and who acknowledged it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from schemas.base import Message
from schemas.vocab import Urgency


class EscalationStatus(StrEnum):
    """Where an escalation stands."""

    active = "active"
    acknowledged = "acknowledged"
    exhausted = "exhausted"  # every step of every pass fired and nobody acknowledged
    cancelled = "cancelled"  # the case was closed, dismissed or shredded first


class Escalation(Message):
    """A case's escalation, kept in the `escalations` table (changelog-backed, keyed and partitioned by case_id).

    The timer that fires the next step reads `fired` and `next_at` from here, never from a process's memory: a
    worker that takes the partition over after a crash goes on from the step recorded. Member ids only, no names.
    """

    case_id: str
    reference: str
    policy_id: str
    urgency: Urgency
    started_at: datetime
    fired: int = Field(0, ge=0, description="How many firings of the policy's sequence have fired.")
    next_at: datetime | None = Field(None, description="When the next firing is due (None: nothing more to fire).")
    status: EscalationStatus = EscalationStatus.active
    paged: list[str] = Field(default_factory=list, description="Member ids paged so far, in order.")
    acknowledged_by: str | None = Field(None, description="member:<id> or the dashboard token's name.")
    acknowledged_at: datetime | None = None
