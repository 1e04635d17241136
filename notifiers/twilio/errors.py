"""Twilio error codes and their classification: the one place a Twilio code becomes retryable or permanent."""

from __future__ import annotations

from notifiers.errors import (
    ERROR_TABLE, InvalidRecipient, NotifierError, ProviderUnavailable, RecipientOptedOut, Rejected, Throttled,
    lookup_error,
)

# Codes from https://www.twilio.com/docs/api/errors that the Messages API answers with.
AUTHENTICATION_FAILED = 20003
TOO_MANY_REQUESTS = 20429
INTERNAL_ERROR = 20500
SERVICE_UNAVAILABLE = 20503
INVALID_TO_NUMBER = 21211
REGION_NOT_ENABLED = 21408
FROM_CANNOT_SEND = 21606
RECIPIENT_UNSUBSCRIBED = 21610
TO_NOT_REACHABLE = 21612
TO_NOT_MOBILE = 21614

TWILIO_ERRORS: dict[int, tuple[type[NotifierError], str]] = {
    TOO_MANY_REQUESTS: (Throttled, "too many requests"),
    INTERNAL_ERROR: (ProviderUnavailable, "provider internal error"),
    SERVICE_UNAVAILABLE: (ProviderUnavailable, "provider unavailable"),
    RECIPIENT_UNSUBSCRIBED: (RecipientOptedOut, "recipient unsubscribed"),
    INVALID_TO_NUMBER: (InvalidRecipient, "invalid 'To' number"),
    TO_NOT_MOBILE: (InvalidRecipient, "'To' number cannot receive SMS"),
    TO_NOT_REACHABLE: (InvalidRecipient, "'To' number is not reachable from this sender"),
    REGION_NOT_ENABLED: (Rejected, "sending to this region is not enabled"),
    FROM_CANNOT_SEND: (Rejected, "'From' number cannot send SMS"),
    AUTHENTICATION_FAILED: (Rejected, "authentication failed"),
}

# `NotifierError.code` labels meaning the number itself is wrong (a dead letter blames the member's 'to'
# field), as opposed to one that is merely unreachable from this sender right now.
INVALID_NUMBER_CODES: frozenset[str] = frozenset({str(INVALID_TO_NUMBER), str(TO_NOT_MOBILE)})


def classify_twilio_error(
    status: int | None, code: int | None, message: str | None = None, *, retry_after: float | None = None
) -> NotifierError:
    """Turn a Twilio HTTP status and error code (both None for a timeout) into a classified error."""
    if code is not None and code == status:
        code = None  # the twilio client puts the HTTP status in `code` when the body has none
    found = (code is not None and TWILIO_ERRORS.get(code)) or (status and lookup_error("http", status))
    if not found:
        found = ERROR_TABLE[("net", "timeout")] if status is None else (Rejected, "unexpected response")
    label = str(code) if code is not None else (f"http-{status}" if status else "timeout")
    cls, reason = found
    return cls(reason, code=label, retry_after=retry_after, provider_message=message)
