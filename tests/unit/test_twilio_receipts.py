"""Twilio status callbacks and inbound SMS webhooks parse into typed receipts and replies."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from notifiers.twilio.receipts import (
    RECEIPTS, Receipt, parse_inbound, parse_receipt, receipt_state, status_callback_url,
)
from schemas.notifications import DeliveryState

SID = "SM" + "a" * 32
BASE = "https://alerts.example.org/webhooks/twilio/status"

RECEIPT_CASES = [
    # (form, query, expected receipt)
    ({"MessageSid": SID, "MessageStatus": "delivered"}, {"key": "act:a1:m1:sms"},
     Receipt(SID, "delivered", DeliveryState.delivered, None, "act:a1:m1:sms")),
    ({"MessageSid": SID, "MessageStatus": "undelivered", "ErrorCode": "30003"}, {"key": "k"},
     Receipt(SID, "undelivered", DeliveryState.failed, "30003", "k")),
    ({"MessageSid": SID, "MessageStatus": "failed", "ErrorCode": "30008"}, None,
     Receipt(SID, "failed", DeliveryState.failed, "30008", None)),
    ({"MessageSid": SID, "MessageStatus": "sent", "ErrorCode": ""}, {"key": ""},
     Receipt(SID, "sent", None, None, None)),
    ({"SmsSid": SID, "SmsStatus": "delivered"}, {},  # the legacy names Twilio still sends
     Receipt(SID, "delivered", DeliveryState.delivered, None, None)),
    ({"MessageSid": SID}, {}, Receipt(SID, "", None, None, None)),
]


@pytest.mark.parametrize(("form", "query", "expected"), RECEIPT_CASES)
def test_status_callbacks_parse_into_receipts(form, query, expected):
    assert parse_receipt(form, query) == expected


def test_a_callback_without_a_message_sid_is_no_receipt():
    assert parse_receipt({"MessageStatus": "delivered"}, {"key": "k"}) is None


@pytest.mark.parametrize(("status", "state"), [
    ("delivered", DeliveryState.delivered), ("undelivered", DeliveryState.failed),
    ("failed", DeliveryState.failed), ("queued", None), ("sending", None), ("sent", None), ("", None), (None, None),
])
def test_only_final_statuses_are_outcomes(status, state):
    assert receipt_state(status) is state


def test_receipt_table_cannot_be_changed_by_a_caller():
    with pytest.raises(TypeError):
        RECEIPTS["sent"] = DeliveryState.delivered  # type: ignore[index]


@pytest.mark.parametrize(("callback", "key", "expected"), [
    (BASE, None, BASE),
    (BASE, "act:a1:m1:sms", BASE + "?key=act:a1:m1:sms"),
    (BASE, "alert:c/1:high:m+1 x:sms", BASE + "?key=alert:c%2F1:high:m%2B1%20x:sms"),
    (BASE, "k&key=forged", BASE + "?key=k%26key%3Dforged"),
    (BASE + "?region=ke", "k", BASE + "?region=ke&key=k"),
])
def test_status_callback_url_carries_the_quoted_key(callback, key, expected):
    assert status_callback_url(callback, key) == expected


@pytest.mark.parametrize("key", ["act:a1:m1:sms", "alert:c/1:high:m+1 x:sms", "k&key=forged", "ü:€:sms", "%41"])
def test_the_key_read_back_from_the_callback_query_is_the_key_sent(key):
    query = dict(parse_qsl(urlsplit(status_callback_url(BASE, key)).query))
    assert parse_receipt({"MessageSid": SID, "MessageStatus": "sent"}, query).key == key


INBOUND_CASES = [
    # (form, expected (sid, from, to, body) or None)
    ({"MessageSid": SID, "From": "+15551230001", "To": "+15005550006", "Body": "SIGN"},
     (SID, "+15551230001", "+15005550006", "SIGN")),
    ({"SmsSid": SID, "From": "+15551230001", "Body": "stop"}, (SID, "+15551230001", "", "stop")),
    ({"MessageSid": SID, "From": "+15551230001", "To": "+15005550006"}, (SID, "+15551230001", "+15005550006", "")),
    ({"MessageSid": SID, "From": "+15551230001", "Body": "x" * 2000}, (SID, "+15551230001", "", "x" * 1600)),
    ({"From": "+15551230001", "Body": "SIGN"}, None),
    ({"MessageSid": SID, "Body": "SIGN"}, None),
    ({"MessageSid": SID, "From": "", "Body": "SIGN"}, None),
]


@pytest.mark.parametrize(("form", "expected"), INBOUND_CASES)
def test_inbound_sms_parses_into_a_reply(form, expected):
    reply = parse_inbound(form)
    got = None if reply is None else (reply.message_sid, reply.from_phone, reply.to_phone, reply.body)
    assert got == expected
