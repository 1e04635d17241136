"""Per-sender queues: each From number or Messaging Service SID sends its accepted messages at its segment rate.

Twilio queues every accepted message on its sender and lets it leave when the sender's earlier segments have
gone: a long code at 1 segment/s sends a two-segment message in two slots. A message that would make the queue
hold more than `queue_seconds` of sending fails with 30001 instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sandbox.limits import SenderClass

# Float slack, so a queue filled exactly to its limit is not an overflow.
_EPSILON = 1e-9


@dataclass
class SenderQueue:
    """One sender: its class, when it is idle again (monotonic clock), and the messages still waiting."""

    kind: str
    segments_per_second: float
    queue_seconds: float
    free_at: float = 0.0
    waiting: dict[str, int] = field(default_factory=dict)
    sent_segments: int = 0
    overflowed: int = 0

    def backlog(self, now: float) -> float:
        """Seconds until the sender is idle."""
        return max(0.0, self.free_at - now)

    def to_json(self, now: float) -> dict[str, object]:
        """What GET /sandbox/senders shows for this sender."""
        backlog = self.backlog(now)
        return {
            "type": self.kind, "segments_per_second": self.segments_per_second,
            "queue_limit_segments": self.queue_seconds * self.segments_per_second,
            "queued_messages": len(self.waiting), "queued_segments": sum(self.waiting.values()),
            "backlog_segments": round(backlog * self.segments_per_second, 3),
            "empty_in_seconds": round(backlog, 6),
            "empty_at": time.time() + backlog if backlog else None,
            "sent_segments": self.sent_segments, "overflowed": self.overflowed,
        }


class SenderQueues:
    """The queues of every rate-limited sender the sandbox has seen."""

    def __init__(self) -> None:
        self.queues: dict[str, SenderQueue] = {}

    def place(self, key: str, sid: str, segments: int, sender: SenderClass, queue_seconds: float) -> float | None:
        """Queue message `sid` on sender `key`: the monotonic time it leaves, or None if the queue overflows."""
        now = time.monotonic()
        queue = self.queues.setdefault(key, SenderQueue(sender.kind, sender.segments_per_second, queue_seconds))
        # Settings may have changed since the sender was first seen; what is already queued keeps its times.
        rate = sender.segments_per_second
        queue.kind, queue.segments_per_second, queue.queue_seconds = sender.kind, rate, queue_seconds
        backlog = queue.backlog(now)
        if backlog * rate + segments > queue_seconds * rate + _EPSILON:
            queue.overflowed += 1
            return None
        leaves = now + backlog
        queue.free_at = leaves + segments / rate
        queue.waiting[sid] = segments
        return leaves

    def left(self, key: str, sid: str) -> None:
        """Message `sid` has left sender `key`."""
        queue = self.queues.get(key)
        if queue is not None and sid in queue.waiting:
            queue.sent_segments += queue.waiting.pop(sid)

    def clear(self) -> None:
        """Forget every queue."""
        self.queues.clear()

    def report(self, configured: dict[str, SenderClass | None], default: SenderClass | None,
               queue_seconds: float) -> dict[str, object]:
        """GET /sandbox/senders: each sender seen or configured (rate, queue, when it is empty) and the pool's sums."""
        now = time.monotonic()
        queues = dict(self.queues)
        for key, sender in configured.items():
            if key not in queues and sender is not None:
                queues[key] = SenderQueue(sender.kind, sender.segments_per_second, queue_seconds)
        # The pool's ceiling is the sum of its senders' rates; it is empty when its slowest queue is.
        backlog = max((q.backlog(now) for q in queues.values()), default=0.0)
        return {
            "default": {"type": default.kind, "segments_per_second": default.segments_per_second} if default else None,
            "queue_seconds": queue_seconds,
            "segments_per_second": sum(q.segments_per_second for q in queues.values()),
            "empty_at": time.time() + backlog if backlog else None,
            "senders": {key: q.to_json(now) for key, q in queues.items()},
        }
