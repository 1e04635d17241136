"""The status-callback webhook, as a table of callbacks and what each leaves on notifications.receipts.v1, and the
publisher that shares produce requests between callbacks without answering any of them before its ack."""

from __future__ import annotations

import asyncio
from urllib.parse import quote, urlencode

import pytest
from aiohttp.base_protocol import BaseProtocol
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request

from sandbox.signing import SIGNATURE_HEADER, twilio_signature
from schemas.notifications import DeliveryState, DeliveryStatus
from schemas.vocab import Channel
from streams.web.api import webhooks
from streams.web.api.webhooks import ReceiptPublisher, accept_receipt, signed_form
from tests.stubs import Topic, runtime

SID = "SM" + "a" * 32
KEY = "act:a1:m1:sms"
PATH = "/webhooks/twilio/status?key=" + quote(KEY, safe=":")


def body(data: bytes) -> StreamReader:
    """A request body as aiohttp's server hands it to a request."""
    loop = asyncio.get_running_loop()
    reader = StreamReader(BaseProtocol(loop), 2**16, loop=loop)
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def callback(rt, form: dict[str, str], path: str = PATH, signature: str | None = None):
    """A status callback signed as Twilio signs it: over our public URL, path and query included."""
    token = rt.settings.twilio.auth_token.get_secret_value()
    signature = signature or twilio_signature(token, rt.settings.web.public_url.rstrip("/") + path, form)
    return make_mocked_request("POST", path, headers={"Content-Type": "application/x-www-form-urlencoded",
                                                      SIGNATURE_HEADER: signature},
                               payload=body(urlencode(form).encode()))


def form(status: str, **extra: str) -> dict[str, str]:
    return {"AccountSid": "AC" + "0" * 32, "MessageSid": SID, "MessageStatus": status, "SmsSid": SID,
            "SmsStatus": status, "From": "+15005550006", "To": "+525512345678", **extra}


CASES = [
    # (what, form, path, signature, HTTP status, receipt published as (state, error code) or None)
    ("delivered", form("delivered"), PATH, None, 204, (DeliveryState.delivered, None)),
    ("undelivered, with Twilio's code", form("undelivered", ErrorCode="30003"), PATH, None, 204,
     (DeliveryState.failed, "30003")),
    ("failed", form("failed", ErrorCode="30008"), PATH, None, 204, (DeliveryState.failed, "30008")),
    ("progress, not an outcome", form("sent"), PATH, None, 204, None),
    ("no key in the URL (not ours)", form("delivered"), "/webhooks/twilio/status", None, 204, None),
    ("no MessageSid", {"MessageStatus": "delivered"}, PATH, None, 204, None),
    ("forged signature", form("delivered"), PATH, "Zm9yZ2Vk", 403, None),
    ("signed for another key", form("delivered"), PATH.replace("m1", "m2"),
     twilio_signature("x", "http://127.0.0.1:6066" + PATH, form("delivered")), 403, None),
]


@pytest.mark.parametrize(("what", "params", "path", "signature", "status", "published"), CASES,
                         ids=[c[0] for c in CASES])
async def test_status_callbacks(what, params, path, signature, status, published):
    rt = runtime()
    receipts = ReceiptPublisher(rt.topics.notifications_receipts, window=0.001)
    response = await accept_receipt(rt, receipts, callback(rt, params, path, signature))
    assert response.status == status
    records = rt.topics.notifications_receipts.items
    if published is None:
        assert records == []
        return
    [record] = records
    assert (record.state, record.error_code) == published
    assert (record.idempotency_key, record.provider_id, record.reason, record.channel) == (KEY, SID, "receipt",
                                                                                           Channel.sms)


async def test_the_signature_is_checked_once_when_the_route_guard_and_the_view_both_ask(monkeypatch):
    rt, checks = runtime(), []
    real = webhooks.valid_signature
    monkeypatch.setattr(webhooks, "valid_signature", lambda *a: checks.append(1) or real(*a))
    request = callback(rt, form("delivered"))
    first, second = await signed_form(rt, request), await signed_form(rt, request)
    assert first == second == form("delivered") and len(checks) == 1
    forged = callback(rt, form("delivered"), signature="Zm9yZ2Vk")
    assert await signed_form(rt, forged) is None and await signed_form(rt, forged) is None


class AckedTopic(Topic):
    """A topic whose broker acknowledges only when told to (or fails)."""

    def __init__(self) -> None:
        super().__init__()
        self.acks: list[asyncio.Future] = []
        self.sent_at: list[float] = []

    async def send(self, key=None, value=None):
        self.send_soon(key, value)
        self.sent_at.append(asyncio.get_running_loop().time())
        ack = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack


def receipt(i: int) -> DeliveryStatus:
    return DeliveryStatus(idempotency_key=f"act:a1:m{i}:sms", member_id="", channel=Channel.sms,
                          state=DeliveryState.delivered, provider_id=f"SM{i}", reason="receipt")


async def test_receipts_of_one_window_go_to_the_producer_together_and_each_waits_for_its_own_ack():
    topic = AckedTopic()
    publisher = ReceiptPublisher(topic, window=0.05)
    callers = [asyncio.create_task(publisher.publish(receipt(i))) for i in range(5)]
    await asyncio.sleep(0.01)
    assert topic.items == [], "held for the window"
    while len(topic.acks) < 5:
        await asyncio.sleep(0.005)
    assert max(topic.sent_at) - min(topic.sent_at) < 0.005, "handed over in one go"
    await asyncio.sleep(0.01)
    assert not any(c.done() for c in callers), "nobody answered before the broker's ack"
    topic.acks[0].set_result(None)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert [c.done() for c in callers] == [True, False, False, False, False]
    topic.acks[1].set_exception(ConnectionError("broker gone"))
    for ack in topic.acks[2:]:
        ack.set_result(None)
    results = await asyncio.gather(*callers, return_exceptions=True)
    assert isinstance(results[1], ConnectionError), "a receipt that was not acknowledged is no 2xx"
    assert [r for i, r in enumerate(results) if i != 1] == [None] * 4


async def test_a_callback_that_hangs_up_does_not_hold_up_or_cancel_the_others():
    topic = AckedTopic()
    publisher = ReceiptPublisher(topic, window=0.02)
    callers = [asyncio.create_task(publisher.publish(receipt(i))) for i in range(3)]
    await asyncio.sleep(0.005)
    callers[0].cancel()
    while len(topic.acks) < 2:
        await asyncio.sleep(0.005)
    for ack in topic.acks:
        ack.set_result(None)
    await asyncio.gather(*callers[1:])
    assert [r.idempotency_key for r in topic.items] == ["act:a1:m1:sms", "act:a1:m2:sms"]
    # The next window opens afresh.
    later = asyncio.create_task(publisher.publish(receipt(9)))
    while len(topic.acks) < 3:
        await asyncio.sleep(0.005)
    topic.acks[-1].set_result(None)
    await later
