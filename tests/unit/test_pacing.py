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
