"""Ledger compaction: a finished call to action's settled entries leave the ledger; exactly once still holds.

The ledger kept one entry per notification forever, in every worker's memory and in its changelog: a network that
sends a call to action to 10,000 members every week held a million entries within two years, all of them
settled. Once an action has finished (every targeted pair final) and `delivery.compact_after_hours` have
passed, the owner of each ledger partition:

1. publishes who the action reached in that partition on actions.plans.v1 (`<action>:reached<partition>`, the
   same shape as a follow-up's recipients), so follow-ups and "who was sent what" still have it, and that
   record is the mark that the partition is compacted;
2. only then deletes the action's entries of that partition (a tombstone on the changelog: the broker's
   compaction drops them there too), and their SMS sids from the sid index (a recovery looks only at messages
   created minutes before its mark, so a sid that old can no longer be claimed).

What exactly once needs afterwards: a settled key must never be sent again. Every key of a compacted partition
was final before it was deleted, so any notification of that action in that partition that still turns up (a
replayed topic, a late duplicate) is refused by the deliverer from the mark alone (`Deliverer.compacted`). The
action's counts stay: they are the per-partition records on actions.progress.v1, which compaction leaves alone.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from schemas.base import utcnow
from schemas.notifications import FINAL_STATES, DeliveryState
from schemas.vocab import Channel
from streams.ownership import flowing
from streams.runtime import Runtime

log = logging.getLogger("solidarity.compaction")
RECEIVED = (DeliveryState.sent, DeliveryState.delivered)


def reached_key(action_id: str, partition: int) -> str:
    """The key, on actions.plans.v1, of who an action reached in one ledger partition (and the compaction mark)."""
    return f"{action_id}:reached{partition:03d}"


class LedgerCompactor:
    """Compacts finished actions' ledger partitions this worker owns (a timer, once a minute)."""

    def __init__(self, rt: Runtime, deliverer=None) -> None:
        self.rt = rt
        self.deliverer = deliverer or rt.hooks.deliverer

    def register(self) -> None:
        interval = max(1.0, min(60.0, self.rt.settings.delivery.compact_after_hours * 3600 / 2))
        self.rt.app.timer(interval=interval, name="compact_ledger")(self.run)

    async def run(self) -> None:
        if not self.rt.views.ready:
            return
        await self.tick()

    def due(self, now: datetime) -> list[str]:
        """Actions finished long enough ago to compact."""
        after = timedelta(hours=self.rt.settings.delivery.compact_after_hours)
        out = []
        for action in list(self.rt.views.actions.values()):
            finished = self.rt.views.progress.plan(action.action_id).get("finished_at")
            if finished and datetime.fromisoformat(finished) + after <= now:
                out.append(action.action_id)
        return out

    async def tick(self) -> int:
        """Compact what is due in the partitions this worker owns; how many ledger entries were removed."""
        if not flowing(self.rt):
            return 0
        ownership = self.deliverer.ownership
        active = ownership.active()
        plans = self.rt.views.plans
        todo = {a: [p for p in sorted(active) if reached_key(a, p) not in plans] for a in self.due(utcnow())}
        todo = {a: parts for a, parts in todo.items() if parts}
        removed = 0
        for action_id, parts in todo.items():
            removed += await self.compact(action_id, parts)
        return removed

    async def compact(self, action_id: str, parts: list[int]) -> int:
        """Publish the action's recipients per partition, then delete its entries there (none if any is unsettled)."""
        ledger, ownership = self.rt.tables.ledger, self.deliverer.ownership
        prefix = f"act:{action_id}:"
        keys: dict[int, list[tuple[str, str | None]]] = {p: [] for p in parts}
        reached: dict[int, dict[str, set[str]]] = {p: {} for p in parts}
        for key, entry in ledger.items(lambda k: k.startswith(prefix) and ownership.partition(k) in keys):
            part = ownership.partition(key)
            if entry.state not in FINAL_STATES or key in self.deliverer.inflight:
                # Finished means every pair final: an entry that is not (a receipt overtaking the count) waits.
                keys.pop(part, None)
                reached.pop(part, None)
                continue
            if part in keys:
                keys[part].append((key, entry.provider_id if entry.channel is Channel.sms else None))
                if entry.state in RECEIVED and entry.member_id and entry.channel:
                    reached[part].setdefault(entry.member_id, set()).add(entry.channel.value)
        removed = 0
        for part, found in keys.items():
            value = {m: sorted(chans) for m, chans in reached[part].items()}
            fut = await self.rt.topics.actions_plans.send(key=reached_key(action_id, part).encode(),
                                                          value=json.dumps(value).encode())
            await fut  # the mark is on the broker before a single entry goes
            for key, sid in found:
                self.deliverer.forget(key)
                if sid:
                    # A recovery only looks at messages created minutes before its mark: a sid a day old can no
                    # longer be claimed by anyone, so its index entry goes too.
                    self.rt.tables.sid_index.pop(sid, None)
            removed += len(found)
        if removed:
            log.info("ledger compaction: action %s, %d settled entries removed from %d partition(s)",
                     action_id, removed, len(keys))
        return removed
