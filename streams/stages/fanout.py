"""Fan-out: fix a call to action's audience when it is first seen, then put its notifications on the bulk lane."""

from __future__ import annotations

import asyncio
import logging

from agents.audience import select_members
from agents.regions import load_region_table
from schemas.actions import CallToAction
from schemas.base import FieldProblem, utcnow
from schemas.deadletters import DeadLetter
from streams import crypto
from streams.acking import each_value
from streams.runtime import Runtime
from streams.stages.alerts import send_notifications
from streams.stages.delivery.plans import (follow_up_slices, notifications_for, planned_members, planned_pairs,
                                           recipients_key, record_plan, signers)
from streams.stages.delivery.progress import publish_plan_record

log = logging.getLogger("solidarity.notify")


class ActionFailed(Exception):
    """An approved call to action that cannot be fanned out; the reason is shown to the secretariat."""


class FanOut:
    """The fan_out_actions agent (actions.approved.v1 is keyed by action_id: one owner per action)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.region_of = load_region_table().network_region

    def register(self) -> None:
        self.rt.app.agent(self.rt.topics.actions_approved, name="fan_out_actions")(self.fan_out_actions)

    async def fan_out_actions(self, stream) -> None:
        """One notification per (action, member, channel); replays produce the same keys."""
        async for action in each_value(stream):
            action: CallToAction
            try:
                await self.fan_out(action)
            except Exception as exc:  # noqa: BLE001 - an approved action is never lost silently
                await self.failed(action, exc)

    async def fan_out(self, action: CallToAction) -> None:
        """Fix the action's audience on first sight, then put its notifications on the bulk lane."""
        rt, tb = self.rt, self.rt.tables
        # The case was verified, and members imported, through any worker moments ago: read up to now.
        if not await rt.views.sync(timeout=30.0):
            raise ActionFailed("the replicated state could not be read up to date within 30 s")
        case = rt.views.cases.get(action.case_id)
        if case is None:
            raise ActionFailed(f"case {action.case_id} is not known")
        stats = dict(tb.action_stats.get(action.action_id) or {})
        if "plan_slices" not in stats:
            # First time: fix the audience. A replay after a crash or rebalance reuses it, so a member
            # import in between does not change who the action covers.
            if action.follows:
                pairs = await self.recipients(action)
                members = {m: rt.views.members.get(m) for m in pairs}
                slices, counts = await record_plan(rt, action, [], follow_up_slices(action, pairs, members))
            else:
                members = select_members(rt.views.members.values(), action.audience, self.region_of)
                slices, counts = await record_plan(rt, action, members)
            stats.update(counts, started_at=utcnow().isoformat())
            tb.action_stats[action.action_id] = stats
            await publish_plan_record(rt, action.action_id, stats)
        else:
            slices = list(planned_pairs(rt, action.action_id, stats["plan_slices"]))
        if stats.get("planned_at"):
            # A replay of an action already fanned out: whatever did not reach the ledger, the sweep sends.
            return
        # Built and sent a slice at a time: 100,000 members would otherwise hold 200,000 notifications
        # in memory at once before the first one leaves.
        signed = signers(rt, action)
        for part in slices:
            await send_notifications(rt, notifications_for(action, case, planned_members(rt, part), part, signed,
                                                             rt.settings))
        stats = {**stats, "planned_at": utcnow().isoformat()}
        tb.action_stats[action.action_id] = stats
        await publish_plan_record(rt, action.action_id, stats)

    async def recipients(self, action: CallToAction, timeout: float = 60.0) -> dict[str, list[str]]:
        """Who the earlier actions reached, as every ledger partition's owner reports it (streams/stages/followups.py):
        {member_id: [channel, ...]}. Waits for every partition's report."""
        rt = self.rt
        keys = [recipients_key(action.action_id, p) for p in range(rt.settings.kafka.partitions)]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(k not in rt.views.plans for k in keys):
            if loop.time() > deadline:
                missing = sum(k not in rt.views.plans for k in keys)
                raise ActionFailed(f"{missing} ledger partition(s) did not report the earlier recipients within "
                                   f"{timeout:.0f} s")
            await asyncio.sleep(0.2)
            await rt.views.sync(timeout=5.0)
        pairs: dict[str, list[str]] = {}
        for k in keys:
            for member_id, channels in (rt.views.plans.get(k) or {}).items():
                pairs[member_id] = sorted({*pairs.get(member_id, []), *channels})
        return pairs

    async def failed(self, action: CallToAction, exc: Exception) -> None:
        """Record why the action failed (shown on its page) and dead-letter it."""
        rt, tb = self.rt, self.rt.tables
        reason = str(exc) if isinstance(exc, ActionFailed) else f"fan-out failed ({type(exc).__name__})"
        log.error("action %s failed: %s", action.action_id, reason)
        stats = {**dict(tb.action_stats.get(action.action_id) or {}), "failed_at": utcnow().isoformat(),
                 "failure": reason}
        tb.action_stats[action.action_id] = stats
        await publish_plan_record(rt, action.action_id, stats)
        await rt.topics.notifications_dlq.send(key=action.action_id.encode(), value=DeadLetter(
            source_topic="actions.approved", key=action.action_id, stage="fan_out",
            reasons=[FieldProblem(field="action", message=reason)], payload=crypto.sealer().dumps(action).decode(),
            subject=f"case:{action.case_id}"))
