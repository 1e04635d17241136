"""Twilio webhooks: delivery receipts and inbound SMS, both signature-checked and de-duplicated."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

from aiohttp import web
from faust.web import View
from twilio.request_validator import RequestValidator

from schemas.base import utcnow
from schemas.notifications import DeliveryStatus
from schemas.replies import InboundReply
from schemas.vocab import Channel
from streams.delivery import RECEIPTS
from streams import topics
from streams.runtime import Runtime
from streams.settings import Settings

log = logging.getLogger("solidarity.webhooks")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def signed_form(rt: Runtime, request: web.Request) -> dict[str, str] | None:
    """The form parameters if X-Twilio-Signature matches our public URL and auth token, else None."""
    form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    url = rt.settings.web.public_url.rstrip("/") + request.path_qs
    validator = RequestValidator(rt.settings.twilio.auth_token.get_secret_value())
    if not validator.validate(url, form, request.headers.get("X-Twilio-Signature", "")):
        return None
    return form


def seen(rt: Runtime, key: str) -> bool:
    """True when a webhook key was already handled: repeats (Twilio retries) are ignored."""
    return key in rt.tables.webhook_seen


def remember(rt: Runtime, key: str) -> None:
    """Record a webhook key as handled (a receipt lost after this is recovered by the reconciler's provider
    lookup; a reply is remembered only once it is on the broker)."""
    rt.tables.webhook_seen[key] = utcnow().isoformat()


def webhook_memory_seconds(settings: Settings) -> float | None:
    """How long a handled MessageSid is remembered: as long as the replies topic keeps replies (None: forever).

    Forgetting a sid sooner would let a late Twilio retry of a reply that is still on the topic be queued
    twice. `settings` is the deployment's; today every deployment keeps the catalogue's retention.
    """
    spec = topics.REPLIES
    if spec.compacted or spec.retention_ms == topics.FOREVER:
        return None
    return spec.retention_ms / 1000


def expired_webhook_keys(seen: Mapping[str, str], now: datetime, keep_seconds: float | None) -> list[str]:
    """The keys of `seen` (key -> ISO time it was handled) older than keep_seconds; none when kept forever."""
    if keep_seconds is None:
        return []
    cutoff = now - timedelta(seconds=keep_seconds)
    if cutoff.tzinfo is None:
        cutoff = cutoff.replace(tzinfo=timezone.utc)
    expired = []
    for key, when in seen.items():
        try:
            handled = datetime.fromisoformat(when)
        except (TypeError, ValueError):
            # An entry that cannot be dated would otherwise be kept for ever.
            expired.append(key)
            continue
        if handled.tzinfo is None:
            handled = handled.replace(tzinfo=timezone.utc)
        if handled < cutoff:
            expired.append(key)
    return expired


def register_webhook_views(rt: Runtime) -> None:
    """Add the Twilio webhook endpoints."""

    @rt.app.page("/webhooks/twilio/status")
    class Status(View):
        """Delivery receipts (StatusCallback)."""

        async def post(self, request: web.Request) -> web.Response:
            """Record delivered/undelivered for the notification the message belongs to."""
            form = await signed_form(rt, request)
            if form is None:
                return web.Response(status=403, text="invalid signature")
            sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "")
            state = RECEIPTS.get(status)
            if not sid or state is None or seen(rt, f"status:{sid}:{status}"):
                return web.Response(status=204)
            remember(rt, f"status:{sid}:{status}")
            key = rt.tables.sid_index.get(sid)
            if key is None:
                # The receipt overtook our record of the send (or the send timed out after reaching the
                # provider): keep it for the deliverer to apply when it learns the sid.
                rt.tables.early_receipts[sid] = {"status": status, "error": form.get("ErrorCode") or None}
                return web.Response(status=204)
            entry = rt.tables.ledger.get(key) or {}
            await rt.topics.notifications_status.send(key=key.encode(), value=DeliveryStatus(
                idempotency_key=key, member_id=entry.get("member_id", ""), channel=Channel.sms, state=state,
                action_id=entry.get("action_id"), provider_id=sid, error_code=form.get("ErrorCode") or None,
                reason="receipt"))
            return web.Response(status=204)

    @rt.app.page("/webhooks/twilio/sms")
    class Inbound(View):
        """Inbound SMS replies."""

        async def post(self, request: web.Request) -> web.Response:
            """Queue the reply for the replies agent; answer with empty TwiML (replies go out as our own SMS)."""
            form = await signed_form(rt, request)
            if form is None:
                return web.Response(status=403, text="invalid signature")
            sid = form.get("MessageSid") or form.get("SmsSid") or ""
            if sid and form.get("From") and not seen(rt, f"sms:{sid}"):
                reply = InboundReply(message_sid=sid, from_phone=form["From"], to_phone=form.get("To", ""),
                                     body=(form.get("Body") or "")[:1600])
                fut = await rt.topics.replies_received.send(key=reply.from_phone.encode(), value=reply)
                await fut
                # Marked only once the reply is on the broker: if that failed, Twilio's retry still counts.
                remember(rt, f"sms:{sid}")
            return web.Response(text=EMPTY_TWIML, content_type="text/xml")
