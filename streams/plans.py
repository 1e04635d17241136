"""A call to action's plan: the audience fixed when it is first fanned out, and the sweep that keeps it whole.

The plan is the set of (member, channel) pairs the action was fanned out to, kept in the `action_plans` table in
slices. Whatever happens to the notifications on their way (a worker killed before its sends reached the broker,
offsets committed past events still in a take buffer, a rebalance), the sweep compares the plan with the ledger
once the action has gone quiet and delivers every planned key the ledger has never seen.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator

from agents.fanout import action_key, address, fan_out_action, targets
from schemas.actions import CallToAction
from schemas.members import Member
from schemas.notifications import DeliveryState, FINAL_STATES, Notification
from schemas.vocab import Channel
from streams.runtime import Runtime

log = logging.getLogger("solidarity.plans")
PLAN_SLICE = 2_000
FINAL = {s.value for s in FINAL_STATES}


def slice_key(action_id: str, index: int) -> str:
    """The table key of one slice of an action's plan."""
    return f"{action_id}:{index:05d}"


def record_plan(rt: Runtime, action: CallToAction, members: list[Member]) -> dict:
    """Fix the audience: store the planned (member, channels) pairs in slices; the counts for action_stats."""
    queued = skipped = 0
    slices = 0
    for start in range(0, len(members), PLAN_SLICE):
        part: dict[str, list[str]] = {}
        for member in members[start:start + PLAN_SLICE]:
            for channel, opted_out in targets(action, member):
                if opted_out:
                    skipped += 1
                else:
                    queued += 1
                    part.setdefault(member.member_id, []).append(channel.value)
        rt.tables.action_plans[slice_key(action.action_id, slices)] = part
        slices += 1
    return {"targeted": queued + skipped, "queued": queued, "skipped_opted_out": skipped, "plan_slices": slices}


def planned_pairs(rt: Runtime, action_id: str, slices: int) -> Iterator[dict[str, list[str]]]:
    """The plan slice by slice: {member_id: [channel, ...]}."""
    for i in range(slices):
        yield rt.tables.action_plans.get(slice_key(action_id, i)) or {}


def planned_members(rt: Runtime, part: dict[str, list[str]]) -> list[Member]:
    """The current records of the members in one plan slice (a member deleted since is left out)."""
    found = (rt.tables.members.get(mid) for mid in part)
    return [m for m in found if m is not None]


def notifications_for(action: CallToAction, case, members: Iterable[Member], part: dict[str, list[str]]) -> list[Notification]:
    """The planned notifications of these members (a channel added after the plan is not in it)."""
    plan = fan_out_action(action, case, members)
    return [n for n in plan.notifications if n.channel.value in part.get(n.member_id, ())]


class PlanSweeper:
    """Delivers planned notifications the ledger has never seen, and stamps finished actions."""

    def __init__(self, rt: Runtime, deliverer) -> None:
        self.rt, self.deliverer = rt, deliverer

    def quiet(self, action_id: str) -> bool:
        """Nothing of the action handed to the deliverer (since start-up) for plan_quiet_seconds."""
        last = max(self.deliverer.last_progress.get(action_id, 0.0), self.deliverer.started)
        return time.monotonic() - last >= self.rt.settings.delivery.plan_quiet_seconds

    async def sweep(self) -> int:
        """One pass over unfinished actions; how many notifications were handed to the deliverer."""
        tb, handed = self.rt.tables, 0
        for action in list(tb.actions.values()):
            stats = tb.action_stats.get(action.action_id) or {}
            if not stats.get("planned_at") or stats.get("finished_at"):
                continue
            if self.quiet(action.action_id):
                handed += await self.sweep_action(action, stats)
            self.stamp_finished(action.action_id)
        return handed

    async def sweep_action(self, action: CallToAction, stats: dict) -> int:
        """Deliver the action's planned keys that have no ledger entry; settle those that can no longer go."""
        tb, handed = self.rt.tables, 0
        case = tb.cases.get(action.case_id)
        for part in planned_pairs(self.rt, action.action_id, int(stats.get("plan_slices", 0))):
            missing = {mid: [ch for ch in chans if action_key(action.action_id, mid, Channel(ch)) not in tb.ledger
                             and action_key(action.action_id, mid, Channel(ch)) not in self.deliverer.inflight]
                       for mid, chans in part.items()}
            missing = {mid: chans for mid, chans in missing.items() if chans}
            if not missing:
                continue
            members = {m.member_id: m for m in planned_members(self.rt, missing)}
            notes = notifications_for(action, case, members.values(), missing) if case is not None else []
            made = {n.idempotency_key for n in notes}
            for mid, chans in missing.items():
                for ch in chans:
                    key = action_key(action.action_id, mid, Channel(ch))
                    if key not in made:
                        await self.deliverer.settle(self._stub(action, mid, Channel(ch)),
                                                    *self._why_not(members.get(mid), Channel(ch), case))
            if notes:
                log.warning("plan sweep: %d planned notification(s) of action %s never reached the ledger; "
                            "delivering them now", len(notes), action.action_id)
                await self.deliverer.deliver_batch(notes)
                handed += len(notes)
        return handed

    @staticmethod
    def _stub(action: CallToAction, member_id: str, channel: Channel) -> Notification:
        return Notification(idempotency_key=action_key(action.action_id, member_id, channel), member_id=member_id,
                            channel=channel, to="-", language="en", body="-", action_id=action.action_id,
                            case_id=action.case_id)

    @staticmethod
    def _why_not(member: Member | None, channel: Channel, case) -> tuple[DeliveryState, str]:
        if case is None:
            return DeliveryState.cancelled, "the case is no longer known"
        if member is None:
            return DeliveryState.cancelled, "the member was removed after the action was approved"
        if channel in member.opted_out:
            return DeliveryState.opted_out, "the member opted out after the action was approved"
        if not address(member, channel):
            return DeliveryState.cancelled, f"the member has no {channel.value} address any more"
        return DeliveryState.cancelled, f"the member no longer takes {channel.value}"

    def stamp_finished(self, action_id: str) -> None:
        """Record when an action finished (every notification final), once."""
        from_counts = progress(self.rt, action_id)
        if from_counts["finished"] and from_counts["finished_at"]:
            tb = self.rt.tables
            stats = dict(tb.action_stats.get(action_id) or {})
            stats["finished_at"] = from_counts["finished_at"]
            tb.action_stats[action_id] = stats


COUNTERS = ("targeted", "queued", "sent", "delivered", "failed", "opted_out", "cancelled", "unknown", "signed")


def progress(rt: Runtime, action_id: str) -> dict:
    """The action's counters from the delivery ledger, whether it is finished, and when.

    targeted: members x channels addressed; queued: notifications planned; sent: accepted by the provider;
    delivered, failed, opted_out, cancelled, unknown: final. Finished: every targeted pair is final.
    """
    stats = rt.tables.action_stats.get(action_id) or {}
    counts = {name: 0 for name in COUNTERS}
    counts.update(targeted=int(stats.get("targeted", 0)), queued=int(stats.get("queued", 0)),
                  opted_out=int(stats.get("skipped_opted_out", 0)), signed=int(stats.get("signed", 0)))
    prefix, last = f"act:{action_id}:", stats.get("planned_at")
    for key, entry in rt.tables.ledger.items():
        if not key.startswith(prefix):
            continue
        state = entry["state"]
        if entry.get("provider_id"):
            counts["sent"] += 1
        if state in FINAL:
            counts[state] += 1
            if entry.get("settled_at") and (last is None or entry["settled_at"] > last):
                last = entry["settled_at"]
    final = sum(counts[s] for s in FINAL)
    finished = bool(stats.get("planned_at")) and final >= counts["targeted"]
    finished_at = stats.get("finished_at") or (last if finished else None)
    status = "finished" if finished else ("sending" if stats.get("planned_at") else "planning")
    if stats.get("failure") and not finished:
        status = "failed"
    return {"counts": counts, "finished": finished, "finished_at": finished_at, "status": status,
            "failure": stats.get("failure"), "failed_at": stats.get("failed_at")}
