"""Provider limits the sandbox imposes like Twilio: API latency, a cap on requests in flight, and sender types.

All off by default: no latency, no cap, and senders without a type are unlimited (the sandbox's old behaviour).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from sandbox.errors import twilio_error

if TYPE_CHECKING:
    from sandbox.faults import FaultPlan

# Twilio's documented default throughput, in segments per second: a long code sends 1 (some US 10DLC campaigns
# get 10: set `type_rates`), a toll-free number 3, a short code 100.
SENDER_TYPES = {"long_code": 1.0, "toll_free": 3.0, "short_code": 100.0}
# Twilio fails a message that would wait longer than the queue window (error 30001); its docs give 4 hours.
QUEUE_SECONDS = 4 * 3600.0
MAX_LATENCY_MS = 60_000.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class SenderClass:
    """A sender's type and how many segments per second it sends."""

    kind: str
    segments_per_second: float


def _positive(value: Any, name: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError(f"{name} must be positive")
    return number


def _kind(value: Any, name: str) -> str:
    if value not in SENDER_TYPES:
        raise ValueError(f"{name} must be one of {sorted(SENDER_TYPES)}")
    return str(value)


def _sender(key: str, spec: Any) -> dict[str, Any]:
    # "+1555...": "short_code" is shorthand for {"type": "short_code"}.
    spec = {"type": spec} if isinstance(spec, str) else spec
    if not isinstance(spec, dict) or not spec or set(spec) - {"type", "segments_per_second"}:
        raise ValueError(f"senders[{key!r}] must be {{'type': ..., 'segments_per_second': ...}} (either or both)")
    result: dict[str, Any] = {}
    if spec.get("type") is not None:
        result["type"] = _kind(spec["type"], f"senders[{key!r}].type")
    if spec.get("segments_per_second") is not None:
        result["segments_per_second"] = _positive(spec["segments_per_second"], f"senders[{key!r}].segments_per_second")
    return result


def check_limits(merged: dict[str, Any]) -> None:
    """Validate and normalise the provider-limit settings of a merged fault update; raises ValueError."""
    for name in ("api_latency_ms", "api_jitter_ms"):
        merged[name] = min(float(merged[name]), MAX_LATENCY_MS)
        if merged[name] < 0:
            raise ValueError(f"{name} must not be negative")
    cap = merged["max_concurrent_requests"]
    # Like rate_limit, a cap of 0 or less means no cap.
    merged["max_concurrent_requests"] = int(cap) if cap is not None and int(cap) > 0 else None
    if merged["sender_type"] is not None:
        merged["sender_type"] = _kind(merged["sender_type"], "sender_type")
    for name in ("type_rates", "senders"):
        if not isinstance(merged[name], dict):
            raise ValueError(f"{name} must be a JSON object")
    merged["type_rates"] = {_kind(k, "type_rates key"): _positive(v, f"type_rates[{k!r}]")
                            for k, v in merged["type_rates"].items()}
    merged["senders"] = {str(k): _sender(str(k), v) for k, v in merged["senders"].items()}
    merged["queue_seconds"] = _positive(merged["queue_seconds"], "queue_seconds")


def sender_class(senders: dict[str, dict[str, Any]], default_type: str | None, type_rates: dict[str, float],
                 key: str) -> SenderClass | None:
    """The class of sender `key` (a From number or Messaging Service SID); None if it is unlimited."""
    spec = senders.get(key)
    if spec is None and default_type is None:
        return None
    spec = spec or {}
    kind = spec.get("type") or default_type
    rate = spec.get("segments_per_second") or {**SENDER_TYPES, **type_rates}[kind or "long_code"]
    return SenderClass(kind or "custom", rate)


class RequestGate:
    """Admits Messages API requests like Twilio: 20429 above the concurrency cap, the rest after the latency."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.in_flight = 0
        self.refused = 0

    def __call__(self, handler: Handler) -> Handler:
        """`handler`, gated."""

        async def gated(request: web.Request) -> web.StreamResponse:
            cap = self.plan.faults.max_concurrent_requests
            # Twilio refuses a request over its concurrency limit at once and never processes it.
            if cap is not None and self.in_flight >= cap:
                self.refused += 1
                return twilio_error(20429)
            self.in_flight += 1
            try:
                delay = self.plan.api_latency()
                if delay > 0:
                    await asyncio.sleep(delay)
                return await handler(request)
            finally:
                self.in_flight -= 1

        return gated
