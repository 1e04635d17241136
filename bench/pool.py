"""Sender pools for the fan-out benchmarks: one list of senders, configured identically on the worker
(SOLIDARITY_TWILIO__SENDERS) and on the sandbox (faults `senders`), and every SMS attributed to its sender.

    env, faults = FAST.worker_env(), FAST.faults()     # worker settings, sandbox faults
    sms = pool_sms(sandbox, base)                      # each with "sender": the From number or Messaging Service
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sandbox.limits import SENDER_TYPES
from sandbox.twilio_api import DEFAULT_FROM
from testing.sandbox import Sandbox


@dataclass(frozen=True)
class PoolSender:
    """One sender: its number, type and, when it is not its type's default, its limit in segments/s."""

    number: str
    kind: str
    rate: float | None = None

    @property
    def limit(self) -> float:
        """Segments per second, as the sandbox enforces it."""
        return self.rate or SENDER_TYPES[self.kind]

    def worker(self) -> dict:
        """This sender as an entry of SOLIDARITY_TWILIO__SENDERS."""
        return {"from_number": self.number, "type": self.kind,
                **({"segments_per_second": self.rate} if self.rate else {})}

    def sandbox(self) -> dict:
        """This sender as an entry of the sandbox's `senders` fault."""
        return {"type": self.kind, **({"segments_per_second": self.rate} if self.rate else {})}


@dataclass(frozen=True)
class Pool:
    """Senders the worker sends from and the sandbox enforces the limits of."""

    senders: tuple[PoolSender, ...]

    @property
    def limit(self) -> float:
        """The pool's ceiling: the sum of its senders' limits, in segments/s."""
        return sum(s.limit for s in self.senders)

    def worker_env(self) -> dict:
        """The worker's settings for this pool.

        The single-sender rate is set to the pool's sum too: a worker without pools then paces its one number at
        the same total (and the per-sender table shows its SMS as coming from outside the pool).
        """
        return {"SOLIDARITY_TWILIO__SENDERS": json.dumps([s.worker() for s in self.senders]),
                "SOLIDARITY_DELIVERY__SMS_SEGMENTS_PER_SECOND": str(self.limit)}

    def faults(self) -> dict:
        """The sandbox's `senders` fault for this pool (each sender's queue at its limit)."""
        return {"senders": {s.number: s.sandbox() for s in self.senders}}

    def describe(self) -> str:
        """E.g. '10 short_code x 100 = 1,000 seg/s'."""
        groups: dict[tuple[str, float], int] = {}
        for s in self.senders:
            groups[(s.kind, s.limit)] = groups.get((s.kind, s.limit), 0) + 1
        parts = [f"{n} {kind} x {limit:g}" if n > 1 else f"{kind} {limit:g}" for (kind, limit), n in groups.items()]
        return f"{' + '.join(parts)} = {self.limit:,.0f} seg/s"


# Enough for a 20x result over the naive loop: 10 short codes at their default 100 segments/s.
FAST = Pool(tuple(PoolSender(f"+1500555{n:04d}", "short_code") for n in range(100, 110)))
# Three types with different limits, the toll-free number and the long code overriding their defaults.
MIXED = Pool((PoolSender("+15005550010", "short_code"), PoolSender("+15005550011", "toll_free", 30.0),
              PoolSender("+15005550012", "long_code", 10.0)))


def sender_of(message: dict) -> str:
    """The sender a Twilio Message JSON was queued on: its From number, or its Messaging Service when it was sent
    with a service only (the sandbox then fills in its default From)."""
    service = message.get("messaging_service_sid")
    return service if service and message.get("from") == DEFAULT_FROM else message.get("from")


def pool_sms(sandbox: Sandbox, start: int = 0) -> list[dict]:
    """Outbound API SMS from store record `start` on, from any sender: to, exact creation time (the probe's), body,
    status, segments and sender (from GET /sandbox/messages, which lists the same records in the same order)."""
    items = sandbox.probe.request("GET", f"/probe/sms?start={start}", timeout=120)[1]["items"]
    listed = sandbox.http.request("GET", "/sandbox/messages", timeout=120)[1][start:]
    out = []
    for item, message in zip(items, listed):
        if item[0] != message["to"]:
            raise AssertionError("the probe and /sandbox/messages disagree on the order of the store")
        if item[4] == "outbound-api":
            out.append({"to": item[0], "t": item[2], "body": item[3], "status": item[5], "segments": item[6],
                        "sender": sender_of(message)})
    return out


def sandbox_senders(sandbox: Sandbox) -> dict:
    """GET /sandbox/senders: each sender's rate, backlog, sent segments and overflows."""
    return sandbox.http.request("GET", "/sandbox/senders")[1]
