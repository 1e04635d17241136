"""Cases (one or more merged reports), their events and the classification result."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from schemas.base import PERSONAL, Message, personal, utcnow
from schemas.reports import ReportIn
from schemas.vocab import CaseStatus, Consent, IncidentType, Region, Urgency


class Classification(Message):
    """Urgency with its reasons, eligible mechanisms and region: the output of `solidarity classify`."""

    urgency: Urgency = Field(description="Urgency level.")
    # Personal: a rule's line may quote the description ('description says "esta noche"').
    reasons: Annotated[list[str], PERSONAL] = personal(description="One line per rule applied.")
    mechanisms: list[str] = Field(description="Sorted ids of eligible protection mechanisms.")
    region: Region = Field(description="The network region of the country.")


SHRED_REASON_MAX = 200
"""A shred reason is a short note kept on the tombstone in the clear (never personal data)."""


class StoredReport(Message):
    """A report as kept inside its case, with its own classification."""

    report_id: str
    reference: str
    received_at: datetime
    source: str = "api"
    submitted_by: str | None = Field(None, description="Id of the reporter token (for STATUS by reference).")
    report: ReportIn
    classification: Classification


class CaseEventKind(StrEnum):
    """What happened to a case."""

    opened = "opened"
    report_merged = "report_merged"
    verified = "verified"
    escalated = "escalated"
    consent_changed = "consent_changed"
    closed = "closed"
    dismissed = "dismissed"
    alias = "alias"
    shredded = "shredded"
    # Paging (streams/stages/escalation.py): each step of an escalation policy, its acknowledgement, an ESC reply
    # that skips the wait, and the end of a policy nobody acknowledged.
    paged = "paged"
    acknowledged = "acknowledged"
    escalation_requested = "escalation_requested"
    escalation_ended = "escalation_ended"
    # Referrals to protection mechanisms (streams/services/referrals.py), one referral_id each: drafted with the
    # secretariat's inputs, sent (by email with the packet as a PDF, or downloaded for a web form), then
    # acknowledged and answered by the mechanism, as the secretariat records it.
    referral_drafted = "referral_drafted"
    referral_sent = "referral_sent"
    referral_acknowledged = "referral_acknowledged"
    referral_answered = "referral_answered"
    # A sign-on letter or petition delivered to its target by email, with its signatories.
    letter_sent = "letter_sent"


class CaseEvent(Message):
    """One change to a case, with who, when and why: carried on cases.events.v1 keyed by case_id."""

    event_id: str = Field(description="Unique id of the event.")
    case_id: str = Field(description="The case changed.")
    kind: CaseEventKind = Field(description="What happened.")
    actor: str = Field(description="Who did it: 'system' or a token name.")
    at: datetime = Field(default_factory=utcnow, description="When.")
    # Personal: free text the secretariat wrote about the case (sealed with the case's key, shredded with it).
    reason: Annotated[str | None, PERSONAL] = personal(None, max_length=2000, description="Why, in the actor's words.")
    data: dict[str, Any] = Field(default_factory=dict, description="Kind-specific details (never personal data).")
    details: Annotated[dict[str, str], PERSONAL] = personal(default_factory=dict, description=(
        "Kind-specific text a person wrote (a referral's alleged perpetrators, actions taken, support needed)."))
    report: StoredReport | None = Field(None, description="The report, on opened and report_merged events.")


class Case(Message):
    """The secretariat's unit of work: state folded from its events."""

    case_id: str = Field(description="Unique id.")
    reference: str = Field(description="Readable reference of the first report.")
    status: CaseStatus = Field(CaseStatus.new, description="Lifecycle status.")
    incident_type: IncidentType
    country: str
    region: Region
    consent: Consent
    urgency: Urgency
    reasons: Annotated[list[str], PERSONAL] = personal(description="Why this urgency (may quote a report).")
    mechanisms: list[str]
    reports: list[StoredReport] = Field(default_factory=list)
    history: list[CaseEvent] = Field(default_factory=list)
    opened_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    outcome: Annotated[str | None, PERSONAL] = personal(None, description="How it ended, in the secretariat's words.")
    shredded_at: datetime | None = Field(None, description=(
        "When its personal data was crypto-shredded; the case is then a tombstone (SECURITY.md)."))
    shred_reason: str | None = Field(None, max_length=SHRED_REASON_MAX, description=(
        "Why it was shredded, e.g. 'retention: dismissed 30 days'. Kept in the clear: no personal data here."))
    report_count: int | None = Field(None, ge=0, description="How many reports it held when it was shredded.")

    @property
    def shredded(self) -> bool:
        """Whether the case is a tombstone (its data keys are destroyed)."""
        return self.shredded_at is not None

    @property
    def reports_total(self) -> int:
        """How many reports the case has, or had before it was shredded."""
        return self.report_count if self.report_count is not None else len(self.reports)


class CaseSnapshot(Message):
    """A case as it is now, on the compacted cases.state.v1 (keyed by case_id): what every worker reads.

    Either the case itself, or, for the id a report was given at intake before it was merged into another case,
    the id of that case (`alias_of`).
    """

    case: Case | None = None
    alias_of: str | None = None
