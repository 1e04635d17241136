"""Fan-outs through a sender pool, the same pool configured on the worker and on the sandbox (bench/pool.py).

- `pooled_runs`: SMS only, with the provider's API latency, through a pool fast enough for 20x the naive loop
  (whose rate is measured against a sandbox with the same latency and senders: bench/naive.py).
- `throttled_run`: SMS only, no latency, three senders of different types and limits: each sender's segments per
  one-second window against its own limit, and the pool's total against the sum of the limits.

Times are the sandbox store's creation times (the probe's microseconds): when the provider accepted each request,
which is what a sender's limit is about. Senders come from GET /sandbox/messages (the `from` field).
"""

from __future__ import annotations

import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from agents.senders import SenderPool
from bench.common import console
from bench.world import approve, load_world, rate_stats, wait_handed, windows
from bench.pool import FAST, MIXED, Pool, pool_sms, sandbox_senders
from streams.settings import TwilioSettings


def latency_faults(latency_ms: float, jitter_ms: float) -> dict:
    """Sandbox faults for a provider across the internet: each Messages request waits latency + U(0, jitter) ms."""
    return {"api_latency_ms": latency_ms, "api_jitter_ms": jitter_ms}


def delivered(sms: list[dict], members: int) -> dict:
    """What the phones got: missing and duplicated SMS, segments, and phones sent from more than one sender."""
    per_phone = Counter(m["to"] for m in sms)
    senders_of = defaultdict(set)
    for m in sms:
        senders_of[m["to"]].add(m["sender"])
    segments = [m["segments"] for m in sms]
    return {"sent": len(sms), "missing": members - len(per_phone), "duplicates": sum(n - 1 for n in per_phone.values()),
            "segments_per_message": dict(Counter(segments)),
            "mean_segments": sum(segments) / len(segments) if segments else None,
            "phones_on_two_senders": sum(1 for s in senders_of.values() if len(s) > 1),
            "by_sender": dict(Counter(m["sender"] for m in sms))}


def pooled_runs(members: int, runs: int, latency_ms: float, jitter_ms: float, pool: Pool = FAST) -> dict:
    """`runs` SMS-only calls to action to the same `members` members in one world, with API latency, via `pool`."""
    faults = {**latency_faults(latency_ms, jitter_ms), **pool.faults()}
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-pooled-") as tmp:
        stack, sandbox, tokens, _ = load_world(Path(tmp), members, rate=pool.limit, extra_env=pool.worker_env(),
                                               faults=faults)
        try:
            for i in range(runs):
                base = sandbox.counts()
                _, ref, t0 = approve(stack, tokens, ["sms"], "ph")
                wait_handed(sandbox, base, members, 0, timeout=max(300, members / 20))
                sms = [m for m in pool_sms(sandbox, base["sms"]) if ref in m["body"]]
                r = {"sms": rate_stats([m["t"] for m in sms], t0), **delivered(sms, members)}
                # The pool's ceiling in messages: its segment limit over the segments these messages had.
                r["pool_limit_sms_per_s"] = pool.limit / r["mean_segments"] if r["mean_segments"] else None
                r["outside_pool"] = sum(n for s, n in r["by_sender"].items()
                                        if s not in {p.number for p in pool.senders})
                results.append(r)
                console.print(f"pooled fan-out {i + 1}: {r['sent']:,} SMS, {r['sms']['per_s'] or 0:,.1f}/s "
                              f"(pool limit {r['pool_limit_sms_per_s'] or 0:,.0f} SMS/s), {r['duplicates']} dupes, "
                              f"{r['missing']} missing")
        finally:
            stack.stop()
            sandbox.stop()
    return {"pool": pool.describe(), "pool_limit_seg_per_s": pool.limit, "faults": faults, "runs": results}


def throttled_run(members: int, pool: Pool = MIXED, sticky_wait: float | None = None) -> dict:
    """SMS only through `pool`, no API latency: each sender's one-second windows against its own limit.

    `sticky_wait` is the worker's `twilio.sticky_wait_seconds`: unset, each phone keeps its own sender; set, a
    message goes from another sender when its own is that many seconds further behind."""
    env = {**pool.worker_env(),
           **({"SOLIDARITY_TWILIO__STICKY_WAIT_SECONDS": str(sticky_wait)} if sticky_wait is not None else {})}
    with tempfile.TemporaryDirectory(prefix="bench-throttled-") as tmp:
        stack, sandbox, tokens, _ = load_world(Path(tmp), members, rate=pool.limit, extra_env=env,
                                               faults=pool.faults())
        try:
            base = sandbox.counts()
            _, ref, t0 = approve(stack, tokens, ["sms"], "ke")
            # Up to 3 segments a message (UCS-2 languages), sent at the pool's rate, with room to spare.
            wait_handed(sandbox, base, members, 0, timeout=members * 3 / pool.limit * 2 + 120)
            sms = [m for m in pool_sms(sandbox, base["sms"]) if ref in m["body"]]
            queues = sandbox_senders(sandbox)
        finally:
            stack.stop()
            sandbox.stop()
    events = defaultdict(list)
    for m in sms:
        events[m["sender"]].append((m["t"], m["segments"]))
    senders = {}
    for s in pool.senders:
        q = queues.get("senders", {}).get(s.number, {})
        senders[s.number] = {"type": s.kind, "limit": s.limit, "messages": len(events[s.number]),
                             "segments": sum(seg for _, seg in events[s.number]), **windows(events[s.number], s.limit),
                             "sandbox_overflowed": q.get("overflowed"), "sandbox_backlog_s": q.get("empty_in_seconds")}
    for key in set(events) - set(senders):
        senders[key] = {"type": "not in the pool", "limit": None, "messages": len(events[key]),
                        "segments": sum(seg for _, seg in events[key])}
    # Each phone's own sender as the worker chose it: its pool built from the same settings.
    own = SenderPool.from_settings(TwilioSettings(senders=[s.worker() for s in pool.senders]), pool.limit)
    moved = {m["to"] for m in sms if m["sender"] != own.own(m["to"]).sender_id}
    return {"members": members, "pool": pool.describe(), "limit": pool.limit, "sticky_wait": sticky_wait,
            "moved_phones": len(moved),
            **delivered(sms, members),
            "sms": rate_stats([m["t"] for m in sms], t0), "senders": senders,
            "total": windows([(m["t"], m["segments"]) for m in sms], pool.limit)}
