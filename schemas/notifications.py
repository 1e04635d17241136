"""Notifications to members (one per action, member and channel) and their delivery status."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.base import PERSONAL, Message, personal, utcnow
from schemas.fields import IsoDatetime
from schemas.vocab import Channel


class Lane(StrEnum):
    """Priority lane: secretariat alerts and replies go ahead of bulk fan-out."""

    priority = "priority"
    bulk = "bulk"


class DeliveryState(StrEnum):
    """Where a notification stands."""

    queued = "queued"
    # Marked before the provider call; found so after a crash or a timeout, the outcome is unknown: ask the provider.
    sending = "sending"
    # A temporary failure taken as not having left (not a timeout): the next attempt waits out its back-off.
    retrying = "retrying"
    # Accepted by the provider: an SMS waits for its delivery receipt here (an email is delivered at once).
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


class LedgerEntry(BaseModel):
    """One notification's record in the delivery ledger, under its idempotency key: the exactly-once record.

    Kept in the table as `model_dump(mode="json", exclude_none=True)`, the shape entries had when they were
    plain dicts, so changelogs written then still read. Frozen: the table shares parsed entries between readers.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    state: DeliveryState = Field(description="Where the notification stands: sending, retrying, sent or final.")
    attempt: int = Field(0, ge=0, description="The attempt's number, 0 for the first (the next one's once a retry "
                                              "is scheduled).")
    action_id: str | None = Field(None, description="The call to action it belongs to (none for an alert).")
    channel: Channel | None = Field(None, description="The notification's channel: the reconciler asks the provider "
                                                     "about SMS awaiting a receipt.")
    member_id: str | None = Field(None, description="The member it is for.")
    notification: Notification | None = Field(
        None, description="The notification itself while it is unsettled, so the reconciler can finish it after "
                          "a crash; dropped once the provider accepted it or it ended.")
    since: IsoDatetime | None = Field(None, description="When the latest 'sending' mark or retry was written.")
    marked_at: IsoDatetime | None = Field(None, description="When the current attempt was marked 'sending', just "
                                                            "before its provider call.")
    uncertain_since: IsoDatetime | None = Field(
        None, description="The mark of the earliest attempt that may have reached the provider unseen (a crash or a "
                          "timeout): from then on the key is only sent after asking the provider, and a message "
                          "created after this (less the clock skew) may be it. Kept until the provider accepts it.")
    body_digest: str | None = Field(None, description=(
        "A keyed hash of the SMS text being sent, when the notification itself is not kept (a call to action's, "
        "rebuilt from its plan after a crash): recovery recognises the message the provider holds by it."))
    provider_id: str | None = Field(None, description="Twilio MessageSid or SMTP Message-ID, once accepted.")
    at: IsoDatetime | None = Field(None, description="When the provider accepted it (or the recovery lookup found it).")
    recovered: bool | None = Field(None, description="Set with provider_id: whether the recovery lookup found the "
                                                     "message rather than a send returning it.")
    settled_at: IsoDatetime | None = Field(None, description="When it reached a final state.")
    error: str | None = Field(None, description="The error code of the last failed attempt or receipt.")
    reason: str | None = Field(None, description="Why it ended without a provider's answer (cancelled, unknown, "
                                                 "opted out since the plan).")
