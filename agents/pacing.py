"""Sending pace: a per-sender pacer in segments per second with a priority lane, and retry back-off."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque


class Abandoned(Exception):
    """A wait for a send slot given up (the worker is handing its partitions to another)."""


class Pacer:
    """Grants send slots at most `rate` cost units (SMS segments, emails) per second, priority callers first.

    Slots are spaced by cost/rate; bulk callers wait while any priority caller is waiting. The spacing after a
    grant is computed from the rate at the time of the next grant, not fixed when the slot was given: the rate
    changes (a worker's share of a sender's limit follows its partitions), and a slot given at a near-zero
    share during a rebalance must not hold up every later send for minutes once the share is back.

    Each slot is due cost/rate after the previous slot was due, not after it was actually granted: a wake-up
    that came late (a busy event loop wakes a 10 ms sleep a millisecond or two late) is made up by the next
    slot, up to CATCHUP_S, instead of being lost (a short code at 100 segments/s reached only 80). What keeps
    the limit is a sliding window: no grant makes the units granted in the last second exceed `rate`.
    """

    # A rate change is noticed within this long by a caller already waiting.
    RECHECK_S = 0.5
    # A slot granted at most this late is taken as granted when due; later than that the pacer was idle, and the
    # next slot is spaced from now (after idling, sends start evenly spaced, not in a burst).
    CATCHUP_S = 0.1

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._last = float("-inf")
        self._last_cost = 0.0
        self._window: deque[tuple[float, float]] = deque()  # (grant time, cost) of the last second
        self._in_window = 0.0
        self._queues: dict[bool, deque] = {True: deque(), False: deque()}
        self._queued = 0.0  # the cost waiting in both queues
        self._runner: asyncio.Task | None = None

    def backlog(self, now: float | None = None) -> float:
        """Seconds until a send asked for now would be granted, if nothing else arrived: the cost waiting
        ahead of it at the current rate, after the slot already given is over."""
        now = time.monotonic() if now is None else now
        rate = max(self.rate, 1e-9)
        busy_until = self._last + self._last_cost / rate
        return max(0.0, busy_until - now) + self._queued / rate

    async def acquire(self, cost: float = 1.0, priority: bool = False) -> float:
        """Wait for a slot for a send costing `cost` units; the (monotonic) time it was granted."""
        fut = asyncio.get_running_loop().create_future()
        self._queues[priority].append((cost, fut))
        self._queued += cost
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._grant())
        return await fut

    def abandon(self) -> int:
        """Fail every waiting caller with Abandoned (nothing is granted to them); how many there were."""
        count = 0
        for queue in self._queues.values():
            while queue:
                cost, fut = queue.popleft()
                self._queued -= cost
                if not fut.done():
                    fut.set_exception(Abandoned())
                    count += 1
        return count

    async def _grant(self) -> None:
        window = self._window
        while self._queues[True] or self._queues[False]:
            now = time.monotonic()
            due = self._last + self._last_cost / self.rate
            if due > now:
                await asyncio.sleep(min(due - now, self.RECHECK_S))
                continue
            queue = self._queues[True] if self._queues[True] else self._queues[False]
            if not queue:
                continue
            cost, fut = queue[0]
            if fut.done():
                queue.popleft()
                self._queued -= cost
                continue
            while window and window[0][0] <= now - 1.0:
                self._in_window -= window.popleft()[1]
            if window and self._in_window + cost > self.rate + 1e-9:
                # Made-up time must not crowd a second: wait until the oldest grant of the window leaves it.
                await asyncio.sleep(min(max(window[0][0] + 1.0 - now, 0.001), self.RECHECK_S))
                continue
            queue.popleft()
            self._queued -= cost
            # This slot was due at `due` (late by now - due): the next is due cost/rate after that, so a late
            # wake-up is made up, up to CATCHUP_S.
            self._last, self._last_cost = (due if now - due <= self.CATCHUP_S else now), cost
            window.append((now, cost))
            self._in_window += cost
            fut.set_result(now)


def backoff(attempt: int, base: float, cap: float, retry_after: float | None = None, rng=random) -> float:
    """Seconds to wait before retry number `attempt` (1-based): exponential with jitter, at least retry_after."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    jittered = delay * rng.uniform(0.5, 1.0) + delay * 0.5 * rng.random()
    return max(retry_after or 0.0, min(cap, jittered))
