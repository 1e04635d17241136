"""Which worker owns a key: the one the consumer group gave the key's partition to (as an active, not a standby).

Agents only ever see events of partitions they own. Timers (the plan sweep, the reconciler, progress counts) and
intake's direct page act outside any event, so they ask here first: with several workers, touching a ledger key
another worker owns would send a notification twice. A worker's in-memory table may also hold keys of partitions
it has lost or keeps only as a standby; those are never acted on.
"""

from __future__ import annotations

import time

from aiokafka.partitioner import murmur2

from streams.runtime import Runtime


def flowing(rt: Runtime) -> bool:
    """False from the moment a rebalance starts (faust marks the app as rebalancing in the consumer's revoke
    callback, before anything else) until the new assignment's tables are recovered ("Worker ready"), and from
    the moment the worker starts to shut down (faust suspends the flow of events first).

    Without the second, a worker told to stop (SIGTERM, a rolling restart) kept pacing out the sends queued
    in its batches until it was killed 20 s later; now each is handed to the partition's next owner at once.
    """
    if getattr(rt.app, "rebalancing", False):
        return False
    flow = getattr(rt.app, "flow_control", None)
    return flow is None or flow.is_active()


def track_rebalances(rt: Runtime) -> None:
    """Note when each rebalance completes (the plan sweep waits a quiet period after it)."""

    @rt.app.on_rebalance_complete.connect
    async def recovered(app, **kwargs) -> None:
        rt.hooks.rebalanced_at = time.monotonic()


async def rebalances_started(rt: Runtime):
    """Yield each time a rebalance starts (the flow of events is suspended)."""
    flow = rt.app.flow_control
    while True:
        # mode's FlowControlEvent keeps its state in these two events (no public way to wait on them).
        await flow._suspend.wait()
        yield
        await flow._resume.wait()


def partition_of(key: str, partitions: int) -> int:
    """The partition of a key, as the producer's default partitioner picks it (Kafka's murmur2)."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class Ownership:
    """This worker's active partitions of a table's changelog (the same numbers as the topic keyed alike)."""

    def __init__(self, rt: Runtime, table) -> None:
        self.rt, self.table = rt, table
        self.partitions = rt.settings.kafka.partitions
        self._cache: dict[str, int] = {}
        self._assignment, self._active = None, frozenset()

    def active(self) -> set[int]:
        """Partition numbers this worker owns now; every partition when no group assignment exists (tests).

        None during a rebalance: from the moment partitions are revoked until the new assignment's tables are
        recovered, another worker may already be sending what this one held.
        """
        if not flowing(self.rt):
            return set()
        assignor = getattr(self.rt.app, "assignor", None)
        if assignor is None or not hasattr(self.table, "changelog_topic"):
            return set(range(self.partitions))
        # faust replaces its assignment object at every rebalance: the partitions are read once per assignment
        # (a set built from every topic's partitions for each send was 3-5 % of a fan-out's CPU).
        assignment = getattr(assignor, "_assignment", None)
        if assignment is not None and assignment is self._assignment:
            return self._active
        topic = self.table.changelog_topic.get_topic_name()
        active = frozenset(tp.partition for tp in assignor.assigned_actives() if tp.topic == topic)
        self._assignment, self._active = assignment, active
        return active

    def partition(self, key: str) -> int:
        part = self._cache.get(key)
        if part is None:
            if len(self._cache) > 200_000:  # bounded: a million settled keys must not each keep an entry here
                self._cache.clear()
            part = self._cache[key] = partition_of(key, self.partitions)
        return part

    def owns(self, key: str, active: set[int] | None = None) -> bool:
        """Whether this worker owns the key now (pass `active` when checking many keys at once)."""
        return self.partition(key) in (self.active() if active is None else active)
