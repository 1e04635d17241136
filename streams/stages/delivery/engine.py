"""The delivery engine: exactly-once sends with a durable ledger, pacing, retries and dead letters.

The one place that decides retry, back-off or dead-letter for a failed send (notifiers only classify).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from datetime import datetime, timedelta

from agents.pacing import Abandoned, Pacer, backoff
from agents.senders import SenderPool
from notifiers.base import ProviderMessage
from notifiers.errors import OUTCOME_UNKNOWN_CODES, NotifierError, RecipientOptedOut
from notifiers.segments import segments
from notifiers.registry import default_registry
from notifiers.twilio.errors import INVALID_NUMBER_CODES
from notifiers.twilio.receipts import RECEIPTS
from schemas.base import FieldProblem, utcnow
from schemas.deadletters import DeadLetter
from schemas.notifications import DeliveryState, DeliveryStatus, Lane, LedgerEntry, Notification
from schemas.vocab import ActionKind, CaseStatus, Channel, Consent
from streams import crypto
from streams.ownership import Ownership
from streams.runtime import Runtime
from streams.stages.delivery.compaction import reached_key
from streams.services.members import publish_member

log = logging.getLogger("solidarity.delivery")

SETTLED = frozenset({DeliveryState.sent, DeliveryState.delivered, DeliveryState.failed, DeliveryState.opted_out,
                     DeliveryState.cancelled, DeliveryState.unknown})
UNKNOWN_OUTCOME = DeliveryState.sending
MISSING = object()
# Sids this process claimed, kept in memory beside the sid index (the newest ones).
CLAIMED_KEPT = 20_000
# Keys of a call to action's notifications (agents.fanout.action_key): rebuilt from the plan after a crash.
ACTION_PREFIX = "act:"
# Not settled and still to be sent: what the reconciler finishes after a crash (with SMS awaiting a receipt).
PENDING = frozenset({UNKNOWN_OUTCOME, DeliveryState.retrying})
RECONCILED = PENDING | {DeliveryState.sent}
# How far back a provider message with the same text makes a recovery undecidable: a message created this long
# before our 'sending' mark could only be ours if the provider's clock ran that far behind ours.
LOOKUP_MARGIN = timedelta(minutes=2)


def mark_time(entry: LedgerEntry) -> datetime:
    """When the earliest attempt whose outcome is unknown was marked 'sending' (the recovery window's start)."""
    return entry.uncertain_since or entry.marked_at or entry.since


def revised(prior: LedgerEntry | None, **changes) -> LedgerEntry:
    """The entry with these fields changed (a new one when there was none); a field set to None is dropped."""
    return LedgerEntry(**changes) if prior is None else prior.model_copy(update=changes)


def claimable(provider_id: str, key: str, owners) -> bool:
    """Whether a provider message may be this key's: its sid is recorded for no other notification."""
    owner = owners(provider_id)
    return owner is None or owner == key



def sealed_text(n: Notification) -> str:
    """A notification as a dead letter keeps it: its address sealed under the member's key, its text under the
    case's (the dead letter as a whole is sealed again under the month's key)."""
    return crypto.sealer().dumps(n).decode()

class Deliverer:
    """Sends notifications exactly once per idempotency key, at the provider's pace."""

    def __init__(self, rt: Runtime, registry=None) -> None:
        self.rt = rt
        self.registry = registry or default_registry()
        d = rt.settings.delivery
        # SMS: one pacer per sender of the pool, each at its own limit (the pool sends at their sum); email: one.
        self.pool = SenderPool.from_settings(rt.settings.twilio, d.sms_segments_per_second)
        self.sender_pacers = {s.sender_id: Pacer(s.rate) for s in self.pool.senders}
        self.pacers = {Channel.email: Pacer(d.email_per_second)}
        self.inflight: dict[str, asyncio.Event] = {}
        # Keys not settled yet (sending, retrying, or an SMS awaiting its receipt): what the reconciler
        # looks at, so it never walks the whole ledger. Built from the ledger on first use after start-up.
        self.unsettled: set[str] = set()
        self._index_ready = False
        self._notifiers: dict[Channel, list] = {}
        # Recovery of SMS to one number runs one at a time, so two recoveries never claim the same message.
        self._phone_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        # Sids claimed by this process (the sid index is written through the changelog, so read it twice).
        self.claimed: dict[str, str] = {}
        # When each action last had a notification handed to the deliverer: the plan sweeper waits for quiet.
        self.started = time.monotonic()
        self.last_progress: dict[str, float] = {}
        self._case_verdicts: dict[tuple[str, bool], tuple[float, str | None]] = {}
        self._turn = 0
        # Which ledger keys are this worker's: with several workers only the owner of a key's partition sends it.
        self.ownership = Ownership(rt, rt.tables.ledger)
        self._active: set[int] | None = None
        # Bumped on every ledger write the reconciler's index should notice (counts follow `listeners`).
        self.writes = 0
        # Called as listener(key, prior, entry) after every ledger write this worker makes (prior: the entry it
        # replaced, or None): incremental counts (delivery/progress.py) follow the ledger without scanning it.
        self.listeners: list = []
        self.base_rates = {Channel.email: d.email_per_second, **{s.sender_id: s.rate for s in self.pool.senders}}
        # Separate concurrency per lane, so a bulk fan-out never holds the slots an alert needs.
        self._sem = {Lane.priority: asyncio.Semaphore(32), Lane.bulk: asyncio.Semaphore(128)}

    def notifier(self, channel: Channel):
        """A notifier for the channel, built from settings on first use (it needs a running loop).

        SMS shares one HTTP session (it multiplexes); email round-robins over a few SMTP connections,
        because one SMTP connection carries one transaction at a time.
        """
        if channel not in self._notifiers:
            s, registry = self.rt.settings, self.registry
            if channel is Channel.sms:
                self._notifiers[channel] = [registry.create(
                    channel, base_url=s.twilio.base_url, account_sid=s.twilio.account_sid,
                    auth_token=s.twilio.auth_token.get_secret_value(), from_number=s.twilio.from_number,
                    status_callback=f"{s.web.public_url.rstrip('/')}/webhooks/twilio/status",
                    timeout_seconds=s.twilio.timeout_seconds)]
            else:
                self._notifiers[channel] = [registry.create(
                    channel, host=s.smtp.host, port=s.smtp.port, sender=s.smtp.sender, username=s.smtp.username,
                    password=s.smtp.password.get_secret_value() if s.smtp.password else None,
                    start_tls=s.smtp.start_tls, timeout_seconds=s.smtp.timeout_seconds)
                    for _ in range(s.smtp.connections)]
        pool = self._notifiers[channel]
        self._turn += 1
        return pool[self._turn % len(pool)]

    async def close(self) -> None:
        """Close provider connections."""
        for pool in self._notifiers.values():
            for notifier in pool:
                await notifier.close()

    async def deliver_batch(self, batch: list[Notification]) -> None:
        """Mark a batch 'sending' durably, then send each notification that is not settled yet."""
        keys = {n.idempotency_key for n in batch}
        # A key still being sent by another batch (its retry can overtake it): wait for that send to end,
        # then decide from the ledger. Skipping it instead would drop the retry.
        while busy := [self.inflight[k] for k in keys if k in self.inflight]:
            await busy[0].wait()
        ledger, todo, seen = self.rt.tables.ledger, [], set()
        for n in batch:
            key = n.idempotency_key
            prior = ledger.get(key)
            if key in seen or (prior is not None and prior.state in SETTLED):
                continue
            if prior is None and self.compacted(n):
                log.info("notification %s refused: its action's ledger partition was compacted (it was settled)", key)
                continue
            seen.add(key)
            todo.append((n, prior))
            self.inflight[key] = asyncio.Event()
            self.unsettled.add(key)
            if n.action_id:
                self.last_progress[n.action_id] = time.monotonic()
            now = utcnow()
            if prior is None or prior.state != UNKNOWN_OUTCOME:
                # An alert or a reply rides along until it settles, so the reconciler can finish it after a crash.
                # A call to action's notification does not: the reconciler rebuilds it from the action's plan,
                # and an SMS's keyed digest recognises what the provider holds (sealing the whole notification
                # into every mark was a third of the mark's cost).
                rebuildable = key.startswith(ACTION_PREFIX) and n.action_id is not None
                self.put(key, prior=prior, entry=LedgerEntry(state=UNKNOWN_OUTCOME, since=now, marked_at=now, attempt=n.attempt,
                                          action_id=n.action_id, channel=n.channel, member_id=n.member_id,
                                          notification=None if rebuildable else n,
                                          body_digest=body_digest(n.body) if rebuildable and n.channel is Channel.sms
                                          else None,
                                          uncertain_since=None if prior is None else prior.uncertain_since))
            elif not prior.uncertain_since:
                # Found 'sending' at the start of a batch: the attempt marked then may have reached the provider
                # before a crash. From now on this key is only sent after asking the provider.
                self.put(key, revised(prior, uncertain_since=prior.marked_at or prior.since), prior=prior)
        if not todo:
            return
        try:
            # The 'sending' marks must be on the broker before any provider call: after a crash they tell
            # us to ask the provider instead of resending.
            await self.rt.app.producer.flush()
        except BaseException:
            for n, _ in todo:
                self.inflight.pop(n.idempotency_key).set()
            raise
        fresh, uncertain = [], defaultdict(list)
        for n, _ in todo:
            entry = ledger.get(n.idempotency_key)
            if n.channel is Channel.sms and entry is not None and entry.uncertain_since:
                uncertain[n.to].append(n)
            else:
                fresh.append(n)
        await asyncio.gather(*(self._tracked(self._deliver(n), [n]) for n in fresh),
                             *(self._tracked(self._recover(notes), notes) for notes in uncertain.values()))

    async def _tracked(self, work, notes: list[Notification]) -> None:
        try:
            await work
        finally:
            now = time.monotonic()
            for n in notes:
                self.inflight.pop(n.idempotency_key).set()
                if n.action_id:
                    # A throttled fan-out is making progress while its sends complete: not quiet.
                    self.last_progress[n.action_id] = now

    def _withdrawn(self, n: Notification) -> str | None:
        """Why a call to action may no longer reach members (case dismissed or closed, consent withdrawn), or None.

        Checked at send time, once the pacer lets the notification go: a long throttled fan-out must stop
        as soon as the secretariat dismisses the case or the defender withdraws consent.
        """
        if crypto.PLACEHOLDER in (n.body, n.to):
            return "its case or member was shredded before this message left"
        if not n.action_id or not n.case_id:
            return None
        now = time.monotonic()
        # A closure notice is for a closed case: closing does not withdraw it (dismissing, shredding or consent do).
        action = self.rt.views.actions.get(n.action_id)
        closure = action is not None and action.kind is ActionKind.closure_notice
        hit = self._case_verdicts.get((n.case_id, closure))
        if hit is None or now - hit[0] > 1.0:
            case = self.rt.views.cases.get(n.case_id)
            verdict = None
            if case is not None and case.shredded:
                verdict = "the case was shredded before this message left"
            elif case is not None and (case.status is CaseStatus.dismissed
                                       or case.status is CaseStatus.closed and not closure):
                verdict = f"the case was {case.status.value} before this message left"
            elif case is not None and case.consent < Consent.network:
                verdict = f"consent was withdrawn (now '{case.consent.value}') before this message left"
            hit = self._case_verdicts[(n.case_id, closure)] = (now, verdict)
        return hit[1]

    async def _cancelled(self, n: Notification) -> bool:
        """Settle the notification as cancelled if its case no longer allows it; whether it was."""
        why = self._withdrawn(n)
        if why is not None:
            await self.settle(n, DeliveryState.cancelled, why)
        return why is not None

    async def _deliver(self, n: Notification) -> None:
        async with self._sem[n.lane]:
            notifier = self.notifier(n.channel)
            try:
                # Before the pacer (a cancelled message must not wait its turn) and after it (the wait is long).
                if await self._cancelled(n):
                    return
                if not self.ownership.owns(n.idempotency_key):
                    await self._hand_over(n)
                    return
                if n.channel is Channel.sms:
                    sender = self.pool.choose(n.to, self._sender_wait, self.rt.settings.twilio.sticky_wait_seconds)
                    cost, pacer = segments(n.body).segments, self.sender_pacers[sender.sender_id]
                    # A pool names the sender on each request; one sender is the notifier's own.
                    extra = {"sender": sender} if self.pool.pooled else {}
                else:
                    cost, pacer, extra = 1, self.pacers[n.channel], {}
                try:
                    await pacer.acquire(cost, priority=n.lane is Lane.priority)
                except Abandoned:
                    await self._hand_over(n)
                    return
                if await self._cancelled(n):
                    return
                if not self.ownership.owns(n.idempotency_key):
                    await self._hand_over(n)
                    return
                # The idempotency key makes an email resent after a crash carry the same Message-ID.
                result = await notifier.send(n.to, n.body, n.subject, key=n.idempotency_key, **extra)
            except NotifierError as exc:
                await self._failed(n, exc)
            else:
                await self._sent(n, result.provider_id)

    def _sender_wait(self, sender) -> float:
        """Seconds a send asked for now would wait behind this sender's pacer."""
        return self.sender_pacers[sender.sender_id].backlog()

    async def _recover(self, notes: list[Notification]) -> None:
        """SMS to one number whose earlier attempt may have reached the provider: ask it before any resend.

        A provider message counts as a notification's only if it was created after that notification's
        'sending' mark (less the allowed clock skew), carries the same text, and its sid is recorded for no
        other notification. Several notifications to the same number with the same text (two actions in
        flight) share out the messages found, latest mark first, so each message is claimed once. When a
        message with the same text that nobody has claimed was created shortly before the mark, it may be
        ours under a larger clock skew: that notification ends `unknown` rather than being guessed either way.
        """
        skew = timedelta(seconds=self.rt.settings.delivery.clock_skew_seconds)
        ledger, owners = self.rt.tables.ledger, self._sid_owner
        async with self._phone_locks[notes[0].to]:
            marks = {n.idempotency_key: mark_time(ledger.get(n.idempotency_key)) for n in notes}
            try:
                # Bounded like sends: after a crash thousands of numbers are looked up at once, and an unbounded
                # burst of list requests makes the provider (and its rate limits) time every one of them out.
                async with self._sem[notes[0].lane]:
                    # From any sender of a pool: the pool may have changed since, and the phone's sender with it.
                    found = await self.notifier(Channel.sms).lookup(
                        notes[0].to, min(marks.values()) - LOOKUP_MARGIN,
                        **({"any_sender": True} if self.pool.pooled else {}))
            except NotifierError as exc:
                for n in notes:
                    await self._failed(n, exc)
                return
            taken: set[str] = set()
            resend = []
            digests = {n.idempotency_key: getattr(ledger.get(n.idempotency_key), "body_digest", None) for n in notes}
            for n in sorted(notes, key=lambda n: marks[n.idempotency_key], reverse=True):
                start = marks[n.idempotency_key] - skew
                sent_as = digests[n.idempotency_key]
                # The text sent, by its digest when the mark kept one (the rebuilt text can differ: a member who
                # changed language since), else the notification's own.
                same = sorted((m for m in found if m.provider_id not in taken
                               and (body_digest(m.body or "") == sent_as if sent_as else (m.body or "") == n.body)
                               and claimable(m.provider_id, n.idempotency_key, owners)),
                              key=lambda m: _created(m))
                match = next((m for m in same if _created(m) >= start), None)
                if match is not None:
                    taken.add(match.provider_id)
                    await self._sent(n, match.provider_id, recovered=True, provider_status=match.status)
                elif any(_created(m) >= start - LOOKUP_MARGIN for m in same):
                    await self._unknown(n, "a message with the same text, created just before this one was "
                                           "marked, is unclaimed: it may or may not be this one")
                else:
                    resend.append(n)
            # Sent while holding the number's lock: a concurrent recovery must see these sids as claimed.
            for n in resend:
                await self._deliver(n)

    async def _hand_over(self, n: Notification) -> None:
        """Leave a send to whichever worker owns the key after a rebalance (a rebalance does not stop a send
        already waiting here, and the partition may be someone else's by now: sending here too could send it
        twice). The retry lane is keyed like the ledger, so the owner gets it at once; it finds the 'sending'
        mark, asks the provider first, and sends only what never left."""
        log.info("send of %s handed over to the partition's owner after a rebalance", n.idempotency_key)
        await self.rt.topics.notifications_retry.send(key=n.idempotency_key.encode(), value=n)

    def abandon_waiting(self) -> int:
        """A rebalance has started: give up every send still waiting for its turn, so the agents finish their
        batches and the rebalance completes in a moment (not once a throttled batch has drained)."""
        return sum(pacer.abandon() for pacer in self.all_pacers())

    def all_pacers(self):
        """Every pacer: one per SMS sender, and email's."""
        return [*self.sender_pacers.values(), *self.pacers.values()]

    def _sid_owner(self, provider_id: str) -> str | None:
        return self.claimed.get(provider_id) or self.rt.tables.sid_index.get(provider_id)

    async def _sent(self, n: Notification, provider_id: str, recovered: bool = False,
                    provider_status: str | None = None) -> None:
        tb = self.rt.tables
        state = DeliveryState.sent if n.channel is Channel.sms else DeliveryState.delivered
        now = utcnow()
        changes = dict(state=state, provider_id=provider_id, at=now, recovered=recovered, notification=None,
                       uncertain_since=None)
        if state is DeliveryState.delivered:
            changes["settled_at"] = now
        prior = tb.ledger.get(n.idempotency_key)
        self.put(n.idempotency_key, revised(prior, **changes), prior=prior)
        if n.channel is Channel.sms:
            if len(self.claimed) >= CLAIMED_KEPT:
                # Bounded: the sid index (the table) holds every claim; this only covers the moment before
                # the table's own write is readable, so the oldest claims go first.
                for old in list(self.claimed)[:CLAIMED_KEPT // 2]:
                    del self.claimed[old]
            self.claimed[provider_id] = n.idempotency_key
            tb.sid_index[provider_id] = n.idempotency_key
        else:
            self.unsettled.discard(n.idempotency_key)
        self._observe(n, state)
        if n.channel is not Channel.sms:
            return
        # A receipt may have come before we recorded the send (or the send timed out but reached the provider).
        early = tb.early_receipts.get(n.idempotency_key)
        if early:
            del tb.early_receipts[n.idempotency_key]  # used once: the table does not keep every early receipt
        receipt = DeliveryState(early["state"]) if early else RECEIPTS.get(provider_status or "")
        if receipt is not None:
            await settle_receipt(self.rt, DeliveryStatus(
                idempotency_key=n.idempotency_key, member_id=n.member_id, channel=n.channel, state=receipt,
                action_id=n.action_id, provider_id=provider_id, error_code=(early or {}).get("error"), reason="receipt"))

    async def _failed(self, n: Notification, exc: NotifierError) -> None:
        tb, d = self.rt.tables, self.rt.settings.delivery
        prior = tb.ledger.get(n.idempotency_key)
        if isinstance(exc, RecipientOptedOut):
            self.put(n.idempotency_key, revised(prior, state=DeliveryState.opted_out, error=exc.code,
                                                settled_at=utcnow(), notification=None), prior=prior)
            self.unsettled.discard(n.idempotency_key)
            await self._opt_out(n.member_id, n.channel)
            self._observe(n, DeliveryState.opted_out, exc)
            return
        if exc.retryable and n.attempt + 1 < d.max_attempts:
            # A timeout or a connection lost after the request leaves the outcome unknown: the retry asks the
            # provider first. So does any retry after an earlier uncertain attempt (uncertain_since is kept
            # until the key settles).
            uncertain = None
            if prior is not None:
                uncertain = prior.uncertain_since or (prior.marked_at if exc.code in OUTCOME_UNKNOWN_CODES else None)
            self.put(n.idempotency_key, revised(
                prior, state=UNKNOWN_OUTCOME if uncertain else DeliveryState.retrying, error=exc.code,
                attempt=n.attempt + 1, since=utcnow(), uncertain_since=uncertain), prior=prior)
            delay = backoff(n.attempt + 1, d.backoff_base_seconds, d.backoff_max_seconds, exc.retry_after)
            retry = n.model_copy(update={"attempt": n.attempt + 1, "not_before": utcnow() + timedelta(seconds=delay)})
            await self.rt.topics.notifications_retry.send(key=n.idempotency_key.encode(), value=retry)
            return
        self.put(n.idempotency_key, revised(prior, state=DeliveryState.failed, error=exc.code, settled_at=utcnow(),
                                            notification=None), prior=prior)
        self.unsettled.discard(n.idempotency_key)
        reason = f"{exc.code or 'error'}: {exc}" + ("" if not exc.retryable else f" (gave up after {n.attempt + 1} attempts)")
        await self.rt.topics.notifications_dlq.send(key=n.idempotency_key.encode(), value=DeadLetter(
            source_topic="notifications", key=n.idempotency_key, stage="deliver",
            reasons=[FieldProblem(field="to" if exc.code in INVALID_NUMBER_CODES else "delivery", message=reason)],
            payload=sealed_text(n)))
        self._observe(n, DeliveryState.failed, exc)
        log.info("notification dead-lettered: %s channel=%s code=%s", n.idempotency_key, n.channel.value, exc.code)

    async def _opt_out(self, member_id: str, channel: Channel) -> None:
        member = self.rt.views.members.get(member_id)
        if member is not None and channel not in member.opted_out:
            await publish_member(self.rt, member.model_copy(update={"opted_out": [*member.opted_out, channel]}))

    async def _unknown(self, n: Notification, why: str) -> None:
        """End a notification as `unknown`: shown on the dashboard and dead-lettered, never guessed."""
        await self.settle(n, DeliveryState.unknown, why)
        await self.rt.topics.notifications_dlq.send(key=n.idempotency_key.encode(), value=DeadLetter(
            source_topic="notifications", key=n.idempotency_key, stage="deliver",
            reasons=[FieldProblem(field="delivery", message=f"outcome unknown: {why}")], payload=sealed_text(n)))
        log.warning("notification %s ended unknown: %s", n.idempotency_key, why)

    async def settle(self, n: Notification, state: DeliveryState, reason: str) -> None:
        """Record a final state that no provider call produced (cancelled, unknown, opted out since the plan)."""
        found = self.rt.tables.ledger.get(n.idempotency_key)
        prior = found or LedgerEntry(state=state, action_id=n.action_id, channel=n.channel, member_id=n.member_id,
                                     attempt=n.attempt)
        self.put(n.idempotency_key, revised(prior, state=state, reason=reason, settled_at=utcnow(), notification=None),
                 prior=found)
        self.unsettled.discard(n.idempotency_key)
        self._observe(n, state)

    async def reconcile(self, limit: int = 500) -> int:
        """Finish notifications left unsettled by a lost receipt or a crash; return how many were acted on."""
        tb, d = self.rt.tables, self.rt.settings.delivery
        cutoff = utcnow() - timedelta(seconds=d.reconcile_after_seconds)
        active = self.ownership.active()
        if not self._index_ready or active != self._active:
            # At start-up and after every rebalance: the keys of partitions this worker owns now (a table also
            # holds keys of partitions it lost, and standby copies of others: never touched here).
            # Settled entries are skipped from their stored bytes, unparsed: a restart with a million of them
            # would otherwise parse every one.
            mine = ((k, e) for k, e in tb.ledger.unsettled_items() if self.ownership.owns(k, active))
            self.unsettled = {k for k, e in mine if e.state in PENDING
                              or (e.state is DeliveryState.sent and e.channel is Channel.sms)}
            self._index_ready, self._active = True, active
            self.writes += 1
        stale_sent, unsettled, rebuilt = [], [], []
        for key in list(self.unsettled):
            entry = tb.ledger.get(key)
            if entry is None or entry.state not in RECONCILED or not self.ownership.owns(key, active):
                self.unsettled.discard(key)
                continue
            if key in self.inflight or len(stale_sent) + len(unsettled) + len(rebuilt) >= limit:
                continue
            since = entry.at or entry.since
            if since > cutoff:
                continue
            if entry.state is DeliveryState.sent and entry.channel is Channel.sms:
                stale_sent.append((key, entry))
            elif entry.state in PENDING:
                if entry.state is DeliveryState.retrying and since > cutoff - timedelta(seconds=d.backoff_max_seconds):
                    continue
                if entry.notification is not None:
                    unsettled.append(entry.notification)
                else:
                    rebuilt.append((key, entry))
        notifier = self.notifier(Channel.sms) if stale_sent else None
        for key, entry in stale_sent:
            try:
                status = await notifier.status(entry.provider_id)
            except NotifierError:
                continue
            receipt = RECEIPTS.get(status or "")
            if receipt is not None:
                await settle_receipt(self.rt, DeliveryStatus(
                    idempotency_key=key, member_id=entry.member_id or "", channel=Channel.sms, state=receipt,
                    action_id=entry.action_id, provider_id=entry.provider_id, reason="receipt"))
        unsettled += await self._rebuild(rebuilt)
        if unsettled:
            # deliver_batch asks the provider first for anything whose outcome is unknown.
            await self.deliver_batch(unsettled)
        return len(stale_sent) + len(unsettled)

    async def _rebuild(self, found: list[tuple[str, LedgerEntry]]) -> list[Notification]:
        """Call-to-action notifications left unsettled, rebuilt from their action's plan (the marks do not keep
        them); one that can no longer be built (its member or case gone) ends `unknown`, since its first
        attempt may have reached the provider."""
        from streams.stages.delivery.plans import notifications_for, signers

        notes: list[Notification] = []
        views = self.rt.views
        for key, entry in found:
            action = views.actions.get(entry.action_id or "")
            case = views.cases.get(action.case_id) if action is not None else None
            member = views.members.get(entry.member_id or "")
            made = []
            if action is not None and case is not None and member is not None and entry.channel is not None:
                made = [n for n in notifications_for(action, case, [member], {member.member_id: [entry.channel.value]},
                                                     signers(self.rt, action), self.rt.settings)
                        if n.idempotency_key == key]
            if made:
                notes.append(made[0].model_copy(update={"attempt": entry.attempt}))
                continue
            stub = Notification(idempotency_key=key, member_id=entry.member_id or "-", channel=entry.channel or Channel.sms,
                                to="-", language="en", body="-", action_id=entry.action_id,
                                case_id=action.case_id if action is not None else None, attempt=entry.attempt)
            await self._unknown(stub, "it could not be rebuilt after a crash (its member, case or action is gone), "
                                      "and its first attempt may have reached the provider")
        return notes

    def compacted(self, n: Notification) -> bool:
        """Whether the notification's action has had this key's ledger partition compacted: every key there was
        final, so this one was settled and must not be sent again (streams/stages/delivery/compaction.py)."""
        if not n.action_id or not n.idempotency_key.startswith(ACTION_PREFIX):
            return False
        return reached_key(n.action_id, self.ownership.partition(n.idempotency_key)) in self.rt.views.plans

    def forget(self, key: str) -> None:
        """Remove a settled entry (ledger compaction); the listeners are not told: counts keep it."""
        self.rt.tables.ledger.pop(key, None)
        self.unsettled.discard(key)
        self.writes += 1

    def put(self, key: str, entry: LedgerEntry, prior=MISSING) -> None:
        """Write a ledger entry (every write goes through here) and tell the listeners; pass the entry it
        replaces as `prior` when it is at hand (a settled one is no longer kept parsed)."""
        ledger = self.rt.tables.ledger
        if prior is MISSING:
            prior = ledger.get(key) if self.listeners else None
        ledger[key] = entry
        self.writes += 1
        for listener in self.listeners:
            listener(key, prior, entry)

    def pace(self) -> None:
        """Share each sender's limit among the workers: this one sends at the limit times its share of the
        notification partitions, so all of them together never exceed it (a worker without a backlog leaves
        its share unused; after a rebalance the shares follow within a second)."""
        share = len(self.ownership.active()) / self.ownership.partitions
        if not share:
            return  # owning nothing (a rebalance, shutting down) it sends nothing: keep the last share
        for name, pacer in (*self.sender_pacers.items(), *self.pacers.items()):
            pacer.rate = self.base_rates[name] * share

    def _observe(self, n: Notification, state: DeliveryState, exc: NotifierError | None = None) -> None:
        metrics = self.rt.hooks.metrics
        if metrics is not None:
            metrics.notified(n.channel.value, state.value)
        status = DeliveryStatus(idempotency_key=n.idempotency_key, member_id=n.member_id, channel=n.channel,
                                state=state, action_id=n.action_id, attempt=n.attempt,
                                error_code=exc.code if exc else None, retryable=exc.retryable if exc else None)
        self.rt.topics.notifications_status.send_soon(key=n.idempotency_key.encode(), value=status)


def body_digest(body: str) -> str:
    """A keyed hash of an SMS text (the blind-index key: no one without it can test a guessed text)."""
    return crypto.sealer().blind("sms-body", body)


def _created(m: ProviderMessage) -> datetime:
    # Twilio gives whole seconds: a message created in the mark's own second still counts as after it.
    when = m.sent_at or datetime.min.replace(tzinfo=utcnow().tzinfo)
    return when.replace(microsecond=999_999) if when.microsecond == 0 else when


async def settle_receipt(rt: Runtime, status: DeliveryStatus) -> None:
    """Apply a receipt; an undelivered SMS ends in the dead-letter topic with its reason."""
    if apply_status(rt, status) and status.state is DeliveryState.failed:
        await rt.topics.notifications_dlq.send(key=status.idempotency_key.encode(), value=DeadLetter(
            source_topic="notifications", key=status.idempotency_key, stage="deliver",
            reasons=[FieldProblem(field="delivery", message=f"undelivered ({status.error_code or 'no code'})")],
            payload=status.model_dump_json()))


def apply_status(rt: Runtime, status: DeliveryStatus) -> bool:
    """Apply a provider delivery receipt (delivered/failed) to the ledger; False if it changes nothing."""
    entry = rt.tables.ledger.get(status.idempotency_key)
    if entry is None or entry.state is not DeliveryState.sent:
        return False
    if status.state not in (DeliveryState.delivered, DeliveryState.failed):
        return False
    settled = revised(entry, state=status.state, error=status.error_code, settled_at=utcnow())
    deliverer = rt.hooks.deliverer
    if deliverer is not None:
        deliverer.put(status.idempotency_key, settled, prior=entry)
        deliverer.unsettled.discard(status.idempotency_key)
    else:
        rt.tables.ledger[status.idempotency_key] = settled
    return True
