"""Pacing: priority callers go first; back-off grows and stays bounded."""

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from agents.pacing import Pacer, backoff


async def test_priority_waiters_are_granted_before_bulk_waiters():
    pacer = Pacer(rate=1000.0)
    order: list[str] = []

    async def take(name, priority):
        await pacer.acquire(1, priority=priority)
        order.append(name)

    tasks = [asyncio.create_task(take(f"bulk{i}", False)) for i in range(3)]
    tasks += [asyncio.create_task(take("alert", True))]
    await asyncio.gather(*tasks)
    assert order.index("alert") <= 1  # at most the one bulk slot already granted precedes it


@given(attempt=st.integers(1, 30), base=st.floats(0.01, 5), cap=st.floats(5, 120),
       retry_after=st.none() | st.floats(0, 200))
def test_backoff_is_bounded_and_honours_retry_after(attempt, base, cap, retry_after):
    delay = backoff(attempt, base, cap, retry_after)
    assert delay >= (retry_after or 0)
    assert delay <= max(cap, retry_after or 0)
    assert delay > 0


async def test_a_slot_given_at_a_tiny_rate_does_not_hold_up_sends_once_the_rate_is_back():
    # A worker that owned no partitions for a moment (a rebalance) had its share of the sender's limit cut to
    # almost nothing; the one send granted then made every later send wait 100 s (seen as a fan-out stalled
    # for three minutes after a rolling restart).
    pacer = Pacer(rate=0.01)
    await pacer.acquire()
    pacer.rate = 100.0
    await asyncio.wait_for(pacer.acquire(), timeout=5.0)
    await asyncio.wait_for(pacer.acquire(), timeout=5.0)


async def test_slots_stay_spaced_by_the_rate():
    pacer = Pacer(rate=20.0)
    loop = asyncio.get_running_loop()
    times = []
    for _ in range(6):
        await pacer.acquire()
        times.append(loop.time())
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 0.05 * 0.9, gaps  # never faster than 20 per second
