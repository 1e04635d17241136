"""The delivery engine: exactly-once sends with a durable ledger, pacing, retries and dead letters.

The one place that decides retry, back-off or dead-letter for a failed send (notifiers only classify).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from agents.pacing import Pacer, backoff
from notifiers.errors import NotifierError, RecipientOptedOut
from notifiers.segments import segments
from notifiers.smtp_email import SmtpEmailNotifier
from notifiers.twilio_sms import TwilioSmsNotifier
from schemas.base import FieldProblem, utcnow
from schemas.deadletters import DeadLetter
from schemas.notifications import DeliveryState, DeliveryStatus, Lane, Notification
from schemas.vocab import Channel
from streams.runtime import Runtime

log = logging.getLogger("solidarity.delivery")

SETTLED = {DeliveryState.sent.value, DeliveryState.delivered.value, DeliveryState.failed.value,
           DeliveryState.opted_out.value}
UNKNOWN_OUTCOME = DeliveryState.sending.value
LOOKUP_MARGIN = timedelta(minutes=2)


def bump(rt: Runtime, action_id: str | None, *counters: str) -> None:
    """Add one to an action's counters (called only on a ledger transition, so replays do not double count)."""
    if not action_id:
        return
    stats = dict(rt.tables.action_stats.get(action_id) or {})
    for name in counters:
        stats[name] = stats.get(name, 0) + 1
    rt.tables.action_stats[action_id] = stats


class Deliverer:
    """Sends notifications exactly once per idempotency key, at the provider's pace."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        d = rt.settings.delivery
        self.pacers = {Channel.sms: Pacer(d.sms_segments_per_second), Channel.email: Pacer(d.email_per_second)}
        self.inflight: set[str] = set()
        self._notifiers: dict[Channel, object] = {}
        self._sem = asyncio.Semaphore(128)

    def notifier(self, channel: Channel):
        """The channel's notifier, built from settings on first use (it needs a running loop)."""
        if channel not in self._notifiers:
            s = self.rt.settings
            if channel is Channel.sms:
                self._notifiers[channel] = TwilioSmsNotifier(
                    base_url=s.twilio.base_url, account_sid=s.twilio.account_sid,
                    auth_token=s.twilio.auth_token.get_secret_value(), from_number=s.twilio.from_number,
                    status_callback=f"{s.web.public_url.rstrip('/')}/webhooks/twilio/status",
                    timeout_seconds=s.twilio.timeout_seconds)
            else:
                self._notifiers[channel] = SmtpEmailNotifier(
                    host=s.smtp.host, port=s.smtp.port, sender=s.smtp.sender, username=s.smtp.username,
                    password=s.smtp.password.get_secret_value() if s.smtp.password else None,
                    start_tls=s.smtp.start_tls, timeout_seconds=s.smtp.timeout_seconds)
        return self._notifiers[channel]

    async def close(self) -> None:
        """Close provider connections."""
        for notifier in self._notifiers.values():
            await notifier.close()

    async def deliver_batch(self, batch: list[Notification]) -> None:
        """Mark a batch 'sending' durably, then send each notification that is not settled yet."""
        ledger, todo, seen = self.rt.tables.ledger, [], set()
        for n in batch:
            key = n.idempotency_key
            prior = ledger.get(key)
            if key in seen or key in self.inflight or (prior and prior["state"] in SETTLED):
                continue
            seen.add(key)
            todo.append((n, prior))
            if not prior or prior["state"] != UNKNOWN_OUTCOME:
                ledger[key] = {"state": UNKNOWN_OUTCOME, "since": utcnow().isoformat(), "attempt": n.attempt,
                               "action_id": n.action_id, "channel": n.channel.value, "member_id": n.member_id}
        if not todo:
            return
        self.inflight.update(n.idempotency_key for n, _ in todo)
        try:
            # The 'sending' marks must be on the broker before any provider call: after a crash they tell
            # us to ask the provider instead of resending.
            await self.rt.app.producer.flush()
            await asyncio.gather(*(self._deliver(n, prior) for n, prior in todo))
        finally:
            self.inflight.difference_update(n.idempotency_key for n, _ in todo)

    async def _deliver(self, n: Notification, prior: dict | None) -> None:
        async with self._sem:
            notifier = self.notifier(n.channel)
            try:
                if prior and prior["state"] == UNKNOWN_OUTCOME and n.channel is Channel.sms:
                    # A previous attempt may have reached the provider: look before resending.
                    since = datetime.fromisoformat(prior["since"]) - LOOKUP_MARGIN
                    found = await notifier.lookup(n.to, since)
                    match = next((m for m in found if (m.body or "") == n.body), None)
                    if match is not None:
                        self._sent(n, match.provider_id, recovered=True)
                        return
                cost = segments(n.body).segments if n.channel is Channel.sms else 1
                await self.pacers[n.channel].acquire(cost, priority=n.lane is Lane.priority)
                result = await notifier.send(n.to, n.body, n.subject)
            except NotifierError as exc:
                await self._failed(n, exc)
            else:
                self._sent(n, result.provider_id)

    def _sent(self, n: Notification, provider_id: str, recovered: bool = False) -> None:
        tb = self.rt.tables
        state = DeliveryState.sent if n.channel is Channel.sms else DeliveryState.delivered
        entry = dict(tb.ledger.get(n.idempotency_key) or {})
        entry.update(state=state.value, provider_id=provider_id, at=utcnow().isoformat(), recovered=recovered)
        tb.ledger[n.idempotency_key] = entry
        if n.channel is Channel.sms:
            tb.sid_index[provider_id] = n.idempotency_key
            bump(self.rt, n.action_id, "sent")
        else:
            bump(self.rt, n.action_id, "sent", "delivered")
        self._observe(n, state)

    async def _failed(self, n: Notification, exc: NotifierError) -> None:
        tb, d = self.rt.tables, self.rt.settings.delivery
        entry = dict(tb.ledger.get(n.idempotency_key) or {})
        if isinstance(exc, RecipientOptedOut):
            entry.update(state=DeliveryState.opted_out.value, error=exc.code)
            tb.ledger[n.idempotency_key] = entry
            bump(self.rt, n.action_id, "opted_out")
            await self._opt_out(n.member_id, n.channel)
            self._observe(n, DeliveryState.opted_out, exc)
            return
        if exc.retryable and n.attempt + 1 < d.max_attempts:
            # A timeout leaves the outcome unknown: keep 'sending' so the retry asks the provider first.
            entry.update(state=UNKNOWN_OUTCOME if exc.code == "timeout" else "retrying", error=exc.code,
                         attempt=n.attempt + 1)
            tb.ledger[n.idempotency_key] = entry
            delay = backoff(n.attempt + 1, d.backoff_base_seconds, d.backoff_max_seconds, exc.retry_after)
            retry = n.model_copy(update={"attempt": n.attempt + 1, "not_before": utcnow() + timedelta(seconds=delay)})
            await self.rt.topics.notifications_retry.send(key=n.idempotency_key.encode(), value=retry)
            return
        entry.update(state=DeliveryState.failed.value, error=exc.code)
        tb.ledger[n.idempotency_key] = entry
        bump(self.rt, n.action_id, "failed")
        reason = f"{exc.code or 'error'}: {exc}" + ("" if not exc.retryable else f" (gave up after {n.attempt + 1} attempts)")
        await self.rt.topics.notifications_dlq.send(key=n.idempotency_key.encode(), value=DeadLetter(
            source_topic="notifications", key=n.idempotency_key, stage="deliver",
            reasons=[FieldProblem(field="to" if exc.code in ("21211", "21614") else "delivery", message=reason)],
            payload=n.model_dump_json()))
        self._observe(n, DeliveryState.failed, exc)
        log.info("notification dead-lettered: %s channel=%s code=%s", n.idempotency_key, n.channel.value, exc.code)

    async def _opt_out(self, member_id: str, channel: Channel) -> None:
        from streams.members import publish_member

        member = self.rt.tables.members.get(member_id)
        if member is not None and channel not in member.opted_out:
            await publish_member(self.rt, member.model_copy(update={"opted_out": [*member.opted_out, channel]}))

    def _observe(self, n: Notification, state: DeliveryState, exc: NotifierError | None = None) -> None:
        metrics = self.rt.extras.get("metrics")
        if metrics is not None:
            metrics.notifications.labels(channel=n.channel.value, status=state.value).inc()
        status = DeliveryStatus(idempotency_key=n.idempotency_key, member_id=n.member_id, channel=n.channel,
                                state=state, action_id=n.action_id, attempt=n.attempt,
                                error_code=exc.code if exc else None, retryable=exc.retryable if exc else None)
        self.rt.topics.notifications_status.send_soon(key=n.idempotency_key.encode(), value=status)


def apply_status(rt: Runtime, status: DeliveryStatus) -> bool:
    """Apply a provider delivery receipt (delivered/failed) to the ledger; False if it changes nothing."""
    entry = rt.tables.ledger.get(status.idempotency_key)
    if not entry or entry["state"] != DeliveryState.sent.value:
        return False
    if status.state not in (DeliveryState.delivered, DeliveryState.failed):
        return False
    rt.tables.ledger[status.idempotency_key] = {**entry, "state": status.state.value, "error": status.error_code}
    bump(rt, entry.get("action_id"), status.state.value)
    return True
