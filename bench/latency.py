"""Alert latency: POST /api/v1/reports of a critical report -> the first on-call SMS the sandbox accepted.

The send time is the client's clock just before the request; the arrival time is the sandbox store's
creation time (microseconds, same host clock). Idle, and under a background load straight onto the intake topic
(default 1,000 reports/s). The sandbox answers at once (no API latency): the figure is the system's own latency.
Each percentile's reference is the same alerts' POST -> 202 round trip: the share the HTTP API itself takes.
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer

from bench.common import console, ensure_broker, median, percentile, save, show, world
from bench.figures import Figure, figures_json, show_figures
from bench.members import TAIL_GROUP, member_rows, tail_count, write_csv
from bench.pipeline import report_body
from schemas.reports import ReportIn
from streams import topics
from streams.services.reports import build_submission
from testing.samples import report
from testing.stack import wait_for

ONCALL = 3
SPACING = 0.05
P99_MS = 100.0  # target: POST -> first on-call SMS, under the background load
LOAD_SHARE = 0.95  # the load thread must achieve this share of the requested rate for the loaded run to count


class Load:
    """A background producer of low-urgency reports at `rate` per second, straight onto the intake topic."""

    def __init__(self, bootstrap: str, topic: str, rate: float, seconds: float, sealer) -> None:
        self.bootstrap, self.topic, self.rate = bootstrap, topic, rate
        now = datetime.now(UTC)
        made = []
        for n in range(int(rate * seconds)):
            body = report_body(n, now) | {"incident_type": "smear_campaign", "imminent_danger": False, "ongoing": False}
            made.append(build_submission(ReportIn.model_validate(body), "bench-load", None))
        # Sealed as the API seals them, each case's data key made first.
        sealer.keys.ensure(f"case:{env.case_id}" for _, env in made)
        self.records = [(key, sealer.dumps(env)) for key, env in made]
        self.stop = threading.Event()
        self.sent, self.seconds = 0, 0.0
        # Set when the prepared reports ran out before the alerts were all sent: part of them met no load.
        self.exhausted = False
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=5)
        await producer.start()
        t0 = time.perf_counter()
        try:
            for key, value in self.records:
                if self.stop.is_set():
                    break
                due = t0 + self.sent / self.rate
                if (delay := due - time.perf_counter()) > 0:
                    await asyncio.sleep(delay)
                await producer.send(self.topic, value=value, key=key)
                self.sent += 1
            self.exhausted = not self.stop.is_set()
        finally:
            self.seconds = time.perf_counter() - t0
            await producer.stop()


def drained(stack, tokens, timeout: float = 600) -> float:
    """Wait until the worker has worked through its intake backlog (a fresh report has its case); seconds."""
    t0 = time.monotonic()
    body = report(incident_type="smear_campaign", country="cl",
                  defenders=[{"name": f"Probe {uuid.uuid4().hex[:10]}", "gender": "woman"}])
    status, receipt = stack.http.request("POST", "/api/v1/reports", body, token=tokens["reporter"])
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{receipt['case_id']}",
                                        token=tokens["secretariat"])[0] == 200, timeout, 0.5, "the backlog to drain")
    return time.monotonic() - t0


def measure(stack, sandbox, tokens, phones: set[str], alerts: int, on_sent=None) -> dict:
    """Send `alerts` critical reports, SPACING apart; latency of each one's first on-call SMS."""
    base = sandbox.counts()["sms"]
    sent: dict[str, float] = {}
    statuses, rtt = [], []
    for n in range(alerts):
        body = report(incident_type="enforced_disappearance", country="gt",
                      defenders=[{"name": f"Defensora {uuid.uuid4().hex[:10]}", "organization": "Colectivo",
                                  "gender": "woman", "groups": ["indigenous"], "detained": True,
                                  "incommunicado": True}])
        t = time.time()
        status, receipt = stack.http.request("POST", "/api/v1/reports", body, token=tokens["reporter"])
        rtt.append(1000 * (time.time() - t))
        statuses.append(status)
        if status == 202:
            sent[receipt["reference"]] = t
        time.sleep(SPACING)
    if on_sent is not None:
        on_sent()

    def collect() -> dict[str, float]:
        first: dict[str, float] = {}
        for m in sandbox.sms(base):
            if m["to"] in phones:
                ref = next((r for r in sent if r in m["body"]), None)
                if ref and (ref not in first or m["t"] < first[ref]):
                    first[ref] = m["t"]
        return first

    try:
        first = wait_for(lambda: f if len(f := collect()) >= len(sent) else None, 600, 1.0, "every alert")
    except AssertionError:
        first = collect()
    lat = [1000 * (first[r] - t) for r, t in sent.items() if r in first]
    return {"sent": len(sent), "non_202": sum(1 for s in statuses if s != 202), "arrived": len(lat),
            "p50_ms": percentile(lat, 50) if lat else None, "p95_ms": percentile(lat, 95) if lat else None,
            "p99_ms": percentile(lat, 99) if lat else None, "max_ms": max(lat) if lat else None,
            **{f"post_p{q}_ms": percentile(rtt, q) for q in (50, 95, 99)}}


def main(alerts: int = 200, load: float = 1_000.0, runs: int = 3) -> dict:
    """Idle and loaded latency, `runs` times each, in one world; print the table and save the JSON."""
    bootstrap = ensure_broker()
    results = {"idle": [], "loaded": []}
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        stack, sandbox = world(Path(tmp), rate=1000.0)
        try:
            tokens = {"reporter": stack.token("reporter"), "secretariat": stack.token("secretariat")}
            rows = member_rows(100, oncall=ONCALL)
            stack.cli("members", "import", str(write_csv(rows, Path(tmp) / "members.csv")))
            want = tail_count(rows)
            wait_for(lambda: stack.http.request("GET", f"/api/v1/members?working_group={TAIL_GROUP}",
                                                token=tokens["secretariat"])[1].get("count") == want, 60, 0.5, "members")
            wait_for(lambda: stack.http.request("GET", "/api/v1/members?role=secretariat_oncall",
                                                token=tokens["secretariat"])[1].get("count") == ONCALL, 60, 0.5, "on-call")
            phones = {r["phone"] for r in rows if r["roles"] == "secretariat_oncall"}
            topic = topics.full_name(topics.REPORTS_SUBMITTED, stack.env["SOLIDARITY_TOPIC_PREFIX"])
            measure(stack, sandbox, tokens, phones, 10)  # warm-up: first connections, first table reads
            for i in range(runs):
                results["idle"].append(measure(stack, sandbox, tokens, phones, alerts))
                console.print(f"run {i + 1}: idle p50 {results['idle'][-1]['p50_ms']:.0f} ms, "
                              f"p99 {results['idle'][-1]['p99_ms']:.0f} ms")
                if load <= 0:
                    continue
                # Reports for longer than the alerts can take (each POST waits behind the load too).
                bg = Load(bootstrap, topic, load, alerts * (SPACING + 0.2) + 15, stack.sealer())
                load_start = time.monotonic()
                bg.thread.start()
                time.sleep(3.0)  # the load reaches steady state before the first alert
                # The load runs while the alerts are sent; the alerts then wait behind what it left queued.
                r = measure(stack, sandbox, tokens, phones, alerts, on_sent=bg.stop.set)
                bg.thread.join(30)
                r["load_per_s"] = bg.sent / bg.seconds if bg.seconds else None
                r["load_reports"] = bg.sent
                r["load_exhausted"] = bg.exhausted
                results["loaded"].append(r)
                console.print(f"run {i + 1}: loaded p99 {r['p99_ms'] or 0:.0f} ms at {r['load_per_s'] or 0:.0f} reports/s")
                # The next idle run starts once the worker has worked through the background reports.
                r["drain_s"] = drained(stack, tokens)
                # A lower bound of the worker's intake rate under the load (exactly the load's, had it kept up).
                r["worker_intake_per_s"] = bg.sent / (time.monotonic() - load_start)

        finally:
            stack.stop()
            sandbox.stop()
    table, summary = [], {}
    for level in ("idle", "loaded"):
        for i, r in enumerate(results[level]):
            table.append([f"{level} run {i + 1}", r["arrived"], r["p50_ms"], r["p95_ms"], r["p99_ms"], r["max_ms"],
                          r["post_p99_ms"], r.get("load_per_s"), r.get("worker_intake_per_s"), r.get("drain_s"),
                          r.get("load_exhausted")])
        if not results[level]:
            continue
        summary[level] = {k: median([r[k] for r in results[level] if r[k] is not None])
                          for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "post_p99_ms")}
        table.append([f"{level} median", "", *list(summary[level].values())[:4], summary[level]["post_p99_ms"], "", "",
                      "", ""])
    show(f"Alert latency, report POST -> first on-call SMS at the sandbox ({alerts} per run, background "
         f"{load:,.0f} reports/s requested; no API latency)",
         ["run", "alerts", "p50 ms", "p95 ms", "p99 ms", "max ms", "POST->202 p99 ms", "background reports/s",
          "worker intake /s", "drain s after load", "load ran out"], table)
    figures = latency_figures(results, load)
    show_figures(f"Alert latency figures (medians of {runs} run(s))", figures)
    summary["figures"] = figures_json(figures)
    save("latency", {"params": {"alerts": alerts, "load": load, "runs": runs, "spacing_s": SPACING},
                     "summary": summary, "runs": results})
    return summary


def latency_figures(results: dict, load: float) -> list[Figure]:
    """p50/p95/p99 idle and loaded, each against the POST round trip of the same alerts; the load achieved."""
    figures = []
    for level in ("idle", "loaded"):
        runs = results[level]
        if not runs:
            continue
        for q in (50, 95, 99):
            figures.append(Figure.of_runs(f"{level} p{q} POST -> first on-call SMS", [r[f"p{q}_ms"] for r in runs],
                                          "ms", ceilings=[r[f"post_p{q}_ms"] for r in runs],
                                          ceiling_is=f"POST -> 202 p{q}",
                                          **({"target": P99_MS, "op": "<="} if q == 99 else {})))
    if results["loaded"]:
        figures.append(Figure.of_runs("background reports/s achieved by the load thread",
                                      [r["load_per_s"] for r in results["loaded"]], "/s",
                                      ceilings=[load] * len(results["loaded"]), ceiling_is="requested --load",
                                      target=LOAD_SHARE, on="ratio"))
        figures.append(Figure.of_runs("worker intake during the load (load start -> backlog drained)",
                                      [r["worker_intake_per_s"] for r in results["loaded"]], "/s",
                                      ceilings=[r["load_per_s"] for r in results["loaded"]],
                                      ceiling_is="what the load thread produced"))
    return figures
