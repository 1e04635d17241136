"""Memory: the worker's peak RSS (VmHWM) with N members loaded and a call to action fanned out to all of them
(target <= 300 MiB with 100,000 members), and its RSS once the action has finished."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import console, ensure_broker, save, show
from bench.drills import action_counts
from bench.figures import Figure, figures_json, show_figures
from bench.world import approve, load_world

BUDGET_S = 600.0
PEAK_MIB = 300.0  # target: peak RSS with 100,000 members and a fan-out to all


def vm(pid: int) -> dict:
    """VmRSS and VmHWM of a process, in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS", "VmHWM")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def main(members: int = 100_000, budget_s: float = BUDGET_S) -> dict:
    """Load `members`, fan an SMS + email action out to all; sample VmHWM until it settles or the budget ends."""
    ensure_broker()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        stack, sandbox, tokens, _ = load_world(Path(tmp), members, rate=1_000_000.0)
        try:
            pid = stack.proc.pid
            idle = vm(pid)
            loaded_s = time.monotonic() - t0
            action_id, _, approved_at = approve(stack, tokens, ["sms", "email"], "ph")
            samples, counts, settled_s = [], {}, None
            deadline = time.monotonic() + budget_s
            while time.monotonic() < deadline:
                time.sleep(5)
                samples.append(vm(pid))
                counts = action_counts(stack, tokens, action_id)
                if counts.get("queued") and counts["delivered"] + counts["failed"] >= counts["queued"]:
                    settled_s = time.time() - approved_at
                    break
            peak = vm(pid)
        finally:
            stack.stop()
            sandbox.stop()
    result = {"members": members, "load_s": loaded_s, "after_load_mib": idle, "peak_hwm_mib": peak["VmHWM"],
              "final_rss_mib": peak["VmRSS"], "counts_at_end": counts,
              "settled_s": settled_s, "rss_samples_mib": [round(v["VmRSS"]) for v in samples],
              "finished": bool(counts.get("queued")) and counts["delivered"] + counts["failed"] >= counts["queued"]}
    show(f"Worker memory, {members:,} members + a call to action to all (SMS + email)", ["measure", "value"],
         [["members load (s)", loaded_s], ["RSS after load (MiB)", idle.get("VmRSS")],
          ["peak RSS, VmHWM (MiB)", peak["VmHWM"]], ["notifications queued", counts.get("queued")],
          ["settled when measured", counts.get("delivered", 0) + counts.get("failed", 0)],
          ["all settled after (s, sampled every 5 s)", settled_s],
          ["fan-out finished within budget", result["finished"]]])
    console.print(f"[dim]budget {budget_s:.0f} s after the members were loaded[/dim]")
    figures = [
        Figure(f"peak worker RSS (VmHWM), {members:,} members + fan-out to all", peak["VmHWM"], "MiB",
               ceiling=idle.get("VmRSS"), ceiling_is="RSS after the members were loaded", target=PEAK_MIB, op="<="),
        Figure("worker RSS when the action had finished" if result["finished"] else
               "worker RSS at the end of the budget (action NOT finished)", peak["VmRSS"], "MiB",
               ceiling=peak["VmHWM"], ceiling_is="peak RSS"),
    ]
    show_figures("Memory figures (one run)", figures)
    result["summary"] = {"peak_hwm_mib": peak["VmHWM"], "final_rss_mib": peak["VmRSS"], "finished": result["finished"],
                         "figures": figures_json(figures)}
    save("memory", result)
    return result
