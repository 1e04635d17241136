"""Pacing: priority callers go first; back-off grows and stays bounded."""

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from agents import pacing
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


def busiest_second(times_and_costs: list[tuple[float, float]]) -> float:
    events, best, j, acc = sorted(times_and_costs), 0.0, 0, 0.0
    for t, cost in events:
        acc += cost
        while events[j][0] <= t - 1.0:
            acc -= events[j][1]
            j += 1
        best = max(best, acc)
    return best


async def test_slots_stay_spaced_by_the_rate():
    pacer = Pacer(rate=20.0)
    loop = asyncio.get_running_loop()
    times = []
    for _ in range(6):
        await pacer.acquire()
        times.append(loop.time())
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 0.05 - Pacer.CATCHUP_S, gaps
    assert sum(gaps) >= 5 * 0.05 * 0.95, gaps  # never faster than 20 per second over the run


class LateClock:
    """A clock for the pacer in which every sleep wakes `late` seconds after it was due, as a busy event loop
    wakes a 10 ms sleep a millisecond or more late. Nothing waits in real time."""

    def __init__(self, late: float) -> None:
        self.t, self.late = 1000.0, late

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += seconds + self.late
        await asyncio.sleep(0)

    def __getattr__(self, name):  # the rest of asyncio, for the pacer's other calls
        return getattr(asyncio, name)


async def test_late_wake_ups_are_made_up_and_no_second_holds_more_than_the_rate(monkeypatch):
    # A short code at 100 segments/s whose every wake-up is 3 ms late: before, each 10 ms slot lost those 3 ms
    # (77 segments/s); now the late time is made up, and still no one-second window holds more than 100.
    clock = LateClock(late=0.003)
    monkeypatch.setattr(pacing, "time", clock)
    monkeypatch.setattr(pacing, "asyncio", clock)
    pacer = Pacer(rate=100.0)
    grants: list[tuple[float, float]] = []

    async def send(cost):
        grants.append((await pacer.acquire(cost), cost))

    start = clock.t
    await asyncio.gather(*(send(2 if i % 3 == 0 else 1) for i in range(300)))
    units = sum(c for _, c in grants)
    assert busiest_second(grants) <= 100
    assert units / (clock.t - start) >= 97, units / (clock.t - start)


async def test_a_message_costing_more_than_a_seconds_budget_still_goes():
    pacer = Pacer(rate=1.0)  # a long code sends one segment a second; a two-segment message takes two
    await asyncio.wait_for(pacer.acquire(2), timeout=2.0)


async def test_the_backlog_is_the_cost_waiting_ahead_at_the_rate_and_empties_as_slots_are_given():
    pacer = Pacer(rate=10.0)
    assert pacer.backlog() == 0.0
    waiting = [asyncio.ensure_future(pacer.acquire(2)) for _ in range(5)]
    await asyncio.sleep(0)  # each has queued its cost: 10 segments at 10/s
    assert pacer.backlog() == 1.0
    await waiting[0]  # the first slot is given at once
    # The slot given (2 segments: 0.2 s, less the moment since) and the 8 segments still queued (0.8 s).
    assert 0.9 < pacer.backlog() <= 1.0
    assert pacer.abandon() == 4
    await asyncio.gather(*waiting, return_exceptions=True)
    assert pacer.backlog() <= 0.2
