"""Twilio delivery receipts (StatusCallback) and inbound SMS webhooks, parsed into typed values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import quote, urlsplit, urlunsplit

from schemas.notifications import DeliveryState
from schemas.replies import InboundReply

# The status-callback query parameter carrying the notification's idempotency key. Twilio signs the full
# callback URL, query included, so a key read from a signed request is authentic.
KEY_PARAM = "key"
# Twilio concatenates a long inbound SMS into one webhook of at most 1600 characters.
MAX_INBOUND_BODY = 1600

# Final MessageStatus values and the outcome each means; queued, sending, sent, ... are progress, not outcomes.
RECEIPTS: Mapping[str, DeliveryState] = MappingProxyType({
    "delivered": DeliveryState.delivered,
    "undelivered": DeliveryState.failed,
    "failed": DeliveryState.failed,
})


@dataclass(frozen=True)
class Receipt:
    """One status callback: the message, its Twilio status, the outcome it means (None if not final yet),
    Twilio's ErrorCode if any, and the idempotency key our callback URL carried (None if it had none)."""

    sid: str
    status: str
    state: DeliveryState | None
    error_code: str | None
    key: str | None


def receipt_state(status: str | None) -> DeliveryState | None:
    """The delivery outcome a Twilio MessageStatus means, or None for a status that is not final."""
    return RECEIPTS.get(status or "")


def status_callback_url(callback: str, key: str | None) -> str:
    """The StatusCallback for one message: `callback` with `key=<quoted key>` appended (unchanged if no key)."""
    if key is None:
        return callback
    # Colons (which keys are built from) stay literal: fewer escapes for any proxy to re-normalise, and the
    # signature is over the URL byte for byte.
    parts = urlsplit(callback)
    param = f"{KEY_PARAM}={quote(key, safe=':')}"
    query = f"{parts.query}&{param}" if parts.query else param
    return urlunsplit(parts._replace(query=query))


def parse_receipt(form: Mapping[str, str], query: Mapping[str, str] | None = None) -> Receipt | None:
    """The receipt in a status-callback `form` (with the request's decoded `query`); None without a MessageSid."""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not sid:
        return None
    status = form.get("MessageStatus") or form.get("SmsStatus") or ""
    key = (query or {}).get(KEY_PARAM) or None
    return Receipt(sid=sid, status=status, state=receipt_state(status), error_code=form.get("ErrorCode") or None,
                   key=key)


def parse_inbound(form: Mapping[str, str]) -> InboundReply | None:
    """The reply in an inbound-SMS webhook `form`; None if it names no message or no sender."""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    sender = form.get("From") or ""
    if not sid or not sender:
        return None
    return InboundReply(message_sid=sid, from_phone=sender, to_phone=form.get("To", ""),
                        body=(form.get("Body") or "")[:MAX_INBOUND_BODY])
