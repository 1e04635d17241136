"""Offsets are committed only past records an agent has finished: fixes to faust's offset bookkeeping.

faust commits a partition's offset past the longest run of acknowledged records. In faust-streaming (0.15.3 here)
that run could jump a record no agent finished, and the record was then never read again: a report accepted with
202 that never became a case. The mid-backlog stop test (tests/integration/test_pipeline_recovery.py) lost one
report of 1,500 in about one run in eight, always the record at the committed offset of one partition after the
restart.

1. **The record at the head could be jumped.** faust refuses to commit over a gap before the acknowledged run only
   when the gap is longer than one record (`min(acked) - committed > 1`, meant to step over an offset compaction
   removed; faust-streaming issue 606, pull request 707, not released). So when the record at the committed
   offset never reached an agent (seen after a restart: the record at the committed offset was fetched, then the
   stream's queue was cleared and the consumer went on from the next one), or was still being processed by one
   of several concurrent instances of an agent (the delivery lanes), the next commit went past it. None of the
   topics our agents read is compacted or transactional, so here the commit never passes a record at the head
   that no agent finished, and a record still in flight or skipped holds back the commit of those after it.
2. **A record the head is waiting for is read again.** If the record at the committed offset is not in flight
   and later ones are done, it was lost between the fetcher and the agent: after a short grace the partition is
   read again from it (the records after it are handled again too: every stage is idempotent on replays). After a
   few tries (an offset that really is gone, say removed by retention) faust's own rule applies again, with an
   error in the log.
3. **Skipped records were counted as done.** While a worker stops (or a rebalance is under way) faust's streams
   skip the records still reaching their queues (flow control is off, or the record is from an older
   generation) and acknowledge them "so the lag does not grow" (faust/streams.py, `_py_aiter`). Here a record no
   stream ever handed to an agent (`message.tracked` still false) and acknowledged while streams skip records is
   done as far as faust's shutdown wait goes, but not counted towards the commit, so the next reader of the
   partition handles it. A record faust could not decode is acknowledged untracked while the flow is on: done.

All are patches to `faust.transport.consumer.Consumer`, installed once by `install()` before an app is built;
`tests/unit/test_offset_commits.py` drives faust's own consumer through each case."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from faust.transport.consumer import Consumer

log = logging.getLogger(__name__)

REREAD_AFTER_SECONDS = 2.0
"""How long a commit waits at a record no agent has (records may still sit in a queue) before reading it again."""

REREAD_TRIES = 5
"""Re-reads of the same offset before faust's own rule applies (the offset may not exist any more)."""

_installed = False


@dataclass
class _Head:
    """A partition whose committed offset waits for a record no agent has."""

    offset: int
    since: float = field(default_factory=time.monotonic)
    tries: int = 0


@dataclass
class _Books:
    skipped: defaultdict = field(default_factory=lambda: defaultdict(set))
    heads: dict = field(default_factory=dict)
    # The offset each partition's last computed commit will write: faust updates `_committed_offset` only once
    # the commit request is answered, and overlapping commits compute in between.
    pending: dict = field(default_factory=dict)
    # Seeks under way (the loop keeps only a weak reference to a task).
    seeks: set = field(default_factory=set)


def _books(consumer: Consumer) -> _Books:
    books = consumer.__dict__.get("_solidarity_books")
    if books is None:
        books = consumer.__dict__["_solidarity_books"] = _Books()
    return books


def install() -> None:
    """Patch faust's consumer (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    original_ack = Consumer.ack
    original_new_offset = Consumer._new_offset

    def ack(self: Consumer, message: Any) -> bool:
        if not self.app.topics.acks_enabled_for(message.topic):
            return original_ack(self, message)
        if not message.tracked and _skipping(self.app, message):
            # Skipped by every stream before an agent saw it: done as far as the shutdown wait goes, but its
            # offset is not committed, so the next reader of the partition handles it. (A record faust could not
            # decode is acknowledged untracked too, while the flow is on: that one is done.)
            message.acked = True
            self._unacked_messages.discard(message)
            committed = self._committed_offset[message.tp]
            if committed is None or message.offset >= committed:
                _books(self).skipped[message.tp].add(message.offset)
            return False
        _books(self).skipped[message.tp].discard(message.offset)
        return original_ack(self, message)

    def _new_offset(self: Consumer, tp: Any) -> int | None:
        books = _books(self)
        acked = self._acked[tp]
        committed = self._committed_offset[tp]
        pending = books.pending.get(tp)
        if pending is not None and (committed is None or pending > committed):
            committed = pending
        skipped = books.skipped[tp]
        if committed is not None:
            skipped.difference_update([offset for offset in skipped if offset < committed])
        held = [m.offset for m in list(self._unacked_messages) if m.tp == tp and not m.acked]
        held.extend(skipped)
        if acked and committed is not None and committed not in held and min(acked) > committed \
                and not self._gap[tp].overlaps(committed) and not _given_up(books, tp, committed):
            # The record at the head was never finished and is not being processed: hold, and read it again.
            _wait_for_head(self, books, tp, committed)
            return None
        head = books.heads.get(tp)
        if head is not None and head.offset != committed:
            del books.heads[tp]
        if not held:
            return _noted(books, tp, original_new_offset(self, tp))
        oldest = min(held)
        # faust's own computation on the acknowledged offsets below the oldest record not finished; the rest wait.
        later = [offset for offset in acked if offset >= oldest]
        if later:
            acked[:] = [offset for offset in acked if offset < oldest]
        try:
            return _noted(books, tp, original_new_offset(self, tp))
        finally:
            if later:
                acked.extend(later)
                acked.sort()

    Consumer.ack = ack
    Consumer._new_offset = _new_offset


def _skipping(app: Any, message: Any) -> bool:
    """Whether faust's streams skip this record now (faust/streams.py, `_py_aiter`): the flow is off (a stop or
    a rebalance) or the record was fetched for an older generation of the group."""
    return not app.flow_control.is_active() or message.generation_id != app.consumer_generation_id


def _noted(books: _Books, tp: Any, offset: int | None) -> int | None:
    if offset is not None:
        books.pending[tp] = offset
    return offset


def _given_up(books: _Books, tp: Any, offset: int) -> bool:
    head = books.heads.get(tp)
    return head is not None and head.offset == offset and head.tries >= REREAD_TRIES


def _wait_for_head(consumer: Consumer, books: _Books, tp: Any, offset: int) -> None:
    head = books.heads.get(tp)
    if head is None or head.offset != offset:
        books.heads[tp] = _Head(offset)
        return
    if time.monotonic() - head.since < REREAD_AFTER_SECONDS:
        return
    head.tries += 1
    head.since = time.monotonic()
    if head.tries >= REREAD_TRIES:
        log.error("%s partition %s: offset %s never reached an agent after %s re-reads; committing past it",
                  tp.topic, tp.partition, offset, REREAD_TRIES - 1)
        return
    log.warning("%s partition %s: the record at offset %s never reached an agent; reading again from it",
                tp.topic, tp.partition, offset)
    reread(consumer, tp, offset)


def reread(consumer: Consumer, tp: Any, offset: int) -> None:
    """Read the partition again from `offset` (faust's own seek, as after a rebalance)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    seeks = _books(consumer).seeks
    task = loop.create_task(consumer.seek(tp, offset))
    seeks.add(task)
    task.add_done_callback(seeks.discard)
