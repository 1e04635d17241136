"""The consumer's drain loop (streams/fetching.py): every fetched record reaches the conductor once, in order, and a
suspended flow (a stop or a rebalance) breaks a batch at once, leaving the rest unread rather than marked read."""

from __future__ import annotations

import asyncio
import types

import faust
import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP

from streams import fetching

TOPIC = "reports.submitted.v1"
TP0 = TP(TOPIC, 0)


@pytest.fixture
async def consumer():
    """A faust app's consumer (not started: no broker), fed batches from a list instead of a broker."""
    fetching.install()
    app = faust.App("test-drain-loop", broker="kafka://127.0.0.1:9")
    app.topics.add(app.topic(TOPIC))
    await app.topics._update_indices()
    return app.consumer


def record(consumer, offset: int):
    return consumer._to_message(TP0, ConsumerRecord(
        topic=TOPIC, partition=0, offset=offset, timestamp=0, timestamp_type=0, key=b"k", value=b"v",
        checksum=None, serialized_key_size=1, serialized_value_size=1, headers=[]))


def feed(consumer, batches: list[list[int]]):
    """Make getmany return these batches of offsets, then stop the fetcher; the fetcher."""
    fetcher = types.SimpleNamespace(_stopped=asyncio.Event())

    async def getmany(timeout: float):
        if not batches:
            fetcher._stopped.set()
            return
        for offset in batches.pop(0):
            yield TP0, record(consumer, offset)

    consumer.getmany = getmany
    return fetcher


async def test_every_record_reaches_the_conductor_once_in_order_and_is_marked_read(consumer):
    got = []

    async def callback(message):
        got.append(message.offset)

    consumer.callback = callback
    fetcher = feed(consumer, [list(range(0, 250)), list(range(250, 260)), []])
    await asyncio.wait_for(consumer._drain_messages(fetcher), 10)
    assert got == list(range(260))
    assert consumer._read_offset[TP0] == 259


async def test_a_suspended_flow_breaks_the_batch_and_leaves_the_rest_unread(consumer):
    got = []

    async def callback(message):
        got.append(message.offset)
        if message.offset == 3:
            await asyncio.sleep(3600)  # stuck on a full stream queue: only the suspension can break it

    consumer.callback = callback
    fetcher = feed(consumer, [list(range(10))])
    drain = asyncio.ensure_future(consumer._drain_messages(fetcher))
    await asyncio.sleep(0.1)
    assert got == [0, 1, 2, 3]
    consumer.suspend_flow.set()  # a rebalance starts
    await asyncio.wait_for(drain, 10)  # the stuck record no longer holds the loop (no more batches: it ends)
    assert got == [0, 1, 2, 3]
    # 3-9 were not handed on, so they are not marked read: fetched again after the rebalance, they are delivered
    # (faust marked 4-9 read without handing them on, and dropped them when they came again).
    assert consumer._read_offset[TP0] == 2
