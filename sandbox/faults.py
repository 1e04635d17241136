"""Runtime-configurable faults for the sandbox, drawn from one seeded generator so drills repeat."""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

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
    """What can go wrong; shares are probabilities in [0, 1]."""

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
    seed: int = 0


class FaultPlan:
    """The current faults plus the seeded generator and rate limiter that apply them."""

    def __init__(self, seed: int = 0, **faults: Any) -> None:
        self.faults = Faults(seed=seed)
        self._rng = random.Random(seed)
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
        self.faults = Faults(**merged)
        if "seed" in changes:
            self._rng = random.Random(self.faults.seed)
        if "rate_limit" in changes:
            self._tokens, self._stamp = float(self.faults.rate_limit or 0), time.monotonic()
        return self.faults

    def reset(self, seed: int | None = None) -> None:
        """Back to no faults, generator reseeded."""
        self.faults = Faults(seed=self.faults.seed if seed is None else seed)
        self._rng = random.Random(self.faults.seed)

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
