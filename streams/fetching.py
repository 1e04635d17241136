"""The consumer's drain loop with one guarded task per fetched batch, not four per record.

faust-streaming's `Consumer._drain_messages` (faust/transport/consumer.py, 0.15.3) hands each record to the
conductor with `wait_first(callback(message), suspend_flow.wait())`, so that a stop or a rebalance can break a
callback stuck on a full stream queue. `wait_first` makes four tasks per record (the callback, the flow's wait,
the service's stopped and crashed waits) and an `asyncio.wait` over them: tens of microseconds for every record
any agent or table reads, and a yield to the event loop between any two records. Table recovery, which applies
records one by one as they arrive, took 234 us per changelog record (a 200,000-entry ledger: 47 s).

Here one `wait_first` guards all the records of one `getmany`: a task delivers them in order, and a suspended flow
still breaks it at once (the task is cancelled, as faust cancelled the callback). Per record it does what faust
did: the read offset, the gap bookkeeping, a commit every `commit_every` acknowledgements (shielded: a commit is
never cut off halfway by the flow's suspension), and a yield to the loop every 100 records. What differs on a
suspension: faust went on marking the rest of the batch as read without delivering it (the record then dropped if
fetched again, the loss streams/commits.py had to re-read); here the rest of the batch is left unread, and a
re-fetch after the rebalance delivers it. Installed by `install()` before an app is built (streams/runtime.py);
every test that runs a worker goes through it (no unit test of its own yet).
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport import consumer as faust_consumer
from faust.transport.consumer import Consumer

YIELD_EVERY = 100
"""Records delivered between two yields to the event loop (as faust)."""

_installed = False


def install() -> None:
    """Replace faust's drain loop (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    Consumer._drain_messages = _drain_messages


async def _drain_messages(self: Consumer, fetcher: Any) -> None:  # pragma: no cover - driven through faust
    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    flag_consumer_fetching = faust_consumer.CONSUMER_FETCHING
    set_flag = self.diag.set_flag
    unset_flag = self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for
    suspended = self.suspend_flow.is_set
    sleep = asyncio.sleep
    since_yield = 0

    async def deliver(ait) -> None:
        nonlocal since_yield
        async for tp, message in ait:
            if suspended():
                return  # the rest of the batch stays unread: fetched again after the rebalance
            since_yield += 1
            if since_yield > YIELD_EVERY:
                await sleep(0)
                since_yield = 0
                if suspended():
                    return
            offset = message.offset
            r_offset = get_read_offset(tp)
            if r_offset is None or offset >= r_offset:
                gap = offset - (r_offset or 0)
                if gap > 1 and r_offset and acks_enabled_for(message.topic):
                    await self._add_gap(tp, r_offset + 1, offset)
                if commit_every is not None and self._n_acked >= commit_every:
                    self._n_acked = 0
                    await asyncio.shield(self.commit())
                await callback(message)
                set_read_offset(tp, offset)
            else:
                self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, message.key, message.value)

    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(flag_consumer_fetching)
            ait = getmany(timeout=1.0)
            # As faust: getmany can return at once many times in a row; let the loop run in between.
            await self.sleep(0)
            if not self.should_stop:
                await self.wait_first(deliver(ait), self.suspend_flow.wait())
            unset_flag(flag_consumer_fetching)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(flag_consumer_fetching)
