"""The world most benchmarks and drills start from: a worker and the sandbox with generated members imported, a
call to action approved on a fresh verified case, and the rates and windows of what the sandbox received."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from bench.common import median, verified_case, world
from bench.members import TAIL_GROUP, member_rows, tail_count, write_csv
from testing.samples import named, unique_name
from testing.sandbox import Sandbox
from testing.stack import wait_for


def load_world(tmp: Path, members: int, rate: float, extra_env: dict | None = None, oncall: int = 0,
               faults: dict | None = None):
    """A worker + sandbox (with `faults`) with `members` generated members (and `oncall` on-call contacts)
    imported; (stack, sandbox, tokens, rows)."""
    stack, sandbox = world(tmp, rate=rate, faults=faults, extra_env=extra_env)
    try:
        tokens = {"reporter": stack.token("reporter"), "secretariat": stack.token("secretariat")}
        rows = member_rows(members, oncall=oncall)
        csv_path = write_csv(rows, tmp / "members.csv")
        want = tail_count(rows)
        t0 = time.monotonic()
        stack.cli("members", "import", str(csv_path))
        wait_for(lambda: stack.http.request("GET", f"/api/v1/members?working_group={TAIL_GROUP}",
                                            token=tokens["secretariat"])[1].get("count") == want,
                 max(120, members / 100), 1.0, f"{members} members in the worker")
        tokens["import_s"] = time.monotonic() - t0
    except BaseException:
        stack.stop()
        sandbox.stop()
        raise
    return stack, sandbox, tokens, rows


def approve(stack, tokens, channels: list[str], country: str, audience: dict | None = None) -> tuple[str, str, float]:
    """A verified case and a call to action on it (to `audience`, all members by default); (action_id, reference,
    time of the approval request)."""
    # A defender no other run names: the report opens its own case instead of joining an earlier one.
    receipt = verified_case(stack, tokens, named(unique_name(), incident_type="land_grab", country=country))
    sent = time.time()
    status, body = stack.http.request("POST", f"/api/v1/cases/{receipt['case_id']}/actions",
                                      {"kind": "solidarity_message", "channels": channels,
                                       **({"audience": audience} if audience else {})},
                                      token=tokens["secretariat"])
    assert status == 202, body
    return body["action_id"], receipt["reference"], sent


def wait_handed(sandbox: Sandbox, base: dict, sms: int, mail: int, timeout: float) -> dict:
    """Poll the sandbox until it holds `sms` more SMS and `mail` more mails than `base`; the last counts."""
    deadline = time.monotonic() + timeout
    counts = sandbox.counts()
    while time.monotonic() < deadline:
        counts = sandbox.counts()
        if counts["sms"] - base["sms"] >= sms and counts["mail"] - base["mail"] >= mail:
            break
        time.sleep(0.5)
    time.sleep(1.0)  # anything beyond the expected count (a duplicate) lands too
    return sandbox.counts()


def rate_stats(times: list[float], start: float) -> dict:
    """Totals and rates of hand-over times (epoch seconds) measured from `start`."""
    if not times:
        return {"count": 0, "first_s": None, "total_s": None, "per_s": None, "steady_per_s": None}
    times = sorted(times)
    n = len(times)
    lo, hi = times[int(n * 0.1)], times[int(n * 0.9) - 1]
    return {"count": n, "first_s": times[0] - start, "total_s": times[-1] - start,
            "per_s": n / (times[-1] - start),
            "steady_per_s": (int(n * 0.9) - int(n * 0.1)) / (hi - lo) if hi > lo else None}


def windows(events: list[tuple[float, int]], limit: float) -> dict:
    """Per-second windows of (time, segments): aligned windows over the run, and the busiest sliding second.

    A sender paced at `limit` starts a message only when the ones before it have had their time, so a window can
    end with a message whose segments' time runs into the next window: `above_limit` counts every window over the
    limit, `above_limit_beyond_one_message` only those still over it without their last message. `queue_wait_s`
    is the longest any message would have waited on a Twilio-like queue sending at `limit` (a sender fed faster
    than its limit makes it grow; one paced at it keeps it under one message's time).
    """
    events = sorted(events)
    if not events:
        return {}
    t0 = events[0][0]
    buckets, last = Counter(), {}
    for t, seg in events:
        buckets[int(t - t0)] += seg
        last[int(t - t0)] = seg
    span = range(0, int(events[-1][0] - t0))  # complete windows only
    full = [buckets[i] for i in span]
    sliding, j, acc = 0, 0, 0
    for t, seg in events:
        acc += seg
        while events[j][0] <= t - 1.0:
            acc -= events[j][1]
            j += 1
        sliding = max(sliding, acc)
    free, waited = 0.0, 0.0
    for t, seg in events:
        starts = max(free, t)
        waited, free = max(waited, starts - t), starts + seg / limit
    return {"windows": len(full), "median_per_window": median(full), "min_per_window": min(full) if full else None,
            "max_per_window": max(full) if full else None, "above_limit": sum(1 for w in full if w > limit),
            "above_limit_beyond_one_message": sum(1 for i in span if buckets[i] - last.get(i, 0) > limit),
            "utilisation": (sum(full) / len(full) / limit) if full else None, "max_sliding_1s": sliding,
            "sliding_above_limit": sliding > limit, "queue_wait_s": waited}
