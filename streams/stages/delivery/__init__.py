"""Delivery: the lanes that send notifications exactly once, receipts, the reconciler, the plan sweep and progress.

engine.py   the Deliverer: ledger marks, pacing, sends, retries, recovery lookups, dead letters
plans.py    the plan of a call to action and the sweep that keeps it whole
progress.py counts every worker publishes for its ledger partitions, summed by any worker
"""

from __future__ import annotations

import asyncio
import logging

from schemas.base import utcnow
from schemas.notifications import DeliveryState, DeliveryStatus
from streams.ownership import rebalances_started
from streams.runtime import Runtime
from streams.stages.delivery.engine import Deliverer, settle_receipt
from streams.stages.delivery.plans import PlanSweeper
from streams.stages.delivery.progress import ProgressCounter

log = logging.getLogger("solidarity.notify")
BATCH, WITHIN = 256, 0.02


class Delivery:
    """The delivery agents and timers of one worker."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.deliverer = Deliverer(rt)
        rt.hooks.deliverer = self.deliverer
        self.sweeper = PlanSweeper(rt, self.deliverer)
        self.counter = ProgressCounter(rt, self.deliverer)

    def register(self) -> None:
        app, t, d = self.rt.app, self.rt.topics, self.rt.settings.delivery
        app.agent(t.notifications_priority, name="deliver_priority")(self.deliver_lane)
        # Several batches in flight: a batch waiting on slow sends does not hold up the next one.
        app.agent(t.notifications_bulk, name="deliver_bulk", concurrency=4)(self.deliver_lane)
        app.agent(t.notifications_retry, name="deliver_retries", concurrency=4)(self.deliver_retries)
        # Receipts only: the deliverer's own state changes go to notifications.status.v1, which no worker reads
        # (consuming them just to skip them cost about 0.1 ms of worker CPU per notification).
        app.agent(t.notifications_receipts, name="track_deliveries")(self.track_deliveries)
        app.timer(interval=max(1.0, d.reconcile_after_seconds / 3), name="reconcile_deliveries")(self.reconcile)
        app.timer(interval=max(1.0, d.plan_quiet_seconds / 3), name="sweep_plans")(self.sweep_plans)
        app.timer(interval=1.0, name="count_progress")(self.count_progress)
        app.on_before_shutdown.connect(self.close_providers)
        app.on_partitions_assigned.connect(self.partitions_assigned)
        app.task(self.watch_rebalances)

    async def close_providers(self, app, **kwargs) -> None:
        """Close provider connections (HTTP session, SMTP) before the worker exits."""
        await self.deliverer.close()

    async def partitions_assigned(self, app, assigned, **kwargs) -> None:
        """Tell the progress counter which ledger partitions this worker holds actively after each rebalance."""
        topic = self.rt.tables.ledger.changelog_topic.get_topic_name()
        self.counter.assigned({tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic})

    async def watch_rebalances(self) -> None:
        """At the start of every rebalance, hand over the sends still waiting for the pacer."""
        async for _ in rebalances_started(self.rt):
            handed = self.deliverer.abandon_waiting()
            if handed:
                log.info("rebalance: %d waiting send(s) handed over", handed)

    async def deliver_lane(self, stream) -> None:
        """Deliver each batch of notifications from a lane."""
        await self.rt.views.wait_ready()
        async for batch in stream.take(BATCH, within=WITHIN):
            self.deliverer.pace()
            await self.deliverer.deliver_batch(batch)

    async def deliver_retries(self, stream) -> None:
        """Retry temporary failures once their back-off has passed."""
        await self.rt.views.wait_ready()
        async for batch in stream.take(BATCH, within=WITHIN):
            due = max((n.not_before for n in batch if n.not_before), default=None)
            if due is not None:
                await asyncio.sleep(max(0.0, (due - utcnow()).total_seconds()))
            self.deliverer.pace()
            await self.deliverer.deliver_batch(batch)

    async def track_deliveries(self, stream) -> None:
        """Apply provider receipts a batch at a time; an undelivered SMS ends in the dead-letter topic."""
        async for batch in stream.take(BATCH, within=WITHIN):
            await self.apply_receipts(batch)

    async def apply_receipts(self, batch: list[DeliveryStatus]) -> None:
        """Apply a batch of notifications.receipts.v1 records in their order (anything but a receipt is
        skipped): a receipt settles its ledger entry, or waits in early_receipts when it overtook our record of
        the send."""
        ledger, early = self.rt.tables.ledger, self.rt.tables.early_receipts
        for status in batch:
            if status.reason != "receipt":
                continue
            entry = ledger.get(status.idempotency_key)
            if entry is not None and entry.state is DeliveryState.sending:
                # The receipt overtook our record of the send (or the send timed out after reaching the
                # provider): the deliverer applies it when it records the send.
                early[status.idempotency_key] = {"state": status.state.value, "error": status.error_code}
                continue
            await settle_receipt(self.rt, status)

    async def reconcile(self) -> None:
        """Finish what a lost receipt or a crash left unsettled (asks the provider, never resends blindly)."""
        if not self.rt.views.ready:
            return
        acted = await self.deliverer.reconcile()
        if acted:
            log.info("reconciled %d unsettled notification(s)", acted)

    async def sweep_plans(self) -> None:
        """Deliver planned notifications that never reached the ledger."""
        if not self.rt.views.ready:
            return
        handed = await self.sweeper.sweep()
        if handed:
            log.warning("plan sweep handed %d notification(s) to the deliverer", handed)

    async def count_progress(self) -> None:
        """Publish this worker's delivery counts; share the senders' limits by the partitions owned."""
        if not self.rt.views.ready:
            return
        self.deliverer.pace()
        await self.counter.tick()
