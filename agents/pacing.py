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
    wait while any priority caller is waiting.
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self._next = 0.0
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
            wait = self._next - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            queue = self._queues[True] if self._queues[True] else self._queues[False]
            if not queue:
                continue
            cost, fut = queue.popleft()
            if fut.done():
                continue
            self._next = max(self._next, time.monotonic()) + cost / self.rate
            fut.set_result(None)


def backoff(attempt: int, base: float, cap: float, retry_after: float | None = None, rng=random) -> float:
    """Seconds to wait before retry number `attempt` (1-based): exponential with jitter, at least retry_after."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    jittered = delay * rng.uniform(0.5, 1.0) + delay * 0.5 * rng.random()
    return max(retry_after or 0.0, min(cap, jittered))
