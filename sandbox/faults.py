"""Runtime-configurable faults for the sandbox, drawn from one seeded generator so drills repeat."""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sandbox.limits import QUEUE_SECONDS, SenderClass, check_limits, sender_class

# Twilio's documented magic "To" numbers for test credentials, and the error each one triggers.
MAGIC_NUMBERS = {
    "+15005550001": 21211,
    "+15005550002": 21612,
    "+15005550003": 21408,
    "+15005550004": 21610,
    "+15005550009": 21614,
}
MAX_HANG_SECONDS = 120.0


@dataclass
class Faults:
    """What can go wrong, and the provider's limits; shares are probabilities in [0, 1]. All off by default."""

    error_rate: float = 0.0
    throttle_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 15.0
    timeout_accepts: bool = False
    undelivered_rate: float = 0.0
    permanent: dict[str, int] = field(default_factory=dict)
    rate_limit: float | None = None
    smtp_451: list[str] = field(default_factory=list)
    smtp_550: list[str] = field(default_factory=list)
    # Provider limits (sandbox/limits.py): each request waits api_latency_ms plus up to api_jitter_ms; requests
    # beyond max_concurrent_requests in flight get 20429; a sender listed in `senders` (or any sender, once
    # sender_type is set) sends at its type's segment rate and fails what overflows queue_seconds with 30001.
    api_latency_ms: float = 0.0
    api_jitter_ms: float = 0.0
    max_concurrent_requests: int | None = None
    sender_type: str | None = None
    type_rates: dict[str, float] = field(default_factory=dict)
    senders: dict[str, dict[str, Any]] = field(default_factory=dict)
    queue_seconds: float = QUEUE_SECONDS
    seed: int = 0


class FaultPlan:
    """The current faults plus the seeded generator and rate limiter that apply them."""

    def __init__(self, seed: int = 0, **faults: Any) -> None:
        self.faults = Faults(seed=seed)
        self._rng = random.Random(seed)
        self._latency_rng = _latency_rng(seed)
        self._tokens = 0.0
        self._stamp = time.monotonic()
        self.update(faults)

    def update(self, changes: dict[str, Any]) -> Faults:
        """Apply a partial update; a `seed` restarts the generator. Raises ValueError on bad input."""
        known = {f.name for f in fields(Faults)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        merged = {**asdict(self.faults), **changes}
        for name in ("error_rate", "throttle_rate", "timeout_rate", "undelivered_rate"):
            merged[name] = float(merged[name])
            if not 0.0 <= merged[name] <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if merged["error_rate"] + merged["throttle_rate"] + merged["timeout_rate"] > 1.0:
            raise ValueError("error_rate + throttle_rate + timeout_rate must not exceed 1")
        merged["timeout_seconds"] = min(max(float(merged["timeout_seconds"]), 0.0), MAX_HANG_SECONDS)
        merged["permanent"] = {str(k): int(v) for k, v in merged["permanent"].items()}
        if merged["rate_limit"] is not None and float(merged["rate_limit"]) <= 0:
            merged["rate_limit"] = None
        check_limits(merged)
        self.faults = Faults(**merged)
        if "seed" in changes:
            self._rng = random.Random(self.faults.seed)
            self._latency_rng = _latency_rng(self.faults.seed)
        if "rate_limit" in changes:
            self._tokens, self._stamp = float(self.faults.rate_limit or 0), time.monotonic()
        return self.faults

    def reset(self, seed: int | None = None) -> None:
        """Back to no faults, generator reseeded."""
        self.faults = Faults(seed=self.faults.seed if seed is None else seed)
        self._rng = random.Random(self.faults.seed)
        self._latency_rng = _latency_rng(self.faults.seed)

    def permanent_error(self, to: str) -> int | None:
        """The Twilio error code this number always gets, if any."""
        return self.faults.permanent.get(to) or MAGIC_NUMBERS.get(to)

    def _take_token(self) -> bool:
        rate = self.faults.rate_limit
        if rate is None:
            return True
        now = time.monotonic()
        # Token bucket holding at most one second of sends.
        self._tokens = min(rate, self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def transient(self) -> str | None:
        """Draw the fate of one API request: 'timeout', 'throttle', 'error' or None (accepted)."""
        if not self._take_token():
            return "throttle"
        f, draw = self.faults, self._rng.random()
        for outcome, share in (("timeout", f.timeout_rate), ("throttle", f.throttle_rate), ("error", f.error_rate)):
            if draw < share:
                return outcome
            draw -= share
        return None

    def api_latency(self) -> float:
        """Seconds the next API request waits before it is answered (0 unless latency is set)."""
        f = self.faults
        jitter = self._latency_rng.uniform(0.0, f.api_jitter_ms) if f.api_jitter_ms else 0.0
        return (f.api_latency_ms + jitter) / 1000.0

    def sender_class(self, key: str) -> SenderClass | None:
        """The type and segment rate of a From number or Messaging Service SID; None if it is unlimited."""
        f = self.faults
        return sender_class(f.senders, f.sender_type, f.type_rates, key)

    def default_sender(self) -> SenderClass | None:
        """The class of senders not listed in `senders`; None while they are unlimited."""
        f = self.faults
        return sender_class({}, f.sender_type, f.type_rates, "") if f.sender_type else None

    def undelivered(self) -> bool:
        """Draw whether an accepted message ends undelivered."""
        return self._rng.random() < self.faults.undelivered_rate

    def smtp_reply(self, address: str) -> str | None:
        """An SMTP refusal for this recipient, if one is configured."""
        if address in self.faults.smtp_550:
            return "550 5.1.1 Mailbox unavailable"
        if address in self.faults.smtp_451:
            return "451 4.3.0 Temporary local problem, try again later"
        return None


def _latency_rng(seed: int) -> random.Random:
    # Its own generator, so turning latency on does not change which requests the seeded faults hit.
    return random.Random(f"latency:{seed}")
