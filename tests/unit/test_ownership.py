"""With several workers only a key's owner acts on it: the partition arithmetic, the store that keeps standby
copies through a rebalance, and sends handed over instead of waiting out a throttled batch."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiokafka.partitioner import DefaultPartitioner
from faust.types import TP
from mode.utils.queues import FlowControlEvent

from agents.pacing import Abandoned, Pacer
from streams.ownership import Ownership, partition_of
from streams.services.reports import build_submission, idempotency_slot
from streams.stores import Store
from schemas.reports import ReportIn
from testing.samples import report


@pytest.mark.parametrize("key", ["act:act_1:m1:sms", "alert:case_9:m2:email:critical", "reply:SM123", "é✓"])
def test_a_key_lands_on_the_partition_the_producer_sends_it_to(key):
    parts = list(range(8))
    assert partition_of(key, 8) == DefaultPartitioner()(key.encode(), parts, parts)


def test_during_a_rebalance_a_worker_owns_nothing():
    rt = SimpleNamespace(app=SimpleNamespace(rebalancing=True), settings=SimpleNamespace(
        kafka=SimpleNamespace(partitions=4)), hooks=SimpleNamespace())
    assert Ownership(rt, {}).active() == set()
    assert not Ownership(rt, {}).owns("act:act_1:m1:sms")


def test_a_worker_that_is_shutting_down_owns_nothing():
    flow = FlowControlEvent(initially_suspended=False)
    rt = SimpleNamespace(app=SimpleNamespace(rebalancing=False, flow_control=flow), settings=SimpleNamespace(
        kafka=SimpleNamespace(partitions=4)), hooks=SimpleNamespace())
    assert Ownership(rt, {}).owns("act:act_1:m1:sms")
    flow.suspend()  # what faust does first when the worker is told to stop
    assert not Ownership(rt, {}).owns("act:act_1:m1:sms"), "its queued sends must go to the next owner"


async def test_the_store_keeps_standby_partitions_and_drops_only_what_it_no_longer_holds():
    store = Store.__new__(Store)
    store.data, store._key_partition = {"a": 1, "b": 2, "c": 3}, {"a": 0, "b": 1, "c": 2}
    await store.on_recovery_completed({TP("ledger-changelog", 0)}, {TP("ledger-changelog", 1)})
    assert store.data == {"a": 1, "b": 2}, "a standby copy must survive the rebalance; partition 2 is gone"


async def test_sends_waiting_for_the_pacer_are_abandoned_at_once():
    pacer = Pacer(rate=0.5)
    await pacer.acquire()  # the first slot is free; the next ones are 2 s apart
    waiting = [asyncio.create_task(pacer.acquire()) for _ in range(5)]
    await asyncio.sleep(0.05)
    assert pacer.abandon() == 5
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(r, Abandoned) for r in results)


def test_a_retry_with_the_same_idempotency_key_gets_the_same_receipt_on_any_worker():
    body = report()
    slot, _ = idempotency_slot("tok_1", "retry-7", body)
    first = build_submission(ReportIn.model_validate(body), "api", "tok_1", slot)[1]
    again = build_submission(ReportIn.model_validate(body), "api", "tok_1", slot)[1]
    other = build_submission(ReportIn.model_validate(body), "api", "tok_1",
                             idempotency_slot("tok_1", "retry-8", body)[0])[1]
    ids = lambda e: (e.report_id, e.case_id, e.reference)  # noqa: E731
    assert ids(first) == ids(again) != ids(other)
    assert first.reference.startswith("SOL-") and len(first.reference) == 10
