"""The scaling curve: pipeline throughput and fan-out throughput with 1, 2 and 3 workers in one run.

Same measurements as bench/pipeline.py (reports pre-loaded on the intake topic, Kafka timestamps of the case
events) and bench/fanout.py (hand-over times from the sandbox's store), with N workers of one consumer group
(testing/workers.py). On a 2-core machine the workers, the broker and the sandbox share two cores: more workers
can only show the cost of coordination there, not a speed-up; the figures say which.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import console, ensure_broker, save, show
from bench.failover import drill_world
from bench.world import rate_stats, wait_handed
from bench.pipeline import count_cases, envelopes, produce
from streams import topics
from streams.admin import ensure_topics
from testing.workers import Workers


def pipeline_run(n_workers: int, reports: int, tmp: Path) -> dict:
    """`reports` pre-loaded on the intake topic, then N workers started: reports turned into cases per second."""
    bootstrap = ensure_broker()
    workers = Workers(tmp, n_workers, extra_env={"SOLIDARITY_LOG_LEVEL": "warning"})
    settings = workers[0].settings()
    ensure_topics(settings)
    asyncio.run(produce(bootstrap, topics.full_name(topics.REPORTS_SUBMITTED, settings.topic_prefix),
                        envelopes(reports, workers[0].sealer())))
    spawned = time.time()
    workers.start_all()
    try:
        cases = asyncio.run(count_cases(bootstrap, topics.full_name(topics.CASE_EVENTS, settings.topic_prefix),
                                        reports, timeout=max(300, reports / 50)))
    finally:
        workers.stop_all()
    span = ((cases["last_ms"] or 0) - (cases["first_ms"] or 0)) / 1000 or None
    return {"workers": n_workers, "reports": reports, "cases": cases["cases"],
            "reports_per_s": cases["cases"] / span if span else None,
            "wall_from_spawn_s": (cases["last_ms"] / 1000 - spawned) if cases["last_ms"] else None}


def fanout_run(n_workers: int, members: int, tmp: Path) -> dict:
    """A call to action to `members` members by SMS and email, unthrottled, with N workers."""
    d = drill_world(tmp, members, n=n_workers, rate=1_000_000.0)
    try:
        base = d.sandbox.counts()
        t0 = time.time()
        action_id, ref = d.approve("ph", channels=("sms", "email"))
        wait_handed(d.sandbox, base, members, members, timeout=max(300, members / 20))
        sms = [m for m in d.sandbox.sms(base["sms"]) if ref in m["body"]]
        mail = [m for m in d.sandbox.mail(base["mail"]) if ref in m["subject"] + m["text"]]
    finally:
        d.stop()
    per_phone = Counter(m["to"] for m in sms)
    return {"workers": n_workers, "members": members, "all": rate_stats([m["t"] for m in sms + mail], t0),
            "sms_missing": members - len(per_phone), "sms_duplicates": sum(n - 1 for n in per_phone.values())}


def main(reports: int = 20_000, members: int = 5_000, counts: tuple[int, ...] = (1, 2, 3)) -> dict:
    """Both curves; print the table and save the JSON."""
    ensure_broker()
    results: dict = {"pipeline": [], "fanout": []}
    for n in counts:
        with tempfile.TemporaryDirectory(prefix=f"bench-scale-p{n}-") as tmp:
            results["pipeline"].append(pipeline_run(n, reports, Path(tmp)))
        console.print(f"pipeline, {n} worker(s): {results['pipeline'][-1]['reports_per_s'] or 0:,.0f} reports/s")
        with tempfile.TemporaryDirectory(prefix=f"bench-scale-f{n}-") as tmp:
            results["fanout"].append(fanout_run(n, members, Path(tmp)))
        console.print(f"fan-out, {n} worker(s): {results['fanout'][-1]['all']['per_s'] or 0:,.0f} notifications/s")
    rows = [[n, p["reports_per_s"], p["cases"], f["all"]["per_s"], f["all"]["steady_per_s"],
             f["sms_missing"], f["sms_duplicates"]] for n, p, f in zip(counts, results["pipeline"], results["fanout"])]
    show(f"Scaling on {os.cpu_count()} cores ({reports:,} reports; fan-out to {members:,} members, SMS + email)",
         ["workers", "reports/s", "cases", "notifications/s", "steady/s", "SMS missing", "SMS dupes"], rows)
    save("scaling", {"params": {"reports": reports, "members": members, "workers": list(counts)}, **results})
    return results
