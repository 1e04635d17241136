"""Notifications to members (one per action, member and channel) and their delivery status."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from schemas.base import PERSONAL, Message, personal, utcnow
from schemas.vocab import Channel


class Lane(StrEnum):
    """Priority lane: secretariat alerts and replies go ahead of bulk fan-out."""

    priority = "priority"
    bulk = "bulk"


class DeliveryState(StrEnum):
    """Where a notification stands."""

    queued = "queued"
    sending = "sending"
    sent = "sent"
    delivered = "delivered"
    failed = "failed"
    opted_out = "opted_out"
    cancelled = "cancelled"
    # The provider lookup after a crash could not tell whether the message left: shown, never guessed.
    unknown = "unknown"


# Where a notification can end: an action is finished when every one of its notifications is in one of these.
FINAL_STATES = frozenset({DeliveryState.delivered, DeliveryState.failed, DeliveryState.opted_out,
                          DeliveryState.cancelled, DeliveryState.unknown})


class Notification(Message):
    """A message to send to one member on one channel; idempotency_key is deterministic."""

    idempotency_key: str = Field(description="Deterministic key: same action, member and channel, same key.")
    member_id: str
    channel: Channel
    to: Annotated[str, PERSONAL] = personal(description="Phone number or email address.")
    language: str
    subject: str | None = Field(None, description="Email subject.")
    body: Annotated[str, PERSONAL] = personal(description="Text to send.")
    lane: Lane = Lane.bulk
    action_id: str | None = None
    case_id: str | None = None
    attempt: int = Field(0, ge=0)
    created_at: datetime = Field(default_factory=utcnow)
    not_before: datetime | None = Field(None, description="Earliest time of the next attempt (back-off).")


class DeliveryStatus(Message):
    """A change of a notification's delivery state, on notifications.status.v1."""

    idempotency_key: str
    member_id: str
    channel: Channel
    state: DeliveryState
    action_id: str | None = None
    provider_id: str | None = Field(None, description="Twilio MessageSid or SMTP Message-ID.")
    error_code: str | None = None
    reason: str | None = None
    retryable: bool | None = None
    attempt: int = 0
    at: datetime = Field(default_factory=utcnow)
