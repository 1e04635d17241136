"""Provider error codes map to classified, retryable-or-not errors in one table."""

from __future__ import annotations

import pytest

from notifiers.errors import (
    InvalidRecipient, NotifierError, ProviderUnavailable, RecipientOptedOut, Rejected, TemporaryFailure,
    Throttled, classify_smtp_error,
)
from notifiers.twilio.errors import INVALID_NUMBER_CODES, classify_twilio_error

TWILIO = [
    # (http status, twilio code, class, retryable, code)
    (429, 20429, Throttled, True, "20429"),
    (429, None, Throttled, True, "http-429"),
    (500, 20500, ProviderUnavailable, True, "20500"),
    (503, None, ProviderUnavailable, True, "http-503"),
    (502, 502, ProviderUnavailable, True, "http-502"),
    (None, None, ProviderUnavailable, True, "timeout"),
    (400, 21610, RecipientOptedOut, False, "21610"),
    (400, 21211, InvalidRecipient, False, "21211"),
    (400, 21614, InvalidRecipient, False, "21614"),
    (400, 21408, Rejected, False, "21408"),
    (400, 21999, Rejected, False, "21999"),
    (401, 20003, Rejected, False, "20003"),
    (404, None, Rejected, False, "http-404"),
]

SMTP = [
    # (reply code, class, retryable, code)
    (421, ProviderUnavailable, True, "smtp-421"),
    (450, TemporaryFailure, True, "smtp-450"),
    (451, TemporaryFailure, True, "smtp-451"),
    (452, TemporaryFailure, True, "smtp-452"),
    (535, Rejected, False, "smtp-535"),
    (550, Rejected, False, "smtp-550"),
    (554, Rejected, False, "smtp-554"),
    (None, ProviderUnavailable, True, "connection"),
]


@pytest.mark.parametrize(("status", "twilio_code", "cls", "retryable", "code"), TWILIO)
def test_twilio_errors(status, twilio_code, cls, retryable, code):
    error = classify_twilio_error(status, twilio_code, "The 'To' number +15551230001 is invalid")
    assert type(error) is cls and isinstance(error, NotifierError)
    assert (error.retryable, error.code) == (retryable, code)
    assert "+1555" not in str(error)  # the provider's text may quote the recipient


@pytest.mark.parametrize(("smtp_code", "cls", "retryable", "code"), SMTP)
def test_smtp_errors(smtp_code, cls, retryable, code):
    error = classify_smtp_error(smtp_code, "mailbox member@example.org unavailable")
    assert (type(error), error.retryable, error.code) == (cls, retryable, code)
    assert "member@example.org" not in str(error)


def test_retry_after_is_carried():
    assert classify_twilio_error(429, 20429, None, retry_after=2.5).retry_after == 2.5


def test_invalid_number_codes_are_the_invalid_recipient_labels_that_blame_the_number():
    assert INVALID_NUMBER_CODES == {"21211", "21614"}
    for label in INVALID_NUMBER_CODES:
        error = classify_twilio_error(400, int(label))
        assert type(error) is InvalidRecipient and error.code in INVALID_NUMBER_CODES
    assert classify_twilio_error(400, 21612).code not in INVALID_NUMBER_CODES  # unreachable now, not a bad number
