"""Inbound SMS replies from members (SIGN, STOP, ...)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from schemas.base import PERSONAL, Message, personal, utcnow


class InboundReply(Message):
    """An SMS received through the provider webhook, on replies.received.v1 keyed by the sender's blind index."""

    message_sid: str = Field(description="Provider id; repeats of the same sid are ignored.")
    from_phone: Annotated[str, PERSONAL] = personal(description="Sender's E.164 number.")
    to_phone: str = Field(description="Our number that received it.")
    body: Annotated[str, PERSONAL] = personal(max_length=1600, description="Text of the reply.")
    received_at: datetime = Field(default_factory=utcnow)
    subject: str | None = Field(None, description=(
        "Whose data key seals it: member:<id> for a member's number, period:<YYYY-MM> for an unknown one."))


class SmsDraft(Message):
    """A reporter's guided SMS report under way, in the `sms_reports` table keyed by the phone's blind index.

    The conversation (what happened, where) is sealed whole under the month's key: it belongs to no case yet.
    """

    subject: str = Field(description="period:<YYYY-MM>: whose data key seals the conversation.")
    conversation: Annotated[dict | None, PERSONAL] = personal(None, description=(
        "agents.sms_intake.Conversation as JSON, or None when none is under way."))
    reports: list[datetime] = Field(default_factory=list, description="When this phone's recent SMS reports came.")
