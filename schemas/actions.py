"""Calls to action approved by the secretariat and fanned out to members."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from schemas.base import PERSONAL, Message, personal, utcnow
from schemas.fields import AwareDatetime, CountryCode, LanguageCode
from schemas.vocab import ActionKind, Channel, Region


class Audience(Message):
    """Who should receive a call to action; every given filter must match, empty means all members."""

    regions: list[Region] = Field(default_factory=list)
    countries: list[CountryCode] = Field(default_factory=list)
    languages: list[LanguageCode] = Field(default_factory=list)
    working_groups: list[str] = Field(default_factory=list)
    member_ids: list[str] = Field(default_factory=list)


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
    approved_by: str
    approved_at: datetime = Field(default_factory=utcnow)
