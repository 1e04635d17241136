"""Twilio webhooks: delivery receipts and inbound SMS, both signature-checked.

Any worker may receive them: a receipt names its notification in the callback URL (`?key=`, signed with the rest
of the URL), so it goes straight to the ledger's owner on notifications.status.v1; an inbound SMS goes to
replies.received.v1, where the replies agent ignores a MessageSid it has handled before (Twilio retries).
"""

from __future__ import annotations

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


async def signed_form(rt: Runtime, request: web.Request) -> dict[str, str] | None:
    """The form parameters if X-Twilio-Signature matches our public URL and auth token, else None."""
    form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    url = public_url(rt.settings.web.public_url, request.path_qs)
    if not valid_signature(url, form, request.headers.get(SIGNATURE_HEADER), rt.settings.twilio.auth_token.get_secret_value()):
        return None
    return form


def register_webhook_views(rt: Runtime) -> None:
    """Add the Twilio webhook endpoints."""

    @rt.app.page("/webhooks/twilio/status")
    class Status(View):
        """Delivery receipts (StatusCallback)."""

        async def post(self, request: web.Request) -> web.Response:
            """Pass delivered/undelivered on to the worker that owns the notification's ledger entry."""
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
            fut = await rt.topics.notifications_status.send(key=key.encode(), value=DeliveryStatus(
                idempotency_key=key, member_id="", channel=Channel.sms, state=receipt.state,
                provider_id=receipt.sid, error_code=receipt.error_code, reason="receipt"))
            await fut
            return web.Response(status=204)

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
