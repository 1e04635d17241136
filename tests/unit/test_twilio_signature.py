"""Webhook signatures: ours accept exactly what Twilio's own RequestValidator (and the sandbox) sign."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from notifiers.twilio.receipts import status_callback_url
from notifiers.twilio.signature import public_url, sign, valid_signature
from sandbox.signing import twilio_signature

TOKEN = "12345"
URL = status_callback_url("https://alerts.example.org/webhooks/twilio/status", "act:a1/b:m1:sms")
FORM = {"MessageSid": "SM" + "b" * 32, "MessageStatus": "delivered", "To": "+15551230001", "ErrorCode": ""}
GOOD = RequestValidator(TOKEN).compute_signature(URL, FORM)

CASES = [
    # (url, form, signature, token, valid)
    (URL, FORM, GOOD, TOKEN, True),
    (URL.replace("https://alerts.example.org", "https://alerts.example.org:443"), FORM, GOOD, TOKEN, True),
    (URL, FORM, GOOD, "another-token", False),
    (URL.replace("key=act", "key=alert"), FORM, GOOD, TOKEN, False),  # a forged key
    (URL.split("?")[0], FORM, GOOD, TOKEN, False),  # the key dropped
    (URL, {**FORM, "MessageStatus": "undelivered"}, GOOD, TOKEN, False),
    (URL, {**FORM, "Extra": "1"}, GOOD, TOKEN, False),
    (URL, FORM, "", TOKEN, False),
    (URL, FORM, None, TOKEN, False),
    (URL, FORM, GOOD[:-2] + "A=", TOKEN, False),
]


@pytest.mark.parametrize(("url", "form", "signature", "token", "valid"), CASES)
def test_signature_check(url, form, signature, token, valid):
    assert valid_signature(url, form, signature, token) is valid


def test_sign_matches_twilio_and_the_sandbox():
    assert sign(URL, FORM, TOKEN) == GOOD == twilio_signature(TOKEN, URL, FORM)


@pytest.mark.parametrize(("base", "path_qs", "expected"), [
    ("https://alerts.example.org", "/webhooks/twilio/sms", "https://alerts.example.org/webhooks/twilio/sms"),
    ("https://alerts.example.org/", "/webhooks/twilio/status?key=k%2F1",
     "https://alerts.example.org/webhooks/twilio/status?key=k%2F1"),
])
def test_public_url_is_the_base_plus_the_raw_path_and_query(base, path_qs, expected):
    assert public_url(base, path_qs) == expected
