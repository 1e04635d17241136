"""The in-memory table store, keeping standby partitions through a rebalance.

faust's memory store, when a rebalance ends, drops every key whose partition is not *active* on this worker,
standby copies included, while the standby reader goes on from where it was. A partition that moved from active
to standby and back (a worker killed, another restarted) was then resumed from its old offset with the data in
between gone: ledger entries vanished and the plan sweep sent their notifications a second time. This store drops
only keys of partitions this worker holds neither as active nor as standby.
"""

from __future__ import annotations

from faust import stores
from faust.stores import memory
from faust.types import TP

SCHEME = "standbymemory"


class Store(memory.Store):
    """Table storage in a dict; keeps active and standby partitions."""

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        kept = {partition for _, partition in active_tps} | {partition for _, partition in standby_tps}
        for key in [k for k, p in self._key_partition.items() if p not in kept]:
            self.data.pop(key, None)
            self._key_partition.pop(key, None)


stores.STORES.aliases[SCHEME] = "streams.stores:Store"
