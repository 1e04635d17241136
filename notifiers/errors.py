"""Classified delivery errors, and the generic (HTTP, SMTP, network) rows of the code-to-error mapping.

Provider codes live with their provider: Twilio's in `notifiers.twilio.errors`.
"""

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


# Keys: ("http", status or class "4xx"/"5xx"), ("smtp", reply code or class),
# ("net", "timeout"/"connection"/"disconnected").
# Exact keys win over classes.
ERROR_TABLE: dict[tuple[str, int | str], tuple[type[NotifierError], str]] = {
    ("http", 429): (Throttled, "too many requests"),
    ("http", "5xx"): (ProviderUnavailable, "provider error"),
    ("http", "4xx"): (Rejected, "request rejected"),
    ("smtp", 421): (ProviderUnavailable, "mail service closing the channel"),
    ("smtp", "4xx"): (TemporaryFailure, "temporary mail failure"),
    ("smtp", "5xx"): (Rejected, "permanent mail failure"),
    ("net", "timeout"): (ProviderUnavailable, "provider timed out"),
    ("net", "connection"): (ProviderUnavailable, "provider unreachable"),
    ("net", "disconnected"): (ProviderUnavailable, "connection lost after the request was sent"),
}

# Errors after which the provider may have accepted the message: the request went out and no answer came back.
# A retry after one of these asks the provider first; a blind resend could deliver the message twice.
OUTCOME_UNKNOWN_CODES = frozenset({"timeout", "disconnected"})


def lookup_error(kind: str, number: int) -> tuple[type[NotifierError], str] | None:
    """The (error class, reason) row for an exact `(kind, number)` key, else for its class ("4xx"), else None."""
    return ERROR_TABLE.get((kind, number)) or ERROR_TABLE.get((kind, f"{number // 100}xx"))


def classify_smtp_error(code: int | None, message: str | None = None) -> NotifierError:
    """Turn an SMTP reply code (None for a lost connection) into a classified error."""
    if code is None or code < 400:
        cls, reason = ERROR_TABLE[("net", "connection")]
        return cls(reason, code="connection", provider_message=message)
    cls, reason = lookup_error("smtp", code) or (Rejected, "unexpected reply")
    return cls(reason, code=f"smtp-{code}", provider_message=message)


def unreachable(timeout: bool, sent: bool = False) -> NotifierError:
    """The error for a request that timed out, could not connect, or (`sent`) lost its connection after the
    request went out."""
    key = "timeout" if timeout else "disconnected" if sent else "connection"
    cls, reason = ERROR_TABLE[("net", key)]
    return cls(reason, code=key)
