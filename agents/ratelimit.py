"""Flood control: token buckets keyed by who is asking (a reporter token id, a client address).

Pure logic with an injectable clock: no I/O, no faust. Each key may spend `burst` units at once; its bucket then
refills at `per_second`. A refused request spends nothing, so a client that keeps hammering while refused is
not locked out for longer than one that waits.
"""

from __future__ import annotations

import ipaddress
import math
import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Token buckets per key: up to `burst` at once, refilled at `per_second` units a second."""

    def __init__(self, per_second: float, burst: float, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("a rate limit needs per_second > 0 and burst >= 1")
        self.per_second, self.burst, self.clock, self.max_keys = per_second, float(burst), clock, max_keys
        self._buckets: dict[str, _Bucket] = {}

    @classmethod
    def per_window(cls, allowed: int, window_seconds: float, clock: Callable[[], float] = time.monotonic,
                   max_keys: int = 100_000) -> "RateLimiter":
        """`allowed` units per `window_seconds`, all of which may be spent at once."""
        return cls(allowed / window_seconds, allowed, clock, max_keys)

    def take(self, key: str, cost: float = 1.0) -> float:
        """Spend `cost` from key's bucket and return 0.0; if it lacks them, spend nothing and return the wait."""
        now = self.clock()
        bucket = self._refilled(key, now)
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.per_second

    def remaining(self, key: str) -> float:
        """Units key may spend right now."""
        bucket = self._buckets.get(key)
        return self.burst if bucket is None else min(self.burst, bucket.tokens + self._gain(bucket, self.clock()))

    def __len__(self) -> int:
        return len(self._buckets)

    def _gain(self, bucket: _Bucket, now: float) -> float:
        return max(0.0, now - bucket.at) * self.per_second

    def _refilled(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
            return bucket
        bucket.tokens, bucket.at = min(self.burst, bucket.tokens + self._gain(bucket, now)), now
        return bucket

    def _prune(self, now: float) -> None:
        # A full bucket is the same as no bucket: forgetting it changes nobody's limit. Only if every key is
        # mid-flood (many addresses at once) are the fullest ones forgotten, the least generous choice.
        full = [k for k, b in self._buckets.items() if b.tokens + self._gain(b, now) >= self.burst]
        for key in full:
            del self._buckets[key]
        excess = len(self._buckets) - self.max_keys * 9 // 10
        if excess > 0:
            fullest = sorted(self._buckets, key=lambda k: -(self._buckets[k].tokens + self._gain(self._buckets[k], now)))
            for key in fullest[:excess]:
                del self._buckets[key]


def retry_after_seconds(wait: float) -> int:
    """A wait as the whole seconds of an HTTP Retry-After header: rounded up, at least 1."""
    return max(1, math.ceil(wait))


def address_key(remote: str | None) -> str:
    """The key a per-address limit applies to: an IPv6 client by its /64, the prefix one subscriber is given."""
    try:
        ip = ipaddress.ip_address((remote or "").split("%")[0])
    except ValueError:
        return remote or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
