"""Twilio webhooks: delivery receipts and inbound SMS, both signature-checked.

Any worker may receive them: a receipt names its notification in the callback URL (`?key=`, signed with the rest
of the URL), so it goes straight to the ledger's owner on notifications.receipts.v1; an inbound SMS goes to
replies.received.v1, where the replies agent ignores a MessageSid it has handled before (Twilio retries).

Both answer 2xx only once the broker has acknowledged the record. Twilio never calls again after a 2xx, so a
record answered before its ack and then lost in a crash would be gone (a lost receipt would wait for the
reconciler to ask Twilio, minutes later; a lost reply would be gone for good). Without a 2xx (an error, a timeout, a
worker that died mid-request) Twilio may call again, and a repeat is harmless: only a ledger entry still 'sent'
takes a receipt, and the replies agent skips a MessageSid it has seen.

Waiting for the ack costs latency, not CPU. The CPU went into one produce request per receipt, and one fetch by the
consumer on the other side: receipts are therefore held for RECEIPT_WINDOW and handed to the producer together
(`ReceiptPublisher`), one produce request and one fetch carrying all of them, each callback still answered only
after its own record's ack (Twilio allows 15 s for an answer).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from faust.web import View

from notifiers.twilio.receipts import parse_inbound, parse_receipt
from notifiers.twilio.signature import SIGNATURE_HEADER, public_url, valid_signature
from schemas.notifications import DeliveryStatus
from schemas.vocab import Channel
from streams import crypto
from streams.runtime import Runtime

log = logging.getLogger("solidarity.webhooks")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Where a request keeps the outcome of its signature check: the signed form, or None.
CHECKED = web.RequestKey("solidarity.twilio_signed_form", dict)
# How long a receipt waits for others to share its produce request: Twilio waits 15 s for an answer.
RECEIPT_WINDOW = 0.05


class ReceiptPublisher:
    """Publishes receipts to notifications.receipts.v1 a window at a time, each caller returning once the broker
    has acknowledged its own record (and raising if it was not)."""

    def __init__(self, topic, window: float = RECEIPT_WINDOW) -> None:
        self.topic, self.window = topic, window
        self._opens: asyncio.Event | None = None

    async def publish(self, status: DeliveryStatus) -> None:
        """Publish one receipt, keyed by its notification's idempotency key (the ledger's partition)."""
        if self.window > 0:
            # An Event, not a shared future: a caller that is cancelled (Twilio hung up) cancels only itself.
            if self._opens is None:
                self._opens = asyncio.Event()
                asyncio.get_running_loop().call_later(self.window, self._release, self._opens)
            await self._opens.wait()
        ack = await self.topic.send(key=status.idempotency_key.encode(), value=status)
        await ack

    def _release(self, opens: asyncio.Event) -> None:
        self._opens = None
        opens.set()


async def signed_form(rt: Runtime, request: web.Request) -> dict[str, str] | None:
    """The form parameters if X-Twilio-Signature matches our public URL and auth token, else None.

    Checked once per request: the route guard (streams/web/routes.py) and the view both ask, and the answer is
    kept on the request (each check is two HMAC-SHA1s, about 35 us).
    """
    if CHECKED in request:
        return request[CHECKED]
    form: dict[str, str] | None = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    url = public_url(rt.settings.web.public_url, request.path_qs)
    if not valid_signature(url, form, request.headers.get(SIGNATURE_HEADER), rt.settings.twilio.auth_token.get_secret_value()):
        form = None
    request[CHECKED] = form
    return form


async def accept_receipt(rt: Runtime, receipts: ReceiptPublisher, request: web.Request) -> web.Response:
    """Check and publish one status callback: 403 if unsigned, 204 once its receipt is on the broker (or when it
    is no receipt of ours: a progress status such as 'sent', or a callback without our key)."""
    form = await signed_form(rt, request)
    if form is None:
        return web.Response(status=403, text="invalid signature")
    receipt = parse_receipt(form, request.query)
    if receipt is None or receipt.state is None:
        return web.Response(status=204)
    key = receipt.key
    if key is None:
        # Not one of ours, or sent before callbacks carried the key: the reconciler asks the provider.
        return web.Response(status=204)
    await receipts.publish(DeliveryStatus(idempotency_key=key, member_id="", channel=Channel.sms, state=receipt.state,
                                          provider_id=receipt.sid, error_code=receipt.error_code, reason="receipt"))
    return web.Response(status=204)


def register_webhook_views(rt: Runtime) -> None:
    """Add the Twilio webhook endpoints."""
    receipts = ReceiptPublisher(rt.topics.notifications_receipts)

    @rt.app.page("/webhooks/twilio/status")
    class Status(View):
        """Delivery receipts (StatusCallback)."""

        async def post(self, request: web.Request) -> web.Response:
            """Pass delivered/undelivered on to the worker that owns the notification's ledger entry."""
            return await accept_receipt(rt, receipts, request)

    @rt.app.page("/webhooks/twilio/sms")
    class Inbound(View):
        """Inbound SMS replies."""

        async def post(self, request: web.Request) -> web.Response:
            """Queue the reply for the replies agent; answer with empty TwiML (replies go out as our own SMS)."""
            form = await signed_form(rt, request)
            if form is None:
                return web.Response(status=403, text="invalid signature")
            reply = parse_inbound(form)
            if reply is not None:
                # Keyed by the number's blind index, never the number; sealed under the member's key (or the
                # month's, for a number that is no member's).
                member = rt.views.members.by_phone(reply.from_phone)
                if member is not None:
                    reply = reply.model_copy(update={"subject": f"member:{member.member_id}"})
                key = crypto.sealer().blind("phone", reply.from_phone)
                # Acknowledged by the broker before we answer: if this fails, Twilio's retry still counts.
                fut = await rt.topics.replies_received.send(key=key.encode(), value=reply)
                await fut
            return web.Response(text=EMPTY_TWIML, content_type="text/xml")
