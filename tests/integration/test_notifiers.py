"""TwilioSmsNotifier and SmtpEmailNotifier against the real sandbox: results and classified errors."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest

from notifiers.errors import (
    OUTCOME_UNKNOWN_CODES, InvalidRecipient, ProviderUnavailable, RecipientOptedOut, Rejected, TemporaryFailure,
    Throttled,
)
from notifiers.registry import NotifierRegistry, default_registry
from notifiers.smtp_email import SmtpEmailNotifier
from notifiers.twilio.client import TwilioSmsNotifier
from notifiers.twilio.receipts import parse_receipt
from notifiers.twilio.signature import valid_signature
from sandbox.smtp_sink import SmtpSink
from schemas.notifications import DeliveryState
from tests.integration.sandbox_fixtures import (  # noqa: F401  (fixtures are used by name)
    clean_sandbox, eventually, localhost_only, receiver, sandbox,
)

SENDER = "+15005550006"
ANA = "+15551230001"
ARABIC = "تضامن مع المدافعين عن حقوق الإنسان. يرجى التوقيع على الرسالة الجماعية اليوم. رد بكلمة SIGN"


@pytest.fixture
async def sms(sandbox, receiver):
    """The SMS notifier pointed at the sandbox, with status callbacks to the receiver."""
    notifier = TwilioSmsNotifier(base_url=sandbox.http_url, account_sid=sandbox.account_sid,
                                 auth_token=sandbox.auth_token, from_number=SENDER,
                                 status_callback=receiver.url("/sms/status"), timeout_seconds=0.5)
    yield notifier
    await notifier.close()


@pytest.fixture
async def mailer(sandbox):
    """The email notifier pointed at the sandbox's SMTP sink."""
    notifier = SmtpEmailNotifier(host=sandbox.smtp_host, port=sandbox.smtp_port,
                                 sender="alerts@solidarity.example.org", timeout_seconds=5)
    yield notifier
    await notifier.close()


async def test_member_gets_exactly_one_sms_in_arabic_counted_in_segments(sandbox, receiver, sms):
    result = await sms.send(ANA, ARABIC)
    [record] = await eventually(lambda: sandbox.gateway.store.search(to=ANA))
    assert (record.sid, record.body, result.segments) == (result.provider_id, ARABIC, 2)
    await eventually(lambda: [c.form["MessageStatus"] for c in receiver.at("/sms/status")] == ["sent", "delivered"])


async def test_receipts_carry_the_notification_key_in_a_signed_callback_url(sandbox, receiver, sms):
    key = "act:a1/b+c:m 7:sms"  # slash, plus and space must survive quoting and the signature
    sent = await sms.send(ANA, "Urgent: sign the letter", key=key)
    calls = await eventually(lambda: len(receiver.at("/sms/status")) == 2 and receiver.at("/sms/status"))
    receipts = [parse_receipt(c.form, dict(parse_qsl(urlsplit(c.url).query))) for c in calls]
    assert [(r.sid, r.key, r.state) for r in receipts] == [
        (sent.provider_id, key, None), (sent.provider_id, key, DeliveryState.delivered)]
    assert all(valid_signature(c.url, c.form, c.signature, sandbox.auth_token) for c in calls)
    forged = calls[0].url.replace("key=act", "key=alert")
    assert not valid_signature(forged, calls[0].form, calls[0].signature, sandbox.auth_token)


async def test_without_a_key_the_status_callback_is_the_configured_one(receiver, sms):
    await sms.send(ANA, "hi")
    calls = await eventually(lambda: len(receiver.at("/sms/status")) == 2 and receiver.at("/sms/status"))
    assert {c.url for c in calls} == {receiver.url("/sms/status")}


async def test_lookup_finds_what_was_already_sent(sms):
    since = datetime.now(UTC) - timedelta(seconds=5)
    sent = await sms.send(ANA, "Acción urgente: firme la carta")
    await sms.send("+15551230009", "other member")
    found = await sms.lookup(ANA, since)
    assert [(m.provider_id, m.to, m.body) for m in found] == [(sent.provider_id, ANA, "Acción urgente: firme la carta")]
    assert await sms.lookup(ANA, datetime.now(UTC) + timedelta(minutes=1)) == []


@pytest.mark.parametrize(("faults", "to", "error", "retryable", "code"), [
    ({"throttle_rate": 1.0}, ANA, Throttled, True, "20429"),
    ({"permanent": {ANA: 21610}}, ANA, RecipientOptedOut, False, "21610"),
    ({"error_rate": 1.0}, ANA, ProviderUnavailable, True, "20500"),
    ({"timeout_rate": 1.0, "timeout_seconds": 3}, ANA, ProviderUnavailable, True, "timeout"),
    ({}, "+15005550001", InvalidRecipient, False, "21211"),
    ({}, "+15005550009", InvalidRecipient, False, "21614"),
    ({}, "+15005550003", Rejected, False, "21408"),
])
async def test_sms_faults_raise_classified_errors(sandbox, sms, faults, to, error, retryable, code):
    sandbox.set_faults(**faults)
    with pytest.raises(error) as raised:
        await sms.send(to, "x")
    assert (raised.value.retryable, raised.value.code) == (retryable, code)


async def test_timeout_after_accept_is_recoverable_with_lookup(sandbox, sms):
    since = datetime.now(UTC) - timedelta(seconds=1)
    sandbox.set_faults(timeout_rate=1.0, timeout_seconds=3, timeout_accepts=True)
    with pytest.raises(ProviderUnavailable):
        await sms.send(ANA, "Did this go out?")
    [already] = await sms.lookup(ANA, since)
    assert already.body == "Did this go out?"


async def test_unreachable_provider_is_retryable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    notifier = TwilioSmsNotifier(base_url=f"http://127.0.0.1:{port}", account_sid="AC1", auth_token="t",
                                 from_number=SENDER, timeout_seconds=2)
    with pytest.raises(ProviderUnavailable) as raised:
        await notifier.send(ANA, "x")
    await notifier.close()
    assert (raised.value.retryable, raised.value.code) == (True, "connection")


async def _hang_up_after_reading(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    await reader.readexactly(length)
    writer.close()  # the whole request was read, Twilio may have created the message: no answer comes back


async def test_a_connection_lost_after_the_request_was_sent_leaves_the_outcome_unknown():
    # A blind resend could deliver the message twice: the error must tell the deliverer to ask Twilio first.
    server = await asyncio.start_server(_hang_up_after_reading, "127.0.0.1", 0)
    notifier = TwilioSmsNotifier(base_url=f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}",
                                 account_sid="AC1", auth_token="t", from_number=SENDER, timeout_seconds=5)
    try:
        with pytest.raises(ProviderUnavailable) as raised:
            await notifier.send(ANA, "x")
    finally:
        await notifier.close()
        server.close()
    assert raised.value.retryable
    assert raised.value.code in OUTCOME_UNKNOWN_CODES, raised.value.code
    assert "connection" not in OUTCOME_UNKNOWN_CODES, "a connection never made is a plain retry"


async def test_failures_log_no_personal_data(sandbox, sms, caplog):
    sandbox.set_faults(permanent={ANA: 21610})
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(RecipientOptedOut):
            await sms.send(ANA, "secret body text")
        await sms.lookup(ANA, datetime.now(UTC))
    assert caplog.records and ANA not in caplog.text and "secret body" not in caplog.text


@pytest.mark.parametrize(("subject", "body"), [
    ("Acción urgente: desalojo en curso", "Por favor, firme la carta colectiva hoy. ¡Gracias, compañeras!"),
    ("تحرك عاجل: اعتقال مدافعة", "يرجى التوقيع على الرسالة الجماعية اليوم.\nشكرا لتضامنكم."),
    ("Action urgente : " + "très longue ligne d'objet " * 6,
     "Une ligne bien plus longue que soixante-seize caractères, qui doit être coupée puis recollée. " * 3
     + "\n.\nUn point seul sur sa ligne ne termine pas le message."),
])
async def test_email_arrives_in_utf8_with_subject(sandbox, mailer, subject, body):
    result = await mailer.send("contacto@miembro.example.org", body, subject=subject)
    [mail] = sandbox.sink.find("contacto@miembro.example.org")
    assert (mail.subject, mail.text, mail.message_id) == (subject, body, result.provider_id)
    assert mail.sender == "alerts@solidarity.example.org"


async def test_email_refusals_are_classified_and_the_connection_survives(sandbox, mailer):
    sandbox.set_faults(smtp_451=["busy@example.org"], smtp_550=["gone@example.org"])
    with pytest.raises(TemporaryFailure) as temporary:
        await mailer.send("busy@example.org", "x", subject="s")
    with pytest.raises(Rejected) as permanent:
        await mailer.send("gone@example.org", "x", subject="s")
    assert (temporary.value.retryable, temporary.value.code) == (True, "smtp-451")
    assert (permanent.value.retryable, permanent.value.code) == (False, "smtp-550")
    await mailer.send("ok@example.org", "x", subject="s")
    assert [m.rcpt_tos for m in sandbox.sink.mails] == [("ok@example.org",)]


async def test_one_connection_carries_many_mails_and_reconnects_when_dropped(sandbox, mailer):
    before = sandbox.sink.connections
    for i in range(5):
        await mailer.send(f"m{i}@example.org", "hola", subject="s")
    assert (len(sandbox.sink.mails), sandbox.sink.connections - before) == (5, 1)
    for protocol in list(sandbox.sink._live):
        protocol.transport.close()
    await asyncio.sleep(0)  # let the client see the close
    await mailer.send("after@example.org", "hola", subject="s")
    assert (len(sandbox.sink.mails), sandbox.sink.connections - before) == (6, 2)


async def test_smtp_auth_when_the_sink_requires_it():
    sink = SmtpSink(username="alerts", password="s3cret")
    port = await sink.start("127.0.0.1", 0)
    good = SmtpEmailNotifier(host="127.0.0.1", port=port, sender="a@example.org", username="alerts", password="s3cret")
    bad = SmtpEmailNotifier(host="127.0.0.1", port=port, sender="a@example.org", username="alerts", password="nope")
    try:
        await good.send("m@example.org", "hola", subject="s")
        with pytest.raises(Rejected) as raised:
            await bad.send("m@example.org", "hola", subject="s")
        assert raised.value.code == "smtp-535" and len(sink.mails) == 1
    finally:
        await good.close()
        await bad.close()
        await sink.stop()


async def test_unreachable_smtp_is_retryable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    mailer = SmtpEmailNotifier(host="127.0.0.1", port=port, sender="a@example.org", timeout_seconds=2)
    with pytest.raises(ProviderUnavailable) as raised:
        await mailer.send("m@example.org", "x")
    assert raised.value.retryable


def test_registry_builds_each_channel_and_refuses_duplicates(sandbox):
    registry = default_registry()
    assert registry.channels() == ["email", "sms"]
    sms = registry.create("sms", base_url=sandbox.http_url, account_sid="AC1", auth_token="t", from_number=SENDER)
    assert isinstance(sms, TwilioSmsNotifier)
    with pytest.raises(ValueError):
        registry.register("sms", TwilioSmsNotifier)
    with pytest.raises(KeyError):
        NotifierRegistry().create("sms")
