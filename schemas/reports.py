"""A field report of an attack on human rights defenders, as submitted and as carried on the intake topic."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from schemas.base import PERSONAL, Message, personal, utcnow
from schemas.fields import AwareDatetime, CountryCode, Email, LanguageCode, NonBlank, Phone
from schemas.vocab import Consent, Gender, Group, IncidentType

FUTURE_TOLERANCE = timedelta(hours=1)


class Defender(Message):
    """A person (or organisation) targeted; the name is personal data."""

    name: Annotated[NonBlank | None, PERSONAL] = personal(None, max_length=200, description="Defender's name.")
    organization: NonBlank | None = Field(None, max_length=200, description="Organisation the defender belongs to.")
    gender: Gender = Field(Gender.undisclosed, description="Gender as reported.")
    groups: list[Group] = Field(default_factory=list, max_length=15, description="Groups the defender belongs to.")
    detained: bool = Field(False, description="The defender is detained.")
    incommunicado: bool = Field(False, description="Held without contact with family or lawyer.")


class ReporterContact(Message):
    """How the secretariat can reach the reporter to verify; personal data."""

    phone: Phone | None = personal(None, description="E.164 phone number.")
    email: Email | None = personal(None, description="Email address.")

    @model_validator(mode="after")
    def _one_of(self) -> "ReporterContact":
        if self.phone is None and self.email is None:
            raise ValueError("give a phone or an email, or leave reporter_contact out")
        return self


class ReportIn(Message):
    """The body of POST /api/v1/reports."""

    incident_type: IncidentType = Field(description="What happened.")
    country: CountryCode = Field(description="ISO 3166-1 alpha-2 country where it happened.")
    locality: Annotated[NonBlank | None, PERSONAL] = personal(None, max_length=200, description="Town or area.")
    occurred_at: AwareDatetime = Field(description="When it happened (ISO 8601 with time zone).")
    ongoing: bool = Field(False, description="The harm is still going on.")
    imminent_danger: bool = Field(False, description="Someone is in danger right now or within hours.")
    description: Annotated[str, PERSONAL] = personal(min_length=10, max_length=10_000, description="What happened.")
    language: LanguageCode = Field(description="ISO 639-1 language of the description.")
    defenders: list[Defender] = Field(min_length=1, max_length=50, description="People targeted.")
    people_affected: int | None = Field(None, ge=1, description="How many people are affected in all.")
    corporate_actor: NonBlank | None = Field(None, max_length=200, description="Company involved, if any.")
    consent: Consent = Field(description="How far the information may be shared. Never assumed.")
    # Sealed whole, not field by field: once shredded it opens as None (a contact with neither phone nor email
    # would not be a valid ReporterContact).
    reporter_contact: ReporterContact | None = personal(None, description="How to reach the reporter.")

    @field_validator("occurred_at")
    @classmethod
    def _not_future(cls, value: datetime) -> datetime:
        if value > utcnow() + FUTURE_TOLERANCE:
            raise ValueError("must not be more than 1 hour in the future")
        return value


class ReportSubmitted(Message):
    """Envelope on reports.submitted.v1: identifiers assigned at intake plus the raw report body.

    The body stays raw (a dict) so the validating agent can dead-letter a bad report with its reasons
    instead of failing to decode it.
    """

    report_id: str = Field(description="Unique id of this report.")
    case_id: str = Field(description="Case id proposed at intake; resolves to the merged case if any.")
    reference: str = Field(description="Short readable reference given to the reporter, e.g. SOL-7K3Q9.")
    received_at: datetime = Field(default_factory=utcnow, description="When the system accepted it.")
    source: str = Field("api", description="Where it came from: api, cli, form, drill.")
    submitted_by: str | None = Field(None, description="Id of the reporter token (never a name).")
    report: dict[str, Any] = Field(description="The report body as submitted (validated by the agent).")
