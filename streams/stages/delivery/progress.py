"""A call to action's progress, the same on every worker.

Two kinds of record on the compacted actions.progress.v1, read by every worker (streams/replicas.py):
- `<action_id>`: the plan record, written by the worker that owns the action (the fan-out agent): targeted,
  queued, skipped_opted_out, plan_slices, started_at, planned_at, and failed_at/failure or finished_at;
- `<action_id>|<partition>`: the delivery counts of one ledger partition, written by the worker that owns that
  partition, whenever they change (sent, and every final state).
Any worker sums them; finished means every targeted pair is final.

A worker keeps the counts of its partitions as it writes the ledger (`LedgerCounts`, told of every write by the
deliverer): the ledger is read only once per partition, when the worker is given it, because entries recovered
from the changelog never went through the deliverer. Walking the ledger every second instead cost more the more
had ever been sent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from schemas.notifications import FINAL_STATES, LedgerEntry
from streams.ownership import Ownership
from streams.runtime import Runtime

log = logging.getLogger("solidarity.progress")
FINAL = {s.value for s in FINAL_STATES}
COUNTERS = ("targeted", "queued", "sent", "delivered", "failed", "opted_out", "cancelled", "unknown", "signed")
PART_COUNTERS = ("sent", *sorted(FINAL))

Row = tuple[str, int]  # (action_id, ledger partition)
# What one ledger entry adds to its row: (action_id, sent, final state or None, settled_at when final).
Share = tuple[str, bool, str | None, datetime | None]
Entries = Callable[[Callable[[str], bool]], Iterator[tuple[str, LedgerEntry]]]  # Ledger.items


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


def share(entry: LedgerEntry | None) -> Share | None:
    """What an entry adds to its action's counts; None for one that adds nothing (not sent, not final)."""
    if entry is None or not entry.action_id:
        return None
    final = entry.state in FINAL_STATES
    if not final and not entry.provider_id:
        return None
    return (entry.action_id, bool(entry.provider_id), entry.state.value if final else None,
            entry.settled_at if final else None)


class LedgerCounts:
    """Delivery counts per (action, ledger partition) of the partitions it counts, kept from every ledger write.

    A row holds what a scan of the partition's entries of the action would give: `sent` (entries with a provider
    id), one counter per final state (zeros left out) and `last`, the latest settled_at of a final entry. Writes
    to a partition not counted are ignored; `recount` takes a partition on by reading its entries once.
    Constructible without a faust app: `partition` maps a ledger key to its partition.
    """

    def __init__(self, partition: Callable[[str], int]) -> None:
        self.partition = partition
        self.counted: set[int] = set()
        self.rows: dict[Row, dict[str, int]] = {}
        # Each row's latest settled_at and how many of its final entries have it. When the last of those is
        # rewritten (a final entry is not normally rewritten) the row's latest is only known to be at most that
        # value (`unsure`) until a later one is added or the entries are read again.
        self.latest: dict[Row, tuple[datetime, int]] = {}
        self.unsure: dict[Row, datetime] = {}
        self.changed: set[Row] = set()
        self.by_action: dict[str, set[int]] = {}  # action_id -> partitions it has a row in

    def write(self, key: str, prior: LedgerEntry | None, entry: LedgerEntry | None) -> None:
        """Follow one ledger write: a Deliverer listener (prior: the entry it replaced)."""
        if not key.startswith("act:"):
            return
        part = self.partition(key)
        if part not in self.counted:
            return
        try:
            self._write(part, prior, entry)
        except Exception as exc:  # noqa: BLE001 - the deliverer calls this inside its write: never fail a send
            log.error("progress: a ledger write could not be counted (%s); partition %d is read again",
                      type(exc).__name__, part)
            self.forget({part})

    def _write(self, part: int, prior: LedgerEntry | None, entry: LedgerEntry | None) -> None:
        was, now = share(prior), share(entry)
        if was == now:
            return  # most writes: a retry, a 'sending' mark, an uncertain attempt noted
        if was is not None:
            self._add(part, was, -1)
        if now is not None:
            self._add(part, now, 1)

    def _add(self, part: int, item: Share, sign: int) -> None:
        action_id, sent, final, settled_at = item
        row_key = (action_id, part)
        row = self.rows.get(row_key)
        if row is None:
            row = self.rows[row_key] = {}
            self.by_action.setdefault(action_id, set()).add(part)
        for name in ("sent" if sent else None, final):
            if name is not None:
                row[name] = row.get(name, 0) + sign
                if not row[name]:
                    del row[name]
        if settled_at is not None:
            self._settled(row_key, settled_at, sign)
        self.changed.add(row_key)

    def _settled(self, row_key: Row, at: datetime, sign: int) -> None:
        latest, bound = self.latest.get(row_key), self.unsure.get(row_key)
        if sign > 0:
            if bound is not None:
                if at >= bound:  # later than anything left: the latest again, and alone there
                    del self.unsure[row_key]
                    self.latest[row_key] = (at, 1)
            elif latest is None or at > latest[0]:
                self.latest[row_key] = (at, 1)
            elif at == latest[0]:
                self.latest[row_key] = (at, latest[1] + 1)
        elif latest is not None and at == latest[0]:
            if latest[1] > 1:
                self.latest[row_key] = (at, latest[1] - 1)
            else:
                del self.latest[row_key]
                self.unsure[row_key] = at

    def recount(self, partitions: set[int], entries: Entries) -> int:
        """Count these partitions from their entries (newly given to this worker); how many entries were read."""
        self.forget(partitions)
        self.counted |= partitions
        read = 0
        for key, entry in entries(lambda key: key.startswith("act:") and self.partition(key) in partitions):
            read += 1
            item = share(entry)
            if item is not None:
                self._add(self.partition(key), item, 1)
        return read

    def forget(self, partitions: set[int]) -> None:
        """Stop counting these partitions (another worker has them, or they are to be read again)."""
        self.counted -= partitions
        self.drop(row_key for row_key in list(self.rows) if row_key[1] in partitions)

    def drop(self, row_keys: Iterable[Row]) -> None:
        """Forget these rows."""
        for row_key in row_keys:
            if self.rows.pop(row_key, None) is not None:
                parts = self.by_action[row_key[0]]
                parts.discard(row_key[1])
                if not parts:
                    del self.by_action[row_key[0]]
            self.latest.pop(row_key, None)
            self.unsure.pop(row_key, None)
            self.changed.discard(row_key)

    def drop_actions(self, action_ids: Iterable[str]) -> None:
        """Forget every row of these actions (finished: their counts are on actions.progress.v1 for good)."""
        self.drop([(a, part) for a in action_ids for part in self.by_action.get(a, ())])

    def settle_unsure(self, entries: Entries) -> None:
        """Find the latest settled_at of the rows left unsure, from their partitions' entries."""
        if not self.unsure:
            return
        rows, parts = set(self.unsure), {part for _, part in self.unsure}
        found: dict[Row, tuple[datetime, int]] = {}
        for key, entry in entries(lambda key: key.startswith("act:") and self.partition(key) in parts):
            item = share(entry)
            if item is None or item[3] is None or (row_key := (item[0], self.partition(key))) not in rows:
                continue
            best = found.get(row_key)
            if best is None or item[3] > best[0]:
                found[row_key] = (item[3], 1)
            elif item[3] == best[0]:
                found[row_key] = (best[0], best[1] + 1)
        for row_key in rows:
            del self.unsure[row_key]
            if row_key in found:
                self.latest[row_key] = found[row_key]

    def record(self, row_key: Row) -> dict:
        """The row as published on actions.progress.v1 (settle_unsure first)."""
        row: dict = dict(self.rows.get(row_key, {}))
        if row_key in self.latest:
            row["last"] = self.latest[row_key][0].isoformat()
        return row


class ProgressCounter:
    """Publishes the delivery counts of this worker's ledger partitions as they change (at most once a tick) and
    stamps finished_at on the actions this worker owns."""

    def __init__(self, rt: Runtime, deliverer) -> None:
        self.rt, self.deliverer = rt, deliverer
        self.actions = Ownership(rt, rt.tables.action_stats)
        self.counts = LedgerCounts(deliverer.ownership.partition)
        deliverer.listeners.append(self.counts.write)

    def assigned(self, partitions: set[int]) -> None:
        """A rebalance gave this worker these ledger partitions: counts of any other are stale from now on.

        Told of every assignment (faust's on_partitions_assigned): a partition lost and given back between two
        ticks had writes by another worker in between, which the tick alone would not notice.
        """
        self.counts.forget(self.counts.counted - partitions)

    async def tick(self) -> None:
        """One pass: take on (or let go of) partitions if the assignment changed, publish the rows that changed,
        then stamp finished actions."""
        active = self.deliverer.ownership.active()
        # Nothing is active while a rebalance is under way: the counts wait for the new assignment.
        if active:
            counts = self.counts
            if counts.counted - active:
                counts.forget(counts.counted - active)
            if new := active - counts.counted:
                read = counts.recount(new, self.rt.tables.ledger.items)
                log.info("progress: %d ledger partition(s) counted from %d entries", len(new), read)
            await self.publish()
        await self.stamp_finished(list(self.rt.views.unfinished))

    async def publish(self) -> None:
        """Publish each changed row of an unfinished action that differs from what every worker reads now."""
        counts, views = self.counts, self.rt.views
        # Actions finished since the last tick: their rows go (ledger compaction may remove their entries later).
        counts.drop_actions([a for a in counts.by_action
                             if a not in views.unfinished and views.progress.plan(a).get("finished_at")])
        if not counts.changed:
            return
        counts.settle_unsure(self.rt.tables.ledger.items)
        for row_key in list(counts.changed):
            # Not unfinished and not finished: an action this worker's replica has not read yet (its notifications
            # came first), published once it has.
            if row_key[0] not in views.unfinished:
                continue
            counts.changed.discard(row_key)
            if row_key[1] not in counts.counted:
                continue  # lost to a rebalance while an earlier row was being sent
            name, row = f"{row_key[0]}|{row_key[1]}", counts.record(row_key)
            if (views.progress.get(name) or {}) != row:
                await self.rt.topics.actions_progress.send(key=name.encode(), value=json.dumps(row).encode())

    async def stamp_finished(self, unfinished: list[str]) -> None:
        """Stamp finished_at on each action this worker owns that has just finished."""
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
