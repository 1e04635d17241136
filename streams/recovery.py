"""Table recovery at the speed of the changelog: faust's recovery loop, with its per-record bookkeeping per batch.

faust-streaming's `Recovery._slurp_changelogs` (faust/tables/recovery.py, 0.15.3) takes the changelog records the
consumer hands it one at a time and, for each record:
- waits for it with `asyncio.wait_for` (a timer and a task per record),
- formats two debug messages whether or not debug logging is on,
- asks whether recovery is over, which builds a Counter over the highwater of every partition being recovered,
- and, while standbys are not ready yet, builds another over every standby partition.
With dozens of table partitions per worker that is most of the ~150 us a record cost: a worker with 1,000,000
settled ledger entries took 169 s to be ready, against 2.7 s for a plain read of the same changelog
(BENCHMARKS.md, issue 16, item 6).

This loop does the same work per record (offsets, buffers, `apply_changelog_batch` when a buffer is full,
`on_changelog_event`, the processing-time samples) and the rest once per batch: every record already waiting in
the queue is taken with the one awaited (at most `DRAIN`), and the end-of-recovery and standby checks run after
the batch. Errors thrown into the queue are still raised by the next wait, as before. Installed by `install()`,
before an app is built (streams/runtime.py); `tests/unit/test_table_recovery.py` drives faust's own recovery
service through it.
"""

from __future__ import annotations

import asyncio
import logging
from time import monotonic

from faust.tables import recovery as faust_recovery
from faust.tables.recovery import Recovery
from mode import Service

log = logging.getLogger(__name__)

DRAIN = 10_000
"""Records taken from the queue in one go (the queue holds at most faust's stream_buffer_maxsize)."""

GATHER_AT_LEAST, GATHER_SECONDS = 100, 0.002
"""When fewer records than this wait behind the first, wait this long for more before taking them."""

_installed = False


def install() -> None:
    """Replace faust's recovery loop (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    # A service task of the Recovery service, as faust's own (mode starts every ServiceTask of the class).
    Recovery._slurp_changelogs = Service.task(_slurp_changelogs)


async def _slurp_changelogs(self: Recovery) -> None:
    changelog_queue = self.tables.changelog_queue
    tp_to_table = self.tp_to_table
    active_tps = self.active_tps
    standby_tps = self.standby_tps
    active_offsets = self.active_offsets
    standby_offsets = self.standby_offsets
    active_events_received_at = self._active_events_received_at
    standby_events_received_at = self._standby_events_received_at
    buffers = self.buffers
    buffer_sizes = self.buffer_sizes
    processing_times = self._processing_times
    logger = faust_recovery.logger

    async def detect_aborted_tx() -> None:
        highwaters = self.active_highwaters
        offsets = self.active_offsets
        for tp, highwater in highwaters.items():
            if highwater is not None and offsets[tp] is not None and offsets[tp] < highwater:
                if await self.app.consumer.position(tp) >= highwater:
                    logger.info(f"Aborted tx until highwater for {tp}")
                    offsets[tp] = highwater

    async def maybe_signal_recovery_end(timeout: bool = False, timeout_count: int = 0) -> None:
        # As faust: wait at least 2 consecutive empty cycles before looking for aborted transactions.
        if timeout and self.app.in_transaction and timeout_count > 1:
            await detect_aborted_tx()
        if self.in_recovery and not self.need_recovery():
            self.flush_buffers()  # apply anything still in the buffers
            self._set_recovery_ended()
            if self._actives_span is not None:
                self._actives_span.set_tag("Actives-Ready", True)
            logger.debug("Setting recovery end")
            self.signal_recovery_end.set()

    async def apply(event, now: float) -> bool:
        """Buffer one record (and apply its table's buffer when full); whether it was of an active partition."""
        message = event.message
        tp = message.tp
        offset = message.offset
        bufsize = buffer_sizes.get(tp)
        if tp in active_tps:
            is_active = True
            table = tp_to_table[tp]
            offsets = active_offsets
            if bufsize is None:
                bufsize = buffer_sizes[tp] = table.recovery_buffer_size
            active_events_received_at[tp] = now
        elif tp in standby_tps:
            is_active = False
            table = tp_to_table[tp]
            offsets = standby_offsets
            if bufsize is None:
                bufsize = buffer_sizes[tp] = table.standby_buffer_size
                standby_events_received_at[tp] = now
        else:
            # faust logs this and then applies the record to the previous record's table (its own comment calls
            # that a bug); a record of a partition neither recovered nor kept as standby is skipped here.
            logger.warning(f"recovery unknown topic {tp} offset {offset}")
            return False
        seen_offset = offsets.get(tp, None)
        if seen_offset is None or offset > seen_offset:
            offsets[tp] = offset
            buf = buffers[table]
            buf.append(event)
            await table.on_changelog_event(event)
            if len(buf) >= bufsize:
                table.apply_changelog_batch(buf)
                buf.clear()
                self._last_flush_at = now
            return is_active
        return False

    timeout_count = 0
    while not self.should_stop:
        try:
            self.signal_recovery_end.clear()
            try:
                first = await asyncio.wait_for(changelog_queue.get(), timeout=5.0)
            except asyncio.TimeoutError:
                timeout_count += 1
                if self.should_stop:
                    return
                await maybe_signal_recovery_end(timeout=True, timeout_count=timeout_count)
                continue
            timeout_count = 0
            if self.in_recovery and changelog_queue.qsize() < GATHER_AT_LEAST:
                # The consumer puts the records of a fetch one by one, and this loop woke at the first: give it a
                # moment to put the rest (a worker in recovery has nothing else to do).
                await asyncio.sleep(GATHER_SECONDS)
            batch = [first]
            # Everything already waiting, but never past an error thrown into the queue (the next get raises it).
            while len(batch) < DRAIN and not changelog_queue._errors and changelog_queue.qsize():
                batch.append(changelog_queue.get_nowait())
            now = monotonic()
            active = False
            for event in batch:
                if await apply(event, now):
                    active = True
            if active:
                # One processing-time sample per batch, per record (faust estimates the time left from them).
                now_after = monotonic()
                last_processed_at = self._last_active_event_processed_at
                if last_processed_at is not None:
                    processing_times.append((now_after - last_processed_at) / len(batch))
                    if len(processing_times) > self.num_samples_required_for_estimate:
                        processing_times.popleft()
                self._last_active_event_processed_at = now_after

            await maybe_signal_recovery_end()

            standby_ready = self._standbys_span is None and self.tables.standbys_ready
            if not standby_ready and not self.standby_remaining_total():
                logger.debug("Completed standby partition fetch")
                if self._standbys_span:
                    faust_recovery.finish_span(self._standbys_span)
                    self._standbys_span = None
                self.tables.on_standbys_ready()
        except Exception as ex:  # noqa: BLE001 - as faust: recovery goes on
            logger.warning(f"Error in recovery {ex}")
