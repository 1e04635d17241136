"""Fan-out: a call to action to N members by SMS and email, unthrottled and at 100 segments/s, and the naive loop.

Times come from the sandbox's own store (microseconds), read through testing/sandbox_host.py's probe.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from bench.common import (PROFILES, CpuMeter, broker_pid, console, ensure_broker, median, profile, save, show,
                          verified_case, world)
from bench.members import TAIL_GROUP, member_rows, tail_count, write_csv
from testing.samples import named, unique_name
from testing.sandbox import ACCOUNT_SID, AUTH_TOKEN, FROM, Sandbox
from testing.stack import wait_for

LIMIT = 100.0


def load_world(tmp: Path, members: int, rate: float, extra_env: dict | None = None, oncall: int = 0):
    """A worker + sandbox with `members` generated members (and `oncall` on-call contacts) imported;
    (stack, sandbox, tokens, rows)."""
    stack, sandbox = world(tmp, rate=rate, extra_env=extra_env)
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


def approve(stack, tokens, channels: list[str], country: str) -> tuple[str, str, float]:
    """A verified case and a call to action on it; (action_id, reference, time of the approval request)."""
    # A defender no other run names: the report opens its own case instead of joining an earlier one.
    receipt = verified_case(stack, tokens, named(unique_name(), incident_type="land_grab", country=country))
    sent = time.time()
    status, body = stack.http.request("POST", f"/api/v1/cases/{receipt['case_id']}/actions",
                                      {"kind": "solidarity_message", "channels": channels},
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
            "per_s": n / (times[-1] - start), "steady_per_s": (int(n * 0.9) - int(n * 0.1)) / (hi - lo) if hi > lo else None}


def windows(events: list[tuple[float, int]], limit: float) -> dict:
    """Per-second windows of (time, segments): aligned windows over the run, and the busiest sliding second."""
    events = sorted(events)
    if not events:
        return {}
    t0 = events[0][0]
    buckets = Counter()
    for t, seg in events:
        buckets[int(t - t0)] += seg
    full = [buckets[i] for i in range(0, int(events[-1][0] - t0))]  # complete windows only
    sliding, j, acc = 0, 0, 0
    for i, (t, seg) in enumerate(events):
        acc += seg
        while events[j][0] <= t - 1.0:
            acc -= events[j][1]
            j += 1
        sliding = max(sliding, acc)
    return {"windows": len(full), "median_per_window": median(full), "min_per_window": min(full) if full else None,
            "max_per_window": max(full) if full else None, "above_limit": sum(1 for w in full if w > limit),
            "utilisation": (sum(full) / len(full) / limit) if full else None, "max_sliding_1s": sliding,
            "sliding_above_limit": sliding > limit}


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


def throttled_run(members: int) -> dict:
    """SMS only at a sender limit of 100 segments/s: the achieved rate per one-second window."""
    with tempfile.TemporaryDirectory(prefix="bench-throttled-") as tmp:
        stack, sandbox, tokens, rows = load_world(Path(tmp), members, rate=LIMIT)
        try:
            base = sandbox.counts()
            action_id, ref, t0 = approve(stack, tokens, ["sms"], "ke")
            wait_handed(sandbox, base, members, 0, timeout=members / LIMIT * 3 + 120)
            sms = [m for m in sandbox.sms(base["sms"]) if ref in m["body"]]
        finally:
            stack.stop()
            sandbox.stop()
    per_phone = Counter(m["to"] for m in sms)
    segs = Counter(m["segments"] for m in sms)
    return {"members": members, "limit": LIMIT, "segments_per_message": dict(segs), "sent": len(sms),
            "missing": members - len(per_phone), "duplicates": sum(n - 1 for n in per_phone.values()),
            **windows([(m["t"], m["segments"]) for m in sms], LIMIT)}


def naive_loop(members: int) -> dict:
    """The way a small team might script it: the twilio client's messages.create, one after another."""
    from twilio.rest import Client

    with tempfile.TemporaryDirectory(prefix="bench-naive-") as tmp:
        sandbox = Sandbox(Path(tmp), worker_port=9)
        meter = CpuMeter(client=os.getpid(), sandbox=sandbox.proc.pid)
        try:
            client = Client(ACCOUNT_SID, AUTH_TOKEN)
            client.edge = client.region = None
            client.api.base_url = sandbox.url
            phones = [r["phone"] for r in member_rows(members)]
            body = "[Solidarity] Solidarity message SOL-NAIVE1: land grab in the Philippines. Reply SIGN to co-sign."
            t0 = time.perf_counter()
            meter.start()
            for phone in phones:
                client.messages.create(to=phone, from_=FROM, body=body)
            elapsed = time.perf_counter() - t0
            cpu = meter.stop(elapsed)
            held = sandbox.counts()["sms"]
        finally:
            sandbox.stop()
    return {"members": members, "seconds": elapsed, "per_s": members / elapsed, "sandbox_held": held, "cpu": cpu}


def main(members: int = 10_000, throttled_members: int = 2_000, runs: int = 3, profile_seconds: int = 0) -> dict:
    """Run the fan-out benchmarks; print tables and save the JSON."""
    ensure_broker()
    free = fan_out_runs(members, runs, profile_seconds)
    naive = [naive_loop(members) for _ in range(runs)]
    throttled = throttled_run(throttled_members)
    rows = [[f"run {i + 1}", r["all"]["count"], r["all"]["total_s"], r["all"]["per_s"], r["all"]["steady_per_s"],
             r["sms"]["per_s"], r["mail"]["per_s"], r["sms_duplicates"] + r["mail_duplicates"],
             r["sms_missing"] + r["mail_missing"]] for i, r in enumerate(free["runs"])]
    med = lambda f: median([f(r) for r in free["runs"]])
    summary = {
        "notifications": med(lambda r: r["all"]["count"]), "total_s": med(lambda r: r["all"]["total_s"]),
        "per_s": med(lambda r: r["all"]["per_s"]), "steady_per_s": med(lambda r: r["all"]["steady_per_s"] or 0),
        "sms_per_s": med(lambda r: r["sms"]["per_s"]), "mail_per_s": med(lambda r: r["mail"]["per_s"]),
        "naive_sms_per_s": median([n["per_s"] for n in naive]),
    }
    summary["sms_ratio_to_naive"] = summary["sms_per_s"] / summary["naive_sms_per_s"]
    summary["all_ratio_to_naive"] = summary["per_s"] / summary["naive_sms_per_s"]
    rows.append(["median", summary["notifications"], summary["total_s"], summary["per_s"], summary["steady_per_s"],
                 summary["sms_per_s"], summary["mail_per_s"], "", ""])
    show(f"Fan-out to {members:,} members, SMS + email, unthrottled (target >= 2,000/s)",
         ["run", "notifications", "total s", "per s", "steady per s", "SMS/s", "mail/s", "dupes", "missing"], rows)
    show(f"Naive sequential twilio loop, {members:,} SMS",
         ["run", "seconds", "SMS/s"], [[f"run {i + 1}", n["seconds"], n["per_s"]] for i, n in enumerate(naive)]
         + [["ours / naive (SMS/s)", "", summary["sms_ratio_to_naive"]],
            ["ours / naive (all notifications/s)", "", summary["all_ratio_to_naive"]]])
    show(f"Throttled to {LIMIT:.0f} segments/s, {throttled_members:,} SMS (target >= 95%, no window above)",
         ["measure", "value"], [[k, throttled.get(k)] for k in (
             "sent", "windows", "median_per_window", "min_per_window", "max_per_window", "utilisation",
             "above_limit", "max_sliding_1s", "duplicates", "missing")])
    show("CPU per notification during the unthrottled fan-out (ms; cores = CPU s / wall s)",
         ["run", "worker ms", "sandbox ms", "broker ms", "worker cores", "sandbox cores", "broker cores"],
         [[f"run {i + 1}", r["cpu"]["ms_per_notification"]["worker"], r["cpu"]["ms_per_notification"]["sandbox"],
           r["cpu"]["ms_per_notification"]["broker"], r["cpu"]["cores"]["worker"], r["cpu"]["cores"]["sandbox"],
           r["cpu"]["cores"]["broker"]] for i, r in enumerate(free["runs"])]
         + [[f"naive {i + 1} (client / sandbox per SMS)", n["cpu"]["cpu_s"]["client"] * 1000 / n["members"],
             n["cpu"]["cpu_s"]["sandbox"] * 1000 / n["members"], "", n["cpu"]["cores"]["client"],
             n["cpu"]["cores"]["sandbox"], ""] for i, n in enumerate(naive)])
    for r in free["runs"]:
        if r.get("profile", {}).get("self"):
            show("Worker profile during fan-out (self time, % of samples)", ["function", "%"], r["profile"]["self"][:12])
    save("fanout", {"params": {"members": members, "throttled_members": throttled_members, "runs": runs},
                    "summary": summary, "unthrottled": free, "naive": naive, "throttled": throttled})
    return summary
