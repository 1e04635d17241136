"""Escalation lateness: how late escalation steps reach the on-call's phones, idle and during a fan-out.

A policy pages the primary on call at once and again after DELAY and 2 x DELAY (three firings, no repeat). For
each critical report and on-call phone the k-th SMS naming its reference is firing k; its lateness is its
arrival time at the sandbox minus (the case's opening + k x DELAY). Measured at the receiving end, so it includes
the timer's tick, the page's trip through the worker and the sandbox's answer. The ceiling is the same
measurement with the worker idle, in the same run; the loaded runs happen while a call to action to every member
(`members`) is being delivered as fast as the sandbox takes it.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from bench.common import console, ensure_broker, median, percentile, save, show
from bench.world import approve, load_world
from testing.samples import report
from testing.stack import wait_for

DELAY = 5.0
FIRINGS = 3
POLICY = f"""policies:
  - id: critical
    name: Bench
    match: {{urgency: [critical]}}
    steps:
      - {{targets: [{{schedule: primary}}], channels: [sms], delay: {int(DELAY)}s}}
      - {{targets: [{{schedule: primary}}], channels: [sms], delay: {int(DELAY)}s}}
      - {{targets: [{{schedule: primary}}], channels: [sms], delay: {int(DELAY)}s}}
  - id: high
    name: Bench
    match: {{urgency: [high]}}
    steps:
      - {{targets: [{{schedule: primary}}], channels: [sms], delay: 1h}}
"""


def measure(stack, sandbox, tokens, phones: set[str], cases: int) -> dict:
    """`cases` critical reports, 0.2 s apart; lateness (ms) of firings 1 and 2 at every on-call phone."""
    base = sandbox.counts()["sms"]
    opened: dict[str, float] = {}
    for _ in range(cases):
        body = report(incident_type="enforced_disappearance", country="gt",
                      defenders=[{"name": f"Defensora {uuid.uuid4().hex[:10]}", "gender": "woman"}])
        status, receipt = stack.http.request("POST", "/api/v1/reports", body, token=tokens["reporter"])
        if status == 202:
            opened[receipt["reference"]] = receipt["case_id"]
        time.sleep(0.2)
    want = len(opened) * len(phones) * FIRINGS

    def arrivals() -> dict:
        got: dict[tuple[str, str], list[float]] = defaultdict(list)
        for m in sandbox.sms(base):
            ref = next((r for r in opened if r in m["body"]), None) if m["to"] in phones else None
            if ref:
                got[(ref, m["to"])].append(m["t"])
        return got

    got = wait_for(lambda: a if sum(map(len, (a := arrivals()).values())) >= want else None,
                   DELAY * FIRINGS + 120, 0.5, "every firing at every on-call phone")
    time.sleep(DELAY)  # a firing too many would land now
    got = arrivals()
    starts, start_lag = {}, []
    for ref, case_id in opened.items():
        case = stack.http.request("GET", f"/api/v1/cases/{case_id}", token=tokens["secretariat"])[1]
        starts[ref] = _epoch(case["opened_at"])
        # When the escalator started the escalation (its first `paged` event): how long the case file took to
        # see the report, which is where a step's lateness comes from when the consumer is busy.
        first = next((e for e in case["history"] if e["kind"] == "paged"), None)
        if first is not None:
            start_lag.append(1000 * (_epoch(first["at"]) - starts[ref]))
    late = [1000 * (times[k] - (starts[ref] + k * DELAY))
            for (ref, _), times in got.items() for k in range(1, min(FIRINGS, len(times)))]
    extra = sum(max(0, len(t) - FIRINGS) for t in got.values())
    missing = want - sum(min(FIRINGS, len(t)) for t in got.values())
    return {"cases": len(opened), "samples": len(late), "missing": missing, "extra": extra,
            "p50_ms": percentile(late, 50), "p99_ms": percentile(late, 99), "max_ms": max(late),
            "start_lag_p50_ms": percentile(start_lag, 50), "start_lag_p99_ms": percentile(start_lag, 99)}


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def main(cases: int = 20, members: int = 10_000, runs: int = 3) -> dict:
    """Idle and under-fan-out lateness, `runs` times each in one world; print and save."""
    ensure_broker()
    results: dict[str, list[dict]] = {"idle": [], "fan_out": []}
    with tempfile.TemporaryDirectory(prefix="bench-escalation-") as tmp:
        policy = Path(tmp) / "escalation.yaml"
        policy.write_text(POLICY)
        stack, sandbox, tokens, rows = load_world(Path(tmp) / "w", members, rate=1_000_000.0, extra_env={
            "SOLIDARITY_ESCALATION__POLICIES_FILE": str(policy)}, oncall=3)
        try:
            phones = {r["phone"] for r in rows if r["roles"] == "secretariat_oncall"}
            for i in range(runs):
                idle = measure(stack, sandbox, tokens, phones, cases)
                results["idle"].append(idle)
                approve(stack, tokens, ["sms", "email"], "ph")  # 2 x members notifications start leaving now
                time.sleep(1.0)
                loaded = measure(stack, sandbox, tokens, phones, cases)
                results["fan_out"].append(loaded)
                console.print(f"run {i + 1}: idle p99 {idle['p99_ms']:.0f} ms, during fan-out p99 "
                              f"{loaded['p99_ms']:.0f} ms (missing {loaded['missing']}, extra {loaded['extra']})")
                wait_for(quiet(sandbox), 600, 2.0, "the fan-out to finish")
        finally:
            stack.stop()
            sandbox.stop()
    table, summary = [], {}
    for level, rs in results.items():
        for i, r in enumerate(rs):
            table.append([f"{level} run {i + 1}", r["samples"], r["missing"], r["extra"], r["p50_ms"], r["p99_ms"],
                          r["max_ms"], r["start_lag_p99_ms"]])
        summary[level] = {k: median([r[k] for r in rs]) for k in ("p50_ms", "p99_ms", "max_ms", "missing", "extra",
                                                                  "start_lag_p50_ms", "start_lag_p99_ms")}
    summary["ratio_p99_fan_out_to_idle"] = (summary["fan_out"]["p99_ms"] / summary["idle"]["p99_ms"]
                                            if summary["idle"]["p99_ms"] else None)
    show(f"Escalation step lateness at the on-call's phones (steps {DELAY:.0f} s apart; fan-out to {members:,} "
         "members x 2 channels in the loaded runs)", ["run", "samples", "missing", "extra", "p50 ms", "p99 ms", "max ms",
                                  "start lag p99 ms"],
         table)
    save("escalation", {"params": {"cases": cases, "members": members, "runs": runs, "delay_s": DELAY,
                                   "firings": FIRINGS}, "summary": summary, "runs": results})
    return summary


def quiet(sandbox):
    """A predicate that is true once the sandbox's SMS count has not moved since the last poll (the fan-out is over)."""
    last: list[int] = []

    def check() -> bool:
        n = sandbox.counts()["sms"]
        still = bool(last) and last[-1] == n
        last.append(n)
        return still

    return check
