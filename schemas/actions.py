"""Calls to action approved by the secretariat and fanned out to members."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from schemas.base import PERSONAL, Message, personal, utcnow
from schemas.fields import AwareDatetime, CountryCode, Email, LanguageCode, NonBlank
from schemas.vocab import ActionKind, Channel, Region


class Audience(Message):
    """Who should receive a call to action; every given filter must match, empty means all members."""

    regions: list[Region] = Field(default_factory=list)
    countries: list[CountryCode] = Field(default_factory=list)
    languages: list[LanguageCode] = Field(default_factory=list)
    working_groups: list[str] = Field(default_factory=list)
    member_ids: list[str] = Field(default_factory=list)


class LetterTarget(Message):
    """Whom a sign-on letter or petition is addressed to, and where it is delivered."""

    name: NonBlank = Field(max_length=200, description="The addressee, e.g. 'Ana Pérez'.")
    title: str | None = Field(None, max_length=200, description="Their office, e.g. 'Minister of the Interior'.")
    address: str | None = Field(None, max_length=1000, description="Postal address, as printed on the letter.")
    email: Email = Field(description="Where the letter is delivered at the deadline or on demand.")
    language: LanguageCode = Field("en", description="The language the letter is rendered in for the target.")


LETTER_KINDS = ("sign_on_letter", "petition")


class ActionIn(Message):
    """Body of POST /api/v1/cases/{case_id}/actions."""

    kind: ActionKind = Field(description="What members are asked to do.")
    audience: Audience = Field(default_factory=Audience, description="Who receives it.")
    messages: dict[LanguageCode, str] = Field(default_factory=dict, description="Text per language.")
    channels: list[Channel] = Field(default_factory=lambda: [Channel.sms, Channel.email], min_length=1)
    deadline: AwareDatetime | None = Field(None, description="When the action closes.")
    follows: list[str] = Field(default_factory=list, max_length=50, description=(
        "For further_information and closure_notice: the earlier actions of the case whose recipients (as the "
        "delivery ledger has them) receive it; a closure notice follows every earlier action when empty."))
    letter: dict[LanguageCode, Annotated[str, Field(min_length=20, max_length=20_000)]] = Field(
        default_factory=dict, description="sign_on_letter, petition: the letter's text per language (plain text).")
    target: LetterTarget | None = Field(None, description="sign_on_letter, petition: whom the letter goes to.")


class CallToAction(Message):
    """An approved call to action, carried on actions.approved.v1 keyed by action_id."""

    action_id: str
    case_id: str
    reference: str
    kind: ActionKind
    audience: Audience
    messages: Annotated[dict[str, str], PERSONAL] = personal(
        description="Text per language: may name the defender (public consent), so sealed at rest.")
    channels: list[Channel]
    deadline: datetime | None = None
    follows: list[str] = Field(default_factory=list, description="Earlier actions whose recipients it goes to.")
    letter: Annotated[dict[str, str], PERSONAL] = personal(default_factory=dict, description=(
        "The letter's text per language: may name the defender (public consent), so sealed at rest."))
    target: LetterTarget | None = Field(None, description="Whom the letter goes to (an office, not a defender).")
    approved_by: str
    approved_at: datetime = Field(default_factory=utcnow)


class ActionResponse(Message):
    """A member's report that they carried out an action (DONE by SMS, or the form behind their email's link);
    carried on actions.reports.v1 keyed by action_id|member_id (the latest report of a member counts)."""

    action_id: str
    case_id: str
    member_id: str
    organization: str = Field(description="The member organisation (as the member list has it).")
    country: CountryCode
    what: Annotated[str | None, PERSONAL] = personal(None, max_length=500, description="What they did.")
    where: Annotated[str | None, PERSONAL] = personal(None, max_length=200, description="Where.")
    link: Annotated[str | None, PERSONAL] = personal(None, max_length=500, description="A link to it (http(s)).")
    via: str = Field(description="sms or web.")
    at: datetime = Field(default_factory=utcnow)
