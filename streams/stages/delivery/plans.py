"""A call to action's plan: the audience fixed when it is first fanned out, and the sweep that keeps it whole.

The plan is the set of (member, channel) pairs the action was fanned out to, published on actions.plans.v1 in
slices (every worker reads it). Whatever happens to the notifications on their way (a worker killed before its
sends reached the broker, offsets committed past events still in a take buffer, a rebalance), the sweep compares
the plan with the ledger once the action has gone quiet and delivers every planned key the ledger has never
seen. Each worker sweeps the keys of the ledger partitions it owns.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection, Iterable, Iterator

from agents.fanout import action_key, address, fan_out_action, targets
from agents.texts import render
from agents.links import Purpose
from schemas.actions import LETTER_KINDS, CallToAction
from schemas.members import Member
from schemas.notifications import DeliveryState, Notification
from schemas.vocab import ActionKind, Channel
from streams.runtime import Runtime
from streams.services import links
from streams.settings import Settings
from streams.stages.delivery.progress import progress

log = logging.getLogger("solidarity.plans")
PLAN_SLICE = 2_000


def slice_key(action_id: str, index: int) -> str:
    """The key of one slice of an action's plan on actions.plans.v1."""
    return f"{action_id}:{index:05d}"


def plan_slices(action: CallToAction, members: list[Member]) -> tuple[list[dict[str, list[str]]], dict]:
    """The planned (member -> channels) pairs in slices, and the counts for the plan record."""
    queued = skipped = 0
    slices: list[dict[str, list[str]]] = []
    for start in range(0, len(members), PLAN_SLICE):
        part: dict[str, list[str]] = {}
        for member in members[start:start + PLAN_SLICE]:
            for channel, opted_out in targets(action, member):
                if opted_out:
                    skipped += 1
                else:
                    queued += 1
                    part.setdefault(member.member_id, []).append(channel.value)
        slices.append(part)
    return slices, {"targeted": queued + skipped, "queued": queued, "skipped_opted_out": skipped,
                    "plan_slices": len(slices)}


def follow_up_slices(action: CallToAction, pairs: dict[str, list[str]], members: dict[str, Member]
                     ) -> tuple[list[dict[str, list[str]]], dict]:
    """A follow-up's plan: each (member, channel) the ledger says an earlier action reached, that the follow-up's
    channels include and the member still takes (an opt-out since is counted as such, never sent)."""
    queued = skipped = 0
    slices: list[dict[str, list[str]]] = [{}]
    for member_id in sorted(pairs):
        member = members.get(member_id)
        if member is None:
            continue
        for channel, opted_out in targets(action, member):
            if channel.value not in pairs[member_id]:
                continue
            if opted_out:
                skipped += 1
                continue
            if len(slices[-1]) >= PLAN_SLICE:
                slices.append({})
            queued += 1
            slices[-1].setdefault(member_id, []).append(channel.value)
    return slices, {"targeted": queued + skipped, "queued": queued, "skipped_opted_out": skipped,
                    "plan_slices": len(slices)}


async def record_plan(rt: Runtime, action: CallToAction, members: list[Member],
                      planned: tuple[list[dict[str, list[str]]], dict] | None = None) -> tuple[list[dict], dict]:
    """Fix the audience: publish the plan's slices (every worker reads them) and wait for the broker's ack."""
    slices, counts = planned or plan_slices(action, members)
    pending = [await rt.topics.actions_plans.send(key=slice_key(action.action_id, i).encode(),
                                                  value=json.dumps(part).encode())
               for i, part in enumerate(slices)]
    for fut in pending:
        await fut
    return slices, counts


def planned_pairs(rt: Runtime, action_id: str, slices: int) -> Iterator[dict[str, list[str]]]:
    """The plan slice by slice: {member_id: [channel, ...]}."""
    return rt.views.plans.slices(action_id, slices)


def planned_members(rt: Runtime, part: dict[str, list[str]]) -> list[Member]:
    """The current records of the members in one plan slice (a member deleted since is left out)."""
    found = (rt.views.members.get(mid) for mid in part)
    return [m for m in found if m is not None]


def notifications_for(action: CallToAction, case, members: Iterable[Member], part: dict[str, list[str]],
                      signed: Collection[str] = (), settings: Settings | None = None) -> list[Notification]:
    """The planned notifications of these members (a channel added after the plan is not in it); a closure notice
    thanks the organisations in `signed` first. With `settings`, each email carries the member's signed links."""
    plan = fan_out_action(action, case, members)
    notes = [n for n in plan.notifications if n.channel.value in part.get(n.member_id, ())]
    if action.kind is ActionKind.closure_notice and signed:
        notes = [n.model_copy(update={"body": f"{render('signed_thanks', n.language)} {n.body}"})
                 if n.member_id in signed else n for n in notes]
    return notes if settings is None else [with_links(settings, action, n) for n in notes]


def with_links(settings: Settings, action: CallToAction, note: Notification) -> Notification:
    """An email with the member's links under its text: one-click signature (letters, petitions), the report
    form (decentralised actions) and the self-service page. An SMS is left alone (LINK asks for one)."""
    if note.channel is not Channel.email:
        return note
    lines = []
    if action.kind.value in LETTER_KINDS:
        lines.append(render("links.sign", note.language, url=links.link(settings, Purpose.sign, note.member_id, action)))
    elif action.kind is ActionKind.decentralized_action:
        lines.append(render("links.report", note.language,
                            url=links.link(settings, Purpose.report, note.member_id, action)))
    lines.append(render("links.manage", note.language, url=links.link(settings, Purpose.manage, note.member_id)))
    return note.model_copy(update={"body": f"{note.body}\n\n" + "\n".join(lines)})


def signers(rt: Runtime, action: CallToAction) -> set[str]:
    """Members who signed any of the actions a follow-up follows."""
    return {m for a in action.follows for m in rt.views.signatures.by_action.get(a, {})}


def recipients_key(action_id: str, partition: int) -> str:
    """The key, on actions.plans.v1, of the recipients one ledger partition reports for a follow-up."""
    return f"{action_id}:from{partition:03d}"


class PlanSweeper:
    """Delivers planned notifications the ledger has never seen, and stamps finished actions."""

    def __init__(self, rt: Runtime, deliverer) -> None:
        self.rt, self.deliverer = rt, deliverer

    def quiet(self, action_id: str) -> bool:
        """Nothing of the action handed to the deliverer (since start-up) for plan_quiet_seconds."""
        # Since start-up or the last rebalance: the agents first work through what the topics hold.
        last = max(self.deliverer.last_progress.get(action_id, 0.0), self.deliverer.started,
                   getattr(self.rt.hooks, "rebalanced_at", 0.0))
        return time.monotonic() - last >= self.rt.settings.delivery.plan_quiet_seconds

    async def sweep(self) -> int:
        """One pass over unfinished actions; how many notifications were handed to the deliverer."""
        handed = 0
        views = self.rt.views
        # Unfinished ones only (a finished action has nothing left to sweep): not every action ever approved.
        for action in [a for a in map(views.actions.get, list(views.unfinished)) if a is not None]:
            state = progress(self.rt, action.action_id)
            if state["status"] != "sending":
                continue
            if self.quiet(action.action_id):
                handed += await self.sweep_action(action, self.rt.views.progress.plan(action.action_id))
        return handed

    async def sweep_action(self, action: CallToAction, stats: dict) -> int:
        """Deliver the action's planned keys in this worker's partitions that have no ledger entry; settle those
        that can no longer go. Keys of other partitions are their owners' to sweep."""
        tb, handed = self.rt.tables, 0
        ownership = self.deliverer.ownership
        active = ownership.active()
        case = self.rt.views.cases.get(action.case_id)
        for part in planned_pairs(self.rt, action.action_id, int(stats.get("plan_slices", 0))):
            missing = {}
            for mid, chans in part.items():
                keys = [ch for ch in chans if (k := action_key(action.action_id, mid, Channel(ch))) not in tb.ledger
                        and k not in self.deliverer.inflight and ownership.owns(k, active)]
                if keys:
                    missing[mid] = keys
            if not missing:
                continue
            members = {m.member_id: m for m in planned_members(self.rt, missing)}
            notes = (notifications_for(action, case, members.values(), missing, signers(self.rt, action),
                                       self.rt.settings)
                     if case is not None else [])
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
