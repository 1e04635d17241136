"""Fan-out: calls to action by SMS and email, unthrottled; through sender pools (bench/pooled.py); the naive loop.

`python -m bench fanout` runs, in order:
1. unthrottled, no API latency, SMS + email: notifications/s and the worker's CPU per notification;
2. the naive sequential twilio loop on a sample, against the sandbox with the provider's API latency;
3. Solidarity, SMS only, same latency, through a pool of 10 short codes: its rate over the naive loop's;
4. throttled: three senders of different types, each against its own limit, and the pool against their sum.

Times come from the sandbox's own store (microseconds), read through testing/sandbox_host.py's probe.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from bench.common import PROFILES, CpuMeter, broker_pid, console, ensure_broker, median, profile, save, show
from bench.figures import Figure, figures_json, show_figures
from bench.naive import naive_loop
from bench.pool import FAST, MIXED
from bench.pooled import latency_faults, pooled_runs, throttled_run
from bench.world import approve, load_world, rate_stats, wait_handed
from testing.stack import wait_for

NOTIFICATIONS_PER_S = 2_000.0  # target, unthrottled
WORKER_MS_PER_NOTIFICATION = 0.3  # target, unthrottled
RATIO_TO_NAIVE = 20.0  # target, pooled with API latency
POOL_UTILISATION = 0.95  # target, throttled pool
STICKY_WAIT = 1.0  # twilio.sticky_wait_seconds of the balanced throttled run


def fan_out_runs(members: int, runs: int, profile_seconds: int) -> dict:
    """Unthrottled: `runs` calls to action (SMS + email) to the same `members` members in one world."""
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        stack, sandbox, tokens, rows = load_world(Path(tmp), members, rate=1_000_000.0)
        results = []
        try:
            for i in range(runs):
                base = sandbox.counts()
                prof: dict = {}
                meter = CpuMeter(worker=stack.proc.pid, sandbox=sandbox.proc.pid, broker=broker_pid())
                meter.start()
                action_id, ref, t0 = approve(stack, tokens, ["sms", "email"], "ph")
                if profile_seconds and i == runs - 1:
                    threading.Thread(target=lambda: prof.update(profile(
                        stack.proc.pid, profile_seconds, PROFILES / "fanout-profile.txt")), daemon=True).start()
                wait_handed(sandbox, base, members, members, timeout=max(300, members / 20))
                cpu = meter.stop(time.time() - t0)
                sms = [m for m in sandbox.sms(base["sms"]) if ref in m["body"]]
                mail = [m for m in sandbox.mail(base["mail"]) if ref in m["subject"] + m["text"]]
                per_phone, per_mail = Counter(m["to"] for m in sms), Counter(m["to"] for m in mail)
                r = {"action_id": action_id, "sms": rate_stats([m["t"] for m in sms], t0),
                     "mail": rate_stats([m["t"] for m in mail], t0),
                     "all": rate_stats([m["t"] for m in sms + mail], t0),
                     "sms_missing": members - len(per_phone), "sms_duplicates": sum(n - 1 for n in per_phone.values()),
                     "mail_missing": members - len(per_mail), "mail_duplicates": sum(n - 1 for n in per_mail.values()),
                     # Includes wait_handed's settling second; CPU per notification is what matters.
                     "cpu": {**cpu, "ms_per_notification": {
                         n: (u * 1000 / (len(sms) + len(mail)) if u is not None and sms + mail else None)
                         for n, u in cpu["cpu_s"].items()}}}
                if prof or (profile_seconds and i == runs - 1):
                    wait_for(lambda: prof, profile_seconds + 60, 0.5, "the profile")
                    r["profile"] = prof
                results.append(r)
                console.print(f"fan-out {i + 1}: {r['all']['count']:,} notifications, {r['all']['per_s'] or 0:,.0f}/s "
                              f"(sms {r['sms']['per_s'] or 0:,.0f}/s, mail {r['mail']['per_s'] or 0:,.0f}/s)")
        finally:
            stack.stop()
            sandbox.stop()
    return {"import_s": tokens["import_s"], "runs": results}


def main(members: int = 10_000, throttled_members: int = 2_000, runs: int = 3, profile_seconds: int = 0,
         naive_messages: int = 300, api_latency_ms: float = 150.0, api_jitter_ms: float = 20.0) -> dict:
    """Run the fan-out benchmarks; print tables and save the JSON."""
    ensure_broker()
    free = fan_out_runs(members, runs, profile_seconds)
    faults = {**latency_faults(api_latency_ms, api_jitter_ms), **FAST.faults()}
    naive = [naive_loop(naive_messages, faults, FAST.senders[0].number) for _ in range(runs)]
    pooled = pooled_runs(members, runs, api_latency_ms, api_jitter_ms, FAST)
    throttled = throttled_run(throttled_members, MIXED)
    balanced = throttled_run(throttled_members, MIXED, sticky_wait=STICKY_WAIT)
    latency = f"API latency {api_latency_ms:g} ms + U(0, {api_jitter_ms:g}) ms"

    show_unthrottled(members, free["runs"])
    show_naive(naive, naive_messages, members, latency)
    show_pooled(pooled, members, latency)
    show_throttled(throttled)
    show_throttled(balanced)
    show_cpu(free["runs"], naive)
    for r in free["runs"]:
        if r.get("profile", {}).get("self"):
            show("Worker profile during fan-out (self time, % of samples)", ["function", "%"],
                 r["profile"]["self"][:12])

    figures = fan_out_figures(free["runs"], naive, pooled, throttled, latency, balanced)
    show_figures(f"Fan-out figures ({members:,} members, medians of {runs} run(s))", figures)
    by_name = {f.name: f for f in figures}
    pooled_vs_naive = by_name[f"pooled SMS/s vs naive loop ({latency})"]
    summary = {"per_s": figures[0].value, "worker_ms_per_notification": figures[1].value,
               "pooled_sms_per_s": pooled_vs_naive.value, "naive_sms_per_s": pooled_vs_naive.ceiling,
               "pooled_ratio_to_naive": pooled_vs_naive.ratio,
               "throttled_pool_utilisation": (throttled.get("total") or {}).get("utilisation"),
               "balanced_pool_utilisation": (balanced.get("total") or {}).get("utilisation"),
               "api_latency_ms": api_latency_ms, "api_jitter_ms": api_jitter_ms, "pool": pooled["pool"],
               "throttled_pool": throttled["pool"], "figures": figures_json(figures)}
    save("fanout", {"params": {"members": members, "throttled_members": throttled_members, "runs": runs,
                               "naive_messages": naive_messages, "api_latency_ms": api_latency_ms,
                               "api_jitter_ms": api_jitter_ms},
                    "summary": summary, "unthrottled": free, "naive": naive, "pooled": pooled, "throttled": throttled,
                    "balanced": balanced})
    return summary


def fan_out_figures(free: list[dict], naive: list[dict], pooled: dict, throttled: dict, latency: str,
                    balanced: dict | None = None) -> list[Figure]:
    """Every fan-out figure with its ceiling from the same invocation; medians of the runs."""
    worker_ms = [r["cpu"]["ms_per_notification"]["worker"] for r in free]
    pool_runs = pooled["runs"]
    total = throttled.get("total", {})
    above = lambda k: sum(s.get(k) or 0 for s in throttled["senders"].values()) + (total.get(k) or 0)
    return [
        Figure.of_runs("unthrottled notifications/s (SMS + email)", [r["all"]["per_s"] for r in free], "/s",
                       ceilings=[1000 / ms if ms else None for ms in worker_ms],
                       ceiling_is="worker CPU-bound: 1 core / its CPU per notification",
                       target=NOTIFICATIONS_PER_S),
        Figure.of_runs("worker CPU per notification, unthrottled", worker_ms, "ms",
                       ceilings=[n["client_cpu_ms_per_sms"] for n in naive][:len(worker_ms)],
                       ceiling_is="naive loop's client CPU per SMS", target=WORKER_MS_PER_NOTIFICATION, op="<="),
        Figure.of_runs(f"pooled SMS/s vs naive loop ({latency})", [r["sms"]["per_s"] for r in pool_runs], "SMS/s",
                       ceilings=[n["per_s"] for n in naive][:len(pool_runs)], ceiling_is="naive sequential loop",
                       target=RATIO_TO_NAIVE, on="ratio"),
        Figure.of_runs(f"pooled SMS/s vs pool limit ({pooled['pool']})", [r["sms"]["per_s"] for r in pool_runs],
                       "SMS/s", ceilings=[r["pool_limit_sms_per_s"] for r in pool_runs],
                       ceiling_is="pool limit / mean segments"),
        Figure("pooled duplicated SMS (per phone)", sum(r["duplicates"] for r in pool_runs), target=0, op="<=",
               runs=len(pool_runs)),
        Figure("pooled missing SMS (per phone)", sum(r["missing"] for r in pool_runs), target=0, op="<=",
               runs=len(pool_runs)),
        Figure(f"throttled pool segments/s ({throttled['pool']})",
               total["utilisation"] * throttled["limit"] if total.get("utilisation") is not None else None,
               "seg/s", ceiling=throttled["limit"], ceiling_is="sum of the senders' limits",
               target=POOL_UTILISATION, on="ratio"),
        Figure("throttled one-second windows above a limit (per sender + pool)", above("above_limit"), target=0,
               op="<="),
        Figure("throttled windows above a limit without their last message", above("above_limit_beyond_one_message"),
               target=0, op="<="),
        Figure("throttled duplicated + missing SMS", throttled["duplicates"] + throttled["missing"], target=0,
               op="<="),
        *(balanced_figures(balanced) if balanced else []),
    ]


def balanced_figures(t: dict) -> list[Figure]:
    """The same throttled pool with stickiness giving way to a sender that falls behind."""
    total = t.get("total", {})
    return [
        Figure(f"throttled pool segments/s, sticky_wait_seconds={t['sticky_wait']:g}",
               total["utilisation"] * t["limit"] if total.get("utilisation") is not None else None,
               "seg/s", ceiling=t["limit"], ceiling_is="sum of the senders' limits", target=POOL_UTILISATION,
               on="ratio"),
        Figure(f"phones sent from another sender than their own, sticky_wait_seconds={t['sticky_wait']:g}",
               t.get("moved_phones"), ceiling=t["members"], ceiling_is="SMS sent"),
        Figure(f"throttled duplicated + missing SMS, sticky_wait_seconds={t['sticky_wait']:g}",
               t["duplicates"] + t["missing"], target=0, op="<="),
    ]


def show_unthrottled(members: int, runs: list[dict]) -> None:
    """Per-run table of the unthrottled fan-out."""
    rows = [[f"run {i + 1}", r["all"]["count"], r["all"]["total_s"], r["all"]["per_s"], r["all"]["steady_per_s"],
             r["sms"]["per_s"], r["mail"]["per_s"], r["sms_duplicates"] + r["mail_duplicates"],
             r["sms_missing"] + r["mail_missing"]] for i, r in enumerate(runs)]
    med = lambda f: median([f(r) for r in runs])
    rows.append(["median", med(lambda r: r["all"]["count"]), med(lambda r: r["all"]["total_s"]),
                 med(lambda r: r["all"]["per_s"]), med(lambda r: r["all"]["steady_per_s"] or 0),
                 med(lambda r: r["sms"]["per_s"]), med(lambda r: r["mail"]["per_s"]), "", ""])
    show(f"Fan-out to {members:,} members, SMS + email, unthrottled, no API latency (target >= 2,000/s)",
         ["run", "notifications", "total s", "per s", "steady per s", "SMS/s", "mail/s", "dupes", "missing"], rows)


def show_naive(naive: list[dict], messages: int, members: int, latency: str) -> None:
    """Per-run table of the naive loop, with what its constant rate means for the full audience."""
    rate = median([n["per_s"] for n in naive])
    show(f"Naive sequential twilio loop, {messages:,} SMS per run from one of the pool's short codes, sandbox with "
         f"{latency}",
         ["run", "SMS", "seconds", "SMS/s", "ms per SMS", "client CPU ms per SMS"],
         [[f"run {i + 1}", n["messages"], n["seconds"], n["per_s"], n["ms_per_sms"], n["client_cpu_ms_per_sms"]]
          for i, n in enumerate(naive)] + [["median", "", "", rate, median([n["ms_per_sms"] for n in naive]), ""]])
    if rate:
        console.print(f"[dim]A sequential loop waits for each answer, so its rate is the same for any count: "
                      f"measured on {messages:,} SMS; {members:,} would take {members / rate / 60:,.1f} min.[/dim]")


def show_pooled(pooled: dict, members: int, latency: str) -> None:
    """Per-run table of the pooled fan-out with API latency."""
    show(f"Solidarity fan-out to {members:,} members, SMS only, {latency}, pool {pooled['pool']}",
         ["run", "SMS", "total s", "SMS/s", "steady SMS/s", "pool limit SMS/s", "mean segments", "dupes", "missing",
          "outside pool", "phones on 2 senders"],
         [[f"run {i + 1}", r["sent"], r["sms"]["total_s"], r["sms"]["per_s"], r["sms"]["steady_per_s"],
           r["pool_limit_sms_per_s"], r["mean_segments"], r["duplicates"], r["missing"], r["outside_pool"],
           r["phones_on_two_senders"]] for i, r in enumerate(pooled["runs"])])


def show_throttled(t: dict) -> None:
    """Per-sender windows of the throttled pool run, and the pool's total."""
    cols = ["messages", "segments", "windows", "median_per_window", "max_per_window", "utilisation", "above_limit",
            "above_limit_beyond_one_message", "max_sliding_1s", "queue_wait_s", "sandbox_overflowed",
            "sandbox_backlog_s"]
    rows = [[number, s["type"], s["limit"], *[s.get(c) for c in cols]] for number, s in t["senders"].items()]
    total = t.get("total", {})
    rows.append(["pool", "", t["limit"], t["sent"], sum(s["segments"] for s in t["senders"].values()),
                 *[total.get(c) for c in cols[2:10]], "", ""])
    sticky = "each phone on its own sender" if t.get("sticky_wait") is None else \
        f"sticky_wait_seconds={t['sticky_wait']:g}"
    show(f"Throttled pool {t['pool']}, {sticky}, {t['members']:,} SMS, no API latency (segments per one-second window at "
         f"acceptance; target >= 95% of the sum, no window above a limit)",
         ["sender", "type", "limit", "SMS", "segments", "windows", "median/window", "max/window", "utilisation",
          "windows above", "above w/o last msg", "max sliding 1 s", "queue wait s", "sandbox 30001",
          "sandbox backlog s"], rows)
    console.print(f"[dim]throttled: {t['sent']:,} sent, {t['duplicates']} duplicated, {t['missing']} missing, "
                  f"{t['phones_on_two_senders']} phones sent from two senders, {t.get('moved_phones', 0)} from another "
                  f"sender than their own, segments {t['segments_per_message']}"
                  f"[/dim]")


def show_cpu(free: list[dict], naive: list[dict]) -> None:
    """Who used the CPU: worker, sandbox and broker per notification (and the naive loop's client per SMS)."""
    show("CPU per notification during the unthrottled fan-out (ms; cores = CPU s / wall s)",
         ["run", "worker ms", "sandbox ms", "broker ms", "worker cores", "sandbox cores", "broker cores"],
         [[f"run {i + 1}", r["cpu"]["ms_per_notification"]["worker"], r["cpu"]["ms_per_notification"]["sandbox"],
           r["cpu"]["ms_per_notification"]["broker"], r["cpu"]["cores"]["worker"], r["cpu"]["cores"]["sandbox"],
           r["cpu"]["cores"]["broker"]] for i, r in enumerate(free)]
         + [[f"naive {i + 1} (client / sandbox per SMS)", n["client_cpu_ms_per_sms"],
             (n["cpu"]["cpu_s"]["sandbox"] or 0) * 1000 / n["messages"], "", n["cpu"]["cores"]["client"],
             n["cpu"]["cores"]["sandbox"], ""] for i, n in enumerate(naive)])
