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

    Slots are spaced by cost/rate, so no one-second window ever holds more than `rate` units; bulk callers
    wait while any priority caller is waiting. The spacing after a grant is computed from the rate at the time
    of the next grant, not fixed when the slot was given: the rate changes (a worker's share of a sender's
    limit follows its partitions), and a slot given at a near-zero share during a rebalance must not hold up
    every later send for minutes once the share is back.
    """

    # A rate change is noticed within this long by a caller already waiting.
    RECHECK_S = 0.5

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._last = float("-inf")
        self._last_cost = 0.0
        self._queues: dict[bool, deque] = {True: deque(), False: deque()}
        self._runner: asyncio.Task | None = None

    async def acquire(self, cost: float = 1.0, priority: bool = False) -> None:
        """Wait for a slot for a send costing `cost` units."""
        fut = asyncio.get_running_loop().create_future()
        self._queues[priority].append((cost, fut))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._grant())
        await fut

    def abandon(self) -> int:
        """Fail every waiting caller with Abandoned (nothing is granted to them); how many there were."""
        count = 0
        for queue in self._queues.values():
            while queue:
                _, fut = queue.popleft()
                if not fut.done():
                    fut.set_exception(Abandoned())
                    count += 1
        return count

    async def _grant(self) -> None:
        while self._queues[True] or self._queues[False]:
            wait = self._last + self._last_cost / self.rate - time.monotonic()
            if wait > 0:
                await asyncio.sleep(min(wait, self.RECHECK_S))
                continue
            queue = self._queues[True] if self._queues[True] else self._queues[False]
            if not queue:
                continue
            cost, fut = queue.popleft()
            if fut.done():
                continue
            # The next grant is cost/rate after this one (a late wake-up is never made up for by a burst).
            self._last, self._last_cost = time.monotonic(), cost
            fut.set_result(None)


def backoff(attempt: int, base: float, cap: float, retry_after: float | None = None, rng=random) -> float:
    """Seconds to wait before retry number `attempt` (1-based): exponential with jitter, at least retry_after."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    jittered = delay * rng.uniform(0.5, 1.0) + delay * 0.5 * rng.random()
    return max(retry_after or 0.0, min(cap, jittered))
