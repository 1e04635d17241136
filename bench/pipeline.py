"""Pipeline throughput: N distinct reports pre-loaded on the intake topic, the worker turns them into cases.

The ceiling is a plain aiokafka consume -> produce pass-through of the same messages on the same broker. The
worker's CPU per report is sampled over the span between its first and its last case event (Kafka timestamps);
its reference is the pass-through's own CPU per message.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.common import (PROFILES, CpuSampler, broker_pid, console, cpu_seconds, ensure_broker, median, profile, save,
                          show)
from bench.figures import Figure, figures_json, show_figures
from schemas.reports import ReportIn
from schemas.vocab import IncidentType
from streams import topics
from streams.admin import ensure_topics
from streams.services.reports import build_submission
from testing.stack import Stack

RATIO_TO_PASSTHROUGH = 0.25  # target
WORKER_US_PER_REPORT = 100.0  # target
COUNTRIES = ["MX", "CO", "GT", "HN", "PE", "AR", "CL", "BR", "PH", "IN", "KE", "NG", "ZA", "UG", "FR", "SN", "CM",
             "EG", "MA", "TN", "BD", "PK", "ID", "NP", "LK", "ZW", "MY", "GB", "US", "ES"]


def report_body(n: int, now: datetime) -> dict:
    """A valid report; every one names a different defender, so none merges with another."""
    kinds = list(IncidentType)
    return {
        "incident_type": kinds[n % len(kinds)].value, "country": COUNTRIES[(n // len(kinds)) % len(COUNTRIES)],
        "locality": "Bench Town", "occurred_at": (now - timedelta(hours=3)).isoformat(), "ongoing": n % 3 == 0,
        "imminent_danger": n % 7 == 0, "language": "en", "consent": "network", "people_affected": 1 + n % 5,
        "description": f"Bench report {n}: a defender was threatened after a community assembly.",
        "defenders": [{"name": f"Defender {uuid.uuid4().hex[:10]} {n}", "organization": "Bench Collective",
                       "gender": "woman", "groups": ["land_rights"], "detained": n % 2 == 0}],
    }


def envelopes(n: int, sealer) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs exactly as the API would publish them: each case's data key made first, then sealed."""
    now = datetime.now(UTC)
    made = [build_submission(ReportIn.model_validate(report_body(i, now)), "bench", None) for i in range(n)]
    sealer.keys.ensure(f"case:{env.case_id}" for _, env in made)
    return [(key, sealer.dumps(env)) for key, env in made]


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    """Produce every record (acks=all); seconds taken."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    t0 = time.perf_counter()
    try:
        for i in range(0, len(records), 5000):
            await asyncio.gather(*[await producer.send(topic, value=v, key=k) for k, v in records[i:i + 5000]])
    finally:
        await producer.stop()
    return time.perf_counter() - t0


async def passthrough(bootstrap: str, source: str, sink: str, n: int, timeout: float) -> dict:
    """The ceiling: consume the intake topic in a fresh group and produce each message on; timed from the
    first message consumed to the last one acknowledged."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(sink, num_partitions=4, replication_factor=1)])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=f"bench-ceiling-{uuid.uuid4().hex[:8]}",
                                auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()
    seen, first, pending = 0, None, []
    deadline = time.monotonic() + timeout
    try:
        while seen < n and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            for records in batches.values():
                for r in records:
                    if first is None:
                        first = time.perf_counter()
                    pending.append(await producer.send(sink, value=r.value, key=r.key))
                    seen += 1
            if len(pending) > 4000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
        elapsed = time.perf_counter() - (first or time.perf_counter())
    finally:
        await producer.stop()
        await consumer.stop()
    return {"messages": seen, "seconds": elapsed, "per_second": seen / elapsed if elapsed else None}


async def count_cases(bootstrap: str, topic: str, n: int, timeout: float, on_first=None) -> dict:
    """Read the case events from the beginning until n reports became cases; Kafka timestamps of the first and last."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    reports, first_ts, last_ts, kinds = set(), None, None, {}
    deadline = time.monotonic() + timeout
    try:
        while len(reports) < n and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batches.values():
                for r in records:
                    ev = json.loads(r.value)
                    kinds[ev["kind"]] = kinds.get(ev["kind"], 0) + 1
                    if ev["kind"] in ("opened", "report_merged") and ev.get("report"):
                        if first_ts is None and on_first is not None:
                            on_first()
                        reports.add(ev["report"]["report_id"])
                        first_ts = min(first_ts or r.timestamp, r.timestamp)
                        last_ts = max(last_ts or r.timestamp, r.timestamp)
    finally:
        await consumer.stop()
    return {"cases": len(reports), "kinds": kinds, "first_ms": first_ts, "last_ms": last_ts}


def run_once(n: int, tmp: Path, profile_seconds: int = 0) -> dict:
    """Load n reports, measure the pass-through ceiling, then the worker; one result row."""
    bootstrap = ensure_broker()
    tmp.mkdir(parents=True, exist_ok=True)
    stack = Stack(tmp, extra_env={"SOLIDARITY_LOG_LEVEL": "warning"})
    settings = stack.settings()
    ensure_topics(settings)
    source = topics.full_name(topics.REPORTS_SUBMITTED, settings.topic_prefix)
    records = envelopes(n, stack.sealer())
    produce_s = asyncio.run(produce(bootstrap, source, records))
    cpu_before = cpu_seconds(os.getpid())
    ceiling = asyncio.run(passthrough(bootstrap, source, f"{settings.topic_prefix}bench.passthrough.v1", n,
                                      timeout=max(120, n / 200)))
    # This process did nothing else meanwhile: its CPU is the pass-through's (consumer, producer, event loop).
    ceiling["cpu_us_per_message"] = ((cpu_seconds(os.getpid()) - cpu_before) * 1e6 / ceiling["messages"]
                                     if ceiling["messages"] else None)
    spawned = time.time()
    # Sampled from the spawn: the worker makes its first cases as soon as it is up, before /healthz is polled.
    sampler = CpuSampler(worker=stack.launch().proc.pid, broker=broker_pid()).start()
    prof = {}
    try:
        stack.wait_healthy(180)

        def start_profile():
            if profile_seconds:
                threading.Thread(target=lambda: prof.update(profile(
                    stack.proc.pid, profile_seconds, PROFILES / "pipeline-profile.txt")), daemon=True).start()

        cases = asyncio.run(count_cases(bootstrap, topics.full_name(topics.CASE_EVENTS, settings.topic_prefix), n,
                                        timeout=max(300, n / 50), on_first=start_profile))
    finally:
        sampler.stop()
        stack.stop()
    span = ((cases["last_ms"] or 0) - (cases["first_ms"] or 0)) / 1000 or None
    rate = cases["cases"] / span if span else None
    cpu = sampler.between(cases["first_ms"] / 1000, cases["last_ms"] / 1000) if span else {}
    # Between the first case event and the last, the worker made cases - 1 of them.
    per_report = {name: (used * 1e6 / (cases["cases"] - 1) if used is not None and cases["cases"] > 1 else None)
                  for name, used in cpu.items()}
    wall = (cases["last_ms"] or 0) / 1000 - spawned if cases["last_ms"] else None
    if profile_seconds:
        deadline = time.monotonic() + profile_seconds + 60
        while not prof and time.monotonic() < deadline:
            time.sleep(0.5)
    return {"reports": n, "produce_s": produce_s, "ceiling": ceiling, "cases": cases["cases"],
            "event_kinds": cases["kinds"], "processing_s": span, "reports_per_s": rate,
            "wall_from_spawn_s": wall,
            "ratio_to_ceiling": rate / ceiling["per_second"] if rate and ceiling["per_second"] else None,
            "cpu_s": cpu, "cpu_us_per_report": per_report, "profile": prof or None}


def main(reports: int = 50_000, runs: int = 3, profile_seconds: int = 0) -> dict:
    """Run the pipeline benchmark `runs` times; print the tables and save the JSON."""
    rows, results = [], []
    for i in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
            r = run_once(reports, Path(tmp) / "stack", profile_seconds if i == runs - 1 else 0)
        results.append(r)
        rows.append([f"run {i + 1}", r["reports"], r["cases"], r["reports_per_s"], r["ceiling"]["per_second"],
                     r["ratio_to_ceiling"], r["cpu_us_per_report"].get("worker"), r["cpu_us_per_report"].get("broker"),
                     r["ceiling"]["cpu_us_per_message"], r["wall_from_spawn_s"]])
        console.print(f"run {i + 1}: {r['cases']}/{reports} cases, {r['reports_per_s'] or 0:,.0f} reports/s, "
                      f"ceiling {r['ceiling']['per_second'] or 0:,.0f}/s")
    med = lambda f: median([v for r in results if (v := f(r)) is not None])
    rows.append(["median", reports, "", med(lambda r: r["reports_per_s"]), med(lambda r: r["ceiling"]["per_second"]),
                 med(lambda r: r["ratio_to_ceiling"]), med(lambda r: r["cpu_us_per_report"].get("worker")),
                 med(lambda r: r["cpu_us_per_report"].get("broker")),
                 med(lambda r: r["ceiling"]["cpu_us_per_message"]), med(lambda r: r["wall_from_spawn_s"])])
    show(f"Pipeline throughput ({reports:,} reports pre-loaded on the intake topic)",
         ["run", "reports", "cases", "reports/s", "pass-through/s", "ratio", "worker CPU us/report",
          "broker CPU us/report", "pass-through CPU us/msg", "wall s (incl. start-up)"], rows)
    for r in results:
        if r.get("profile") and r["profile"].get("self"):
            show("Worker profile (self time, % of samples)", ["function", "%"], r["profile"]["self"][:12])
    figures = [
        Figure.of_runs("reports/s, report -> case", [r["reports_per_s"] for r in results], "/s",
                       ceilings=[r["ceiling"]["per_second"] for r in results],
                       ceiling_is="aiokafka consume -> produce pass-through", target=RATIO_TO_PASSTHROUGH, on="ratio"),
        Figure.of_runs("worker CPU per report", [r["cpu_us_per_report"].get("worker") for r in results], "us",
                       ceilings=[r["ceiling"]["cpu_us_per_message"] for r in results],
                       ceiling_is="pass-through CPU per message", target=WORKER_US_PER_REPORT, op="<="),
    ]
    show_figures(f"Pipeline figures (medians of {runs} run(s))", figures)
    summary = {
        "reports_per_s": med(lambda r: r["reports_per_s"]), "ceiling_per_s": med(lambda r: r["ceiling"]["per_second"]),
        "ratio_to_ceiling": med(lambda r: r["ratio_to_ceiling"]),
        "worker_cpu_us_per_report": med(lambda r: r["cpu_us_per_report"].get("worker")),
        "wall_from_spawn_s": med(lambda r: r["wall_from_spawn_s"]), "figures": figures_json(figures),
    }
    save("pipeline", {"params": {"reports": reports, "runs": runs}, "summary": summary, "runs": results})
    return summary
