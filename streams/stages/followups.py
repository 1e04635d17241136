"""Follow-ups: who an earlier call to action reached, read from the delivery ledger where it is kept.

A further-information or closure notice goes to exactly the members an earlier action reached: not a new audience
query, but the (member, channel) pairs whose ledger entry says sent or delivered. The ledger is partitioned, so
each worker reports the recipients in the ledger partitions it owns, one record per partition on
actions.plans.v1 (`<follow-up id>:from<partition>`); the follow-up's fan-out waits for every partition's record,
fixes them as its plan, and from there it is a call to action like any other (exactly once per member and
channel, the same sweep and progress).
"""

from __future__ import annotations

import json
import logging

from schemas.notifications import DeliveryState
from streams.ownership import Ownership, flowing
from streams.runtime import Runtime
from streams.stages.delivery.compaction import reached_key
from streams.stages.delivery.plans import recipients_key

log = logging.getLogger("solidarity.plans")
RECEIVED = (DeliveryState.sent, DeliveryState.delivered)


class FollowUps:
    """The timer that reports this worker's ledger partitions' recipients of followed actions."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.ownership = Ownership(rt, rt.tables.ledger)

    def register(self) -> None:
        self.rt.app.timer(interval=1.0, name="gather_follow_up_recipients")(self.gather)

    async def gather(self) -> int:
        """Report the recipients of every follow-up still being planned, for the partitions this worker owns."""
        views = self.rt.views
        pending = [a for a in views.actions.values() if a.follows and "plan_slices" not in views.progress.plan(a.action_id)]
        if not pending or not flowing(self.rt):
            return 0
        active, reported = self.ownership.active(), 0
        for action in pending:
            todo = [p for p in sorted(active) if recipients_key(action.action_id, p) not in views.plans]
            if not todo:
                continue
            prefixes = tuple(f"act:{a}:" for a in action.follows)
            found: dict[int, dict[str, set[str]]] = {p: {} for p in todo}
            entries = self.rt.tables.ledger.items(
                lambda key: key.startswith(prefixes) and self.ownership.partition(key) in found)
            for key, entry in entries:
                if entry.state in RECEIVED and entry.member_id and entry.channel:
                    found[self.ownership.partition(key)].setdefault(entry.member_id, set()).add(entry.channel.value)
            # A followed action whose partition was compacted left who it reached there (delivery/compaction.py).
            for earlier in action.follows:
                for p in todo:
                    for member_id, chans in (views.plans.get(reached_key(earlier, p)) or {}).items():
                        found[p].setdefault(member_id, set()).update(chans)
            for p, pairs in found.items():
                value = {m: sorted(chans) for m, chans in pairs.items()}
                fut = await self.rt.topics.actions_plans.send(key=recipients_key(action.action_id, p).encode(),
                                                              value=json.dumps(value).encode())
                await fut
                reported += 1
            log.info("follow-up %s: recipients of %d ledger partition(s) reported", action.action_id, len(found))
        return reported
