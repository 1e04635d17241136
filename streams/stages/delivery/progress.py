"""A call to action's progress, the same on every worker.

Two kinds of record on the compacted actions.progress.v1, read by every worker (streams/replicas.py):
- `<action_id>`: the plan record, written by the worker that owns the action (the fan-out agent): targeted,
  queued, skipped_opted_out, plan_slices, started_at, planned_at, and failed_at/failure or finished_at;
- `<action_id>|<partition>`: the delivery counts of one ledger partition, written by the worker that owns that
  partition, whenever they change (sent, and every final state).
Any worker sums them; finished means every targeted pair is final.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from datetime import datetime

from schemas.notifications import FINAL_STATES
from streams.ownership import Ownership
from streams.runtime import Runtime

log = logging.getLogger("solidarity.progress")
FINAL = {s.value for s in FINAL_STATES}
COUNTERS = ("targeted", "queued", "sent", "delivered", "failed", "opted_out", "cancelled", "unknown", "signed")
PART_COUNTERS = ("sent", *sorted(FINAL))


def progress(rt: Runtime, action_id: str) -> dict:
    """The action's counters, whether it is finished, and when.

    targeted: members x channels addressed; queued: notifications planned; sent: accepted by the provider;
    delivered, failed, opted_out, cancelled, unknown: final; signed: organisations that signed.
    """
    stats = rt.views.progress.plan(action_id)
    counts = {name: 0 for name in COUNTERS}
    counts.update(targeted=int(stats.get("targeted", 0)), queued=int(stats.get("queued", 0)),
                  opted_out=int(stats.get("skipped_opted_out", 0)),
                  signed=len(rt.views.signatures.by_action.get(action_id, {})))
    last = stats.get("planned_at")
    for part in rt.views.progress.partitions(action_id).values():
        for name in PART_COUNTERS:
            counts[name] += int(part.get(name, 0))
        if part.get("last") and (last is None or part["last"] > last):
            last = part["last"]
    final = sum(counts[s] for s in FINAL)
    finished = bool(stats.get("planned_at")) and final >= counts["targeted"]
    finished_at = stats.get("finished_at") or (last if finished else None)
    status = "finished" if finished else ("sending" if stats.get("planned_at") else "planning")
    if stats.get("failure") and not finished:
        status = "failed"
    return {"counts": counts, "finished": finished, "finished_at": finished_at, "status": status,
            "failure": stats.get("failure"), "failed_at": stats.get("failed_at")}


async def publish_plan_record(rt: Runtime, action_id: str, stats: dict) -> None:
    """Publish the action owner's plan record (and wait for the ack: the API reads it next)."""
    fut = await rt.topics.actions_progress.send(key=action_id.encode(), value=json.dumps(stats).encode())
    await fut


class ProgressCounter:
    """Counts this worker's ledger partitions per unfinished action and publishes what changed; stamps
    finished_at on actions this worker owns."""

    def __init__(self, rt: Runtime, deliverer) -> None:
        self.rt, self.deliverer = rt, deliverer
        self.actions = Ownership(rt, rt.tables.action_stats)
        self._seen_writes = -1
        self._published: dict[str, dict] = {}

    async def tick(self) -> None:
        """One pass: recount when the ledger changed (or the assignment did), then stamp finished actions."""
        unfinished = {a.action_id for a in self.rt.views.actions.values()
                      if not self.rt.views.progress.plan(a.action_id).get("finished_at")}
        if unfinished and self.deliverer.writes != self._seen_writes:
            self._seen_writes = self.deliverer.writes
            await self.recount(unfinished)
        await self.stamp_finished(unfinished)

    async def recount(self, unfinished: set[str]) -> None:
        ownership = self.deliverer.ownership
        active = ownership.active()
        counts: defaultdict[str, dict] = defaultdict(dict)
        last: dict[str, datetime] = {}
        # Keys first: an entry is parsed only when it is an action's, in a partition this worker owns.
        mine = self.rt.tables.ledger.items(lambda key: key.startswith("act:") and ownership.partition(key) in active)
        for key, entry in mine:
            if entry.action_id not in unfinished:
                continue
            name = f"{entry.action_id}|{ownership.partition(key)}"
            row = counts[name]
            if entry.provider_id:
                row["sent"] = row.get("sent", 0) + 1
            if entry.state in FINAL_STATES:
                row[entry.state.value] = row.get(entry.state.value, 0) + 1
                if entry.settled_at and (name not in last or entry.settled_at > last[name]):
                    last[name] = entry.settled_at
        for name, when in last.items():
            counts[name]["last"] = when.isoformat()
        for key, row in counts.items():
            if self._published.get(key) != row and self.rt.views.progress.get(key) != row:
                await self.rt.topics.actions_progress.send(key=key.encode(), value=json.dumps(row).encode())
            self._published[key] = row

    async def stamp_finished(self, unfinished: set[str]) -> None:
        tb = self.rt.tables
        active = self.actions.active()
        for action_id in unfinished:
            if not self.actions.owns(action_id, active):
                continue
            state = progress(self.rt, action_id)
            stats = tb.action_stats.get(action_id)
            if state["finished"] and state["finished_at"] and stats and not stats.get("finished_at"):
                stats = {**stats, "finished_at": state["finished_at"]}
                tb.action_stats[action_id] = stats
                await publish_plan_record(self.rt, action_id, stats)
