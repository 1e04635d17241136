"""Classified delivery errors: the one place provider error codes are mapped to retry semantics."""

from __future__ import annotations


class NotifierError(Exception):
    """Root of every send failure; `retryable` tells the caller whether to try again."""

    retryable: bool = False

    def __init__(
        self,
        reason: str = "",
        *,
        code: str | None = None,
        retry_after: float | None = None,
        provider_message: str | None = None,
    ) -> None:
        # provider_message may quote the recipient, so it is kept out of str(error) and logs.
        super().__init__(f"{reason} [{code}]" if code else reason)
        self.reason = reason
        self.code = code
        self.retry_after = retry_after
        self.provider_message = provider_message


class Throttled(NotifierError):
    """The provider asked us to slow down; retry after `retry_after` seconds if given."""

    retryable = True


class ProviderUnavailable(NotifierError):
    """The provider failed or could not be reached (5xx, timeout, connection); retry later."""

    retryable = True


class TemporaryFailure(NotifierError):
    """The provider refused for now (SMTP 4xx); retry later."""

    retryable = True


class RecipientOptedOut(NotifierError):
    """The recipient unsubscribed (replied STOP); mark the member opted out, never retry."""


class InvalidRecipient(NotifierError):
    """The address or number cannot receive this channel; never retry."""


class Rejected(NotifierError):
    """The provider refused the message for any other permanent reason; never retry."""


# Keys: ("twilio", error code), ("http", status or class "4xx"/"5xx"), ("smtp", reply code or class),
# ("net", "timeout"/"connection"). Exact keys win over classes.
ERROR_TABLE: dict[tuple[str, int | str], tuple[type[NotifierError], str]] = {
    ("twilio", 20429): (Throttled, "too many requests"),
    ("twilio", 20500): (ProviderUnavailable, "provider internal error"),
    ("twilio", 20503): (ProviderUnavailable, "provider unavailable"),
    ("twilio", 21610): (RecipientOptedOut, "recipient unsubscribed"),
    ("twilio", 21211): (InvalidRecipient, "invalid 'To' number"),
    ("twilio", 21614): (InvalidRecipient, "'To' number cannot receive SMS"),
    ("twilio", 21612): (InvalidRecipient, "'To' number is not reachable from this sender"),
    ("twilio", 21408): (Rejected, "sending to this region is not enabled"),
    ("twilio", 21606): (Rejected, "'From' number cannot send SMS"),
    ("twilio", 20003): (Rejected, "authentication failed"),
    ("http", 429): (Throttled, "too many requests"),
    ("http", "5xx"): (ProviderUnavailable, "provider error"),
    ("http", "4xx"): (Rejected, "request rejected"),
    ("smtp", 421): (ProviderUnavailable, "mail service closing the channel"),
    ("smtp", "4xx"): (TemporaryFailure, "temporary mail failure"),
    ("smtp", "5xx"): (Rejected, "permanent mail failure"),
    ("net", "timeout"): (ProviderUnavailable, "provider timed out"),
    ("net", "connection"): (ProviderUnavailable, "provider unreachable"),
}


def _lookup(kind: str, number: int) -> tuple[type[NotifierError], str] | None:
    return ERROR_TABLE.get((kind, number)) or ERROR_TABLE.get((kind, f"{number // 100}xx"))


def classify_twilio_error(
    status: int | None, code: int | None, message: str | None = None, *, retry_after: float | None = None
) -> NotifierError:
    """Turn a Twilio HTTP status and error code (both None for a timeout) into a classified error."""
    if code is not None and code == status:
        code = None  # the twilio client puts the HTTP status in `code` when the body has none
    found = (code is not None and ERROR_TABLE.get(("twilio", code))) or (status and _lookup("http", status))
    if not found:
        found = ERROR_TABLE[("net", "timeout")] if status is None else (Rejected, "unexpected response")
    label = str(code) if code is not None else (f"http-{status}" if status else "timeout")
    cls, reason = found
    return cls(reason, code=label, retry_after=retry_after, provider_message=message)


def classify_smtp_error(code: int | None, message: str | None = None) -> NotifierError:
    """Turn an SMTP reply code (None for a lost connection) into a classified error."""
    if code is None or code < 400:
        cls, reason = ERROR_TABLE[("net", "connection")]
        return cls(reason, code="connection", provider_message=message)
    cls, reason = _lookup("smtp", code) or (Rejected, "unexpected reply")
    return cls(reason, code=f"smtp-{code}", provider_message=message)


def unreachable(timeout: bool) -> NotifierError:
    """The error for a request that timed out or could not connect."""
    key = "timeout" if timeout else "connection"
    cls, reason = ERROR_TABLE[("net", key)]
    return cls(reason, code=key)
