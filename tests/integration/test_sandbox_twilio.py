"""The sandbox, driven by the unmodified twilio client, behaves like Twilio's Messages API."""

from __future__ import annotations

import asyncio
import re
import socket
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from notifiers.smtp_email import Attachment, SmtpEmailNotifier

from tests.integration.sandbox_fixtures import (  # noqa: F401  (fixtures are used by name)
    clean_sandbox, eventually, localhost_only, point_at, receiver, sandbox, twilio_async, twilio_sync,
)

SENDER = "+15005550006"
ANA, BEN = "+15551230001", "+15551230002"


async def test_sync_client_creates_and_fetches_a_message(sandbox, twilio_sync):
    msg = await asyncio.to_thread(twilio_sync.messages.create, to=ANA, from_=SENDER, body="Urgent: sign the letter")
    assert re.fullmatch(r"SM[0-9a-f]{32}", msg.sid)
    assert (msg.status, msg.to, msg.from_, msg.num_segments) == ("queued", ANA, SENDER, "1")
    assert msg.date_created.tzinfo is not None
    await eventually(lambda: sandbox.gateway.store.get(msg.sid).status == "delivered")
    fetched = await asyncio.to_thread(twilio_sync.messages(msg.sid).fetch)
    assert (fetched.status, fetched.body, fetched.date_sent is not None) == ("delivered", "Urgent: sign the letter", True)


async def test_async_client_lists_by_to_from_and_date_sent(twilio_async):
    for to, sender in ((ANA, SENDER), (ANA, "+15005550007"), (BEN, SENDER)):
        await twilio_async.messages.create_async(to=to, from_=sender, body="Acción urgente")
    today, now = datetime.now(UTC).date(), datetime.now(UTC)
    messages = twilio_async.messages
    assert len(await messages.list_async(to=ANA)) == 2
    assert [m.to for m in await messages.list_async(to=ANA, from_=SENDER)] == [ANA]
    assert len(await messages.list_async(from_=SENDER)) == 2
    assert len(await messages.list_async(date_sent=today)) == 3
    assert await messages.list_async(date_sent_before=today - timedelta(days=1)) == []
    assert len(await messages.list_async(date_sent_after=now - timedelta(minutes=1))) == 3
    assert await messages.list_async(date_sent_after=now + timedelta(minutes=5)) == []


async def test_listing_follows_next_page_uri(twilio_async):
    sent = [(await twilio_async.messages.create_async(to=ANA, from_=SENDER, body=f"n{i}")).sid for i in range(7)]
    page = await twilio_async.messages.page_async(to=ANA, page_size=3)
    assert page.next_page_url and page.next_page_url.startswith(twilio_async.api.base_url)
    listed = await twilio_async.messages.list_async(to=ANA, page_size=3)
    assert [m.sid for m in listed] == sent[::-1]


async def test_wrong_credentials_get_a_twilio_style_401(sandbox):
    client = point_at(Client(sandbox.account_sid, "wrong-token"), sandbox.http_url)
    with pytest.raises(TwilioRestException) as raised:
        await asyncio.to_thread(client.messages.create, to=ANA, from_=SENDER, body="x")
    assert (raised.value.status, raised.value.code) == (401, 20003)


async def test_status_callbacks_arrive_signed_in_order(sandbox, receiver, twilio_async):
    msg = await twilio_async.messages.create_async(to=ANA, from_=SENDER, body="hi",
                                                   status_callback=receiver.url("/sms/status"))
    calls = await eventually(lambda: len(receiver.at("/sms/status")) == 2 and receiver.at("/sms/status"))
    assert [c.form["MessageStatus"] for c in calls] == ["sent", "delivered"]
    assert all(c.form["MessageSid"] == msg.sid and c.form["To"] == ANA for c in calls)
    assert all(c.valid(sandbox.auth_token) for c in calls)
    assert not calls[0].valid("another-token")


async def test_undelivered_fault_ends_with_error_code(sandbox, receiver, twilio_async):
    sandbox.set_faults(undelivered_rate=1.0)
    await twilio_async.messages.create_async(to=ANA, from_=SENDER, body="hi", status_callback=receiver.url("/s"))
    final = await eventually(lambda: len(receiver.at("/s")) == 2 and receiver.at("/s")[-1])
    assert (final.form["MessageStatus"], final.form["ErrorCode"]) == ("undelivered", "30003")


async def test_per_message_status_callback_is_requested_and_signed_exactly_as_given(sandbox, receiver, twilio_async):
    url = receiver.url("/s") + "?key=act%3Aa1%2Fb%2Bc%3Asms&n=1"  # Twilio does not re-quote the URL it signs
    await twilio_async.messages.create_async(to=ANA, from_=SENDER, body="hi", status_callback=url)
    calls = await eventually(lambda: len(receiver.at("/s")) == 2 and receiver.at("/s"))
    assert [c.url for c in calls] == [url, url]
    assert all(c.valid(sandbox.auth_token) for c in calls)


async def _post_faults(sandbox, faults: dict) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sandbox.http_url}/sandbox/faults", json=faults) as response:
            assert response.status == 200
            return await response.json()


@pytest.mark.parametrize(("faults", "to", "status", "code"), [
    ({"permanent": {ANA: 21610}}, ANA, 400, 21610),
    ({}, "+15005550001", 400, 21211),
    ({}, "+15005550009", 400, 21614),
    ({}, "0800 not e164", 400, 21211),
    ({"throttle_rate": 1.0}, ANA, 429, 20429),
    ({"error_rate": 1.0}, ANA, 500, 20500),
])
async def test_faults_come_back_as_twilio_errors(sandbox, twilio_async, faults, to, status, code):
    await _post_faults(sandbox, faults)
    with pytest.raises(TwilioRestException) as raised:
        await twilio_async.messages.create_async(to=to, from_=SENDER, body="x")
    assert (raised.value.status, raised.value.code) == (status, code)
    assert sandbox.gateway.store.records == []


async def test_seeded_faults_repeat(sandbox, twilio_async):
    async def outcomes() -> list[int]:
        result = []
        for _ in range(12):
            try:
                await twilio_async.messages.create_async(to=ANA, from_=SENDER, body="x")
                result.append(201)
            except TwilioRestException as exc:
                result.append(exc.status)
        return result

    await _post_faults(sandbox, {"seed": 42, "error_rate": 0.3, "throttle_rate": 0.3})
    first = await outcomes()
    await _post_faults(sandbox, {"seed": 42})
    assert await outcomes() == first
    assert {201, 429, 500} <= set(first)


async def test_rate_limit_throttles_bursts(sandbox, twilio_async):
    sandbox.set_faults(rate_limit=2)
    statuses = []
    for _ in range(6):
        try:
            await twilio_async.messages.create_async(to=ANA, from_=SENDER, body="x")
            statuses.append(201)
        except TwilioRestException as exc:
            statuses.append(exc.code)
    assert statuses[:2] == [201, 201] and 20429 in statuses


async def test_inbound_simulation_posts_a_signed_webhook_and_keeps_twiml_replies(sandbox, receiver, twilio_async):
    await twilio_async.messages.create_async(to=ANA, from_=SENDER, body="Reply SIGN to co-sign")
    receiver.replies["SIGN"] = "Thank you, your organisation co-signed."
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sandbox.http_url}/sandbox/inbound", json={"from": ANA, "body": "SIGN"}) as response:
            assert response.status == 201
            result = await response.json()
    [hook] = receiver.at("/sms/inbound")
    assert hook.valid(sandbox.auth_token)
    assert (hook.form["From"], hook.form["To"], hook.form["Body"]) == (ANA, SENDER, "SIGN")
    assert hook.form["MessageSid"] == result["sid"] and hook.form["AccountSid"] == sandbox.account_sid
    await eventually(lambda: [r for r in sandbox.gateway.store.search(to=ANA) if "Thank you" in r.body])


async def test_admin_endpoints_list_render_and_reset(sandbox, twilio_async):
    await twilio_async.messages.create_async(to=ANA, from_=SENDER, body="<b>مرحبا</b>")
    await twilio_async.messages.create_async(to=BEN, from_=SENDER, body="Hola")
    async with aiohttp.ClientSession(base_url=sandbox.http_url) as http:
        async with http.get("/sandbox/messages", params={"to": ANA}) as response:
            assert [m["body"] for m in await response.json()] == ["<b>مرحبا</b>"]
        async with http.get("/sandbox/") as response:
            page = await response.text()
        assert "&lt;b&gt;مرحبا&lt;/b&gt;" in page and 'action="/sandbox/inbound"' in page and BEN in page
        async with http.post("/sandbox/inbound", data={"from": BEN, "body": "STOP"}, allow_redirects=False) as r:
            assert r.status == 303
        async with http.delete("/sandbox/messages") as response:
            assert response.status == 204
        async with http.get("/sandbox/messages") as response:
            assert await response.json() == []
        async with http.post("/sandbox/faults", json={"error_rate": 2}) as response:
            assert response.status == 400


async def test_tests_cannot_leave_localhost():
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("192.0.2.1", 443))
    with pytest.raises(OSError):
        socket.getaddrinfo("api.twilio.com", 443)


async def test_a_mail_with_a_pdf_shows_on_the_sandbox_page_and_downloads_as_sent(sandbox):
    notifier = SmtpEmailNotifier(host="127.0.0.1", port=sandbox.smtp_port, sender="alerts@solidarity.example.org")
    pdf = b"%PDF-1.7\n% a referral packet\n"
    try:
        await notifier.send("defenders@un-sr-hrd.example.org", "Sign here: http://127.0.0.1:6066/act/sign/abc.def",
                            "SOL-ABC123: UN Special Rapporteur on the situation of human rights defenders",
                            key="referral:ref_1", attachments=[Attachment("SOL-ABC123-un-sr-hrd.pdf",
                                                                          "application/pdf", pdf)])
    finally:
        await notifier.close()
    async with aiohttp.ClientSession(base_url=sandbox.http_url) as http:
        async with http.get("/sandbox/mail", params={"to": "defenders@un-sr-hrd.example.org"}) as response:
            [mail] = await response.json()
        # A long subject is folded on the wire; the mailbox shows it unfolded, as a mail client would.
        assert mail["subject"] == "SOL-ABC123: UN Special Rapporteur on the situation of human rights defenders"
        [attached] = mail["attachments"]
        assert (attached["filename"], attached["content_type"], attached["size"]) == (
            "SOL-ABC123-un-sr-hrd.pdf", "application/pdf", len(pdf))
        async with http.get(attached["url"]) as response:
            assert response.status == 200 and await response.read() == pdf
        async with http.get("/sandbox/mail/99/attachments/0") as response:
            assert response.status == 404
        async with http.get("/sandbox/") as response:
            page = await response.text()
        assert f'href="{attached["url"]}"' in page and "SOL-ABC123-un-sr-hrd.pdf" in page
        assert '<a href="http://127.0.0.1:6066/act/sign/abc.def"' in page  # a member's link is a link
