"""Table recovery (streams/recovery.py): faust's own recovery service, fed changelog records as its consumer feeds
them, ends with every table holding the last value of each key, exactly when the highwaters are reached, and
goes on past an error thrown into its queue. A worker that got this wrong would start with a ledger missing
entries, and send again what it had sent."""

from __future__ import annotations

import asyncio

import faust
import pytest
from aiokafka.structs import ConsumerRecord
from faust.events import Event
from faust.types import TP

from streams import recovery as fast_recovery


@pytest.fixture
async def world():
    """A faust app (not started: no broker needed) with one table of two partitions, in recovery."""
    fast_recovery.install()
    app = faust.App("test-table-recovery", broker="kafka://127.0.0.1:9")
    table = app.Table("ledger", partitions=2)
    tps = [TP(table.changelog_topic.get_topic_name(), p) for p in range(2)]
    rec = app.tables.recovery
    for tp in tps:
        rec.tp_to_table[tp] = table
        rec.active_tps.add(tp)
        rec.active_offsets[tp] = -1
    rec._set_recovery_started()
    task = None

    def start():
        nonlocal task
        # The loop faust's Recovery service runs as its task, once installed.
        assert type(rec)._slurp_changelogs.fun is fast_recovery._slurp_changelogs
        task = asyncio.create_task(type(rec)._slurp_changelogs.fun(rec))

    yield app, table, tps, rec, start
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def changelog(app, tp: TP, offset: int, key: str, value: str | None) -> Event:
    """A changelog record as the consumer hands it to the recovery queue."""
    message = app.consumer._to_message(tp, ConsumerRecord(
        topic=tp.topic, partition=tp.partition, offset=offset, timestamp=0, timestamp_type=0,
        key=key.encode(), value=value.encode() if value is not None else None, checksum=None,
        serialized_key_size=len(key), serialized_value_size=len(value or ""), headers=[]))
    return Event(app, key, value, {}, message)


async def test_recovery_ends_with_every_keys_last_value_once_the_highwaters_are_reached(world):
    app, table, tps, rec, start = world
    queue = app.tables.changelog_queue
    events = []
    for n in range(3_000):  # several batches (recovery_buffer_size is 1,000), keys written more than once
        tp = tps[n % 2]
        events.append(changelog(app, tp, n // 2, f"key-{n % 700}", f"v{n}"))
    # The last 100 records arrive later: recovery must not end before them.
    for event in events[:-100]:
        queue.force_put_nowait(event)
    for tp in tps:
        rec.active_highwaters[tp] = 1_499
    start()
    await asyncio.sleep(0.2)
    assert not rec.signal_recovery_end.is_set() and rec.in_recovery
    for event in events[-100:]:
        queue.force_put_nowait(event)
    await asyncio.wait_for(rec.signal_recovery_end.wait(), 10)
    assert not rec.in_recovery
    last = {}
    for n in range(3_000):
        last[f"key-{n % 700}"] = f"v{n}"
    assert dict(table.data.items()) == last
    assert rec.active_offsets == {tps[0]: 1_499, tps[1]: 1_499}


async def test_a_record_seen_again_is_not_applied_over_a_later_one(world):
    app, table, tps, rec, start = world
    queue = app.tables.changelog_queue
    rec.active_highwaters[tps[0]] = 1
    rec.active_highwaters[tps[1]] = -1
    for event in (changelog(app, tps[0], 0, "k", "old"), changelog(app, tps[0], 1, "k", "new"),
                  changelog(app, tps[0], 0, "k", "old")):  # a re-fetch of offset 0
        queue.force_put_nowait(event)
    start()
    await asyncio.wait_for(rec.signal_recovery_end.wait(), 10)
    assert dict(table.data.items()) == {"k": "new"}


async def test_recovery_goes_on_past_an_error_thrown_into_its_queue_and_skips_a_partition_it_does_not_hold(
        world, caplog):
    app, table, tps, rec, start = world
    queue = app.tables.changelog_queue
    for tp in tps:
        rec.active_highwaters[tp] = 0
    stranger = TP("someone-elses-changelog", 0)
    queue.force_put_nowait(changelog(app, tps[0], 0, "a", "1"))
    queue.force_put_nowait(changelog(app, stranger, 0, "x", "stranger"))
    queue._errors.append(RuntimeError("broker went away"))
    start()
    await asyncio.sleep(0.2)
    assert not rec.signal_recovery_end.is_set()
    queue.force_put_nowait(changelog(app, tps[1], 0, "b", "2"))
    await asyncio.wait_for(rec.signal_recovery_end.wait(), 10)
    assert dict(table.data.items()) == {"a": "1", "b": "2"}
    assert "Error in recovery broker went away" in caplog.text
