"""Failover drills with three workers (testing/workers.py): a worker SIGKILLed mid fan-out, critical reports while
one is killed, a broker node stopped mid intake (3-node cluster), a rolling restart mid fan-out.

Everything is counted at the sandbox's phones, never from our API counters: lost and duplicated SMS per phone,
pages per on-call phone. Times (failover, page latency) are recorded, never asserted.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, ensure_broker, save, show
from bench.members import TAIL_GROUP, member_rows, tail_count, write_csv
from streams import topics
from testing.samples import named, unique_name
from testing.sandbox import Sandbox, sandbox_env
from testing.stack import wait_for
from testing.workers import Workers

BROKER = ROOT / "deploy" / "kafka" / "broker.py"
CLUSTER = "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094"
ONCALL = 3
CRITICAL = ("enforced_disappearance", "abduction")
# Short waits, so a recovering worker re-checks in-flight sends soon (as in bench/crash_windows.py).
FAST = {"SOLIDARITY_DELIVERY__PLAN_QUIET_SECONDS": "3", "SOLIDARITY_DELIVERY__RECONCILE_AFTER_SECONDS": "3",
        "SOLIDARITY_LOG_LEVEL": "warning"}


@dataclass
class Drill:
    """Three (or N) workers on one sandbox with generated members and on-call contacts."""

    workers: Workers
    sandbox: Sandbox
    tokens: dict
    rows: list[dict]
    rate: float  # each sender's SMS limit per second in the sandbox and the workers' settings

    @property
    def oncall(self) -> list[str]:
        """The on-call phones."""
        return [r["phone"] for r in self.rows if r["roles"] == "secretariat_oncall"]

    @property
    def members(self) -> list[dict]:
        """The rows a call to action to everyone reaches by SMS."""
        return [r for r in self.rows if r["roles"] == "member"]

    def any_alive(self, prefer: int | None = None) -> int:
        """A running worker (`prefer` if it runs)."""
        alive = self.workers.alive()
        assert alive, "no worker is running"
        return prefer if prefer in alive else alive[0]

    def request(self, method: str, path: str, body=None, role: str = "secretariat", prefer: int | None = None,
                headers: dict | None = None, attempts: int = 20):
        """A client behind a load balancer: another worker on a refused connection, the same request (and
        Idempotency-Key) again on a retryable 503. (status, body, statuses seen on the way)."""
        seen = []
        for attempt in range(attempts):
            i = self.any_alive(prefer if attempt == 0 or prefer is None else (prefer + attempt) % len(self.workers))
            try:
                status, answer = self.workers.http(i).request(method, path, body, token=self.tokens[role],
                                                              headers=headers)
            except OSError:
                seen.append("connection")
                time.sleep(0.2)
                continue
            seen.append(status)
            if status != 503:
                return status, answer, seen
            time.sleep(min(2.0, 0.2 * 2 ** attempt))
        return seen[-1], None, seen

    def critical(self, prefer: int | None = None) -> tuple[str, float]:
        """Submit a critical report of its own (distinct incident); (reference, client send time)."""
        body = named(unique_name(), incident_type=random.choice(CRITICAL), country=random.choice(["hn", "co", "mx"]))
        sent = time.time()
        status, receipt, seen = self.request("POST", "/api/v1/reports", body, role="reporter", prefer=prefer,
                                             headers={"Idempotency-Key": uuid.uuid4().hex})
        assert status == 202, (status, receipt, seen)
        return receipt["reference"], sent

    def pages(self, ref: str, base: int = 0) -> Counter:
        """On-call SMS per phone that name `ref`, as the sandbox received them."""
        oncall = set(self.oncall)
        return Counter(m["to"] for m in self.sandbox.sms(base) if ref in m["body"] and m["to"] in oncall)

    def first_page_at(self, ref: str, base: int, timeout: float) -> float | None:
        """The sandbox time of the first on-call SMS naming `ref`, or None within `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            times = [m["t"] for m in self.sandbox.sms(base) if ref in m["body"] and m["to"] in set(self.oncall)]
            if times:
                return min(times)
            time.sleep(0.1)
        return None

    def approve(self, country: str, channels: tuple[str, ...] = ("sms",)) -> tuple[str, str]:
        """A verified case and a call to action to every member; (action_id, reference)."""
        status, receipt, _ = self.request("POST", "/api/v1/reports", named(unique_name(), incident_type="land_grab",
                                                                           country=country), role="reporter")
        assert status == 202, receipt
        path = f"/api/v1/cases/{receipt['case_id']}"
        wait_for(lambda: self.request("GET", path)[0] == 200, 60, 0.2, "the case")
        assert self.request("POST", path + "/verify", {"note": "drill"})[0] == 202
        wait_for(lambda: self.request("GET", path)[1].get("status") == "verified", 60, 0.2, "the verification")
        status, body, _ = self.request("POST", path + "/actions", {"kind": "solidarity_message",
                                                                    "channels": list(channels)})
        assert status == 202, body
        return body["action_id"], receipt["reference"]

    def received(self, ref: str, base: int) -> Counter:
        """Call-to-action SMS per member phone naming `ref`."""
        return Counter(m["to"] for m in self.sandbox.sms(base) if ref in m["body"])

    def settle(self, ref: str, base: int, budget: float) -> Counter:
        """Wait (within `budget`) until every member's phone has the SMS, then a little longer for duplicates."""
        want = {r["phone"] for r in self.members}
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline and not want <= set(self.received(ref, base)):
            time.sleep(1.0)
        time.sleep(5)  # the reconciler's window: a duplicate sent late lands now
        return self.received(ref, base)

    def counts(self, got: Counter) -> dict:
        """Lost and duplicated, per phone."""
        want = {r["phone"] for r in self.members}
        return {"members": len(want), "received": sum(got.values()), "lost": len(want - set(got)),
                "duplicated": sum(n - 1 for n in got.values() if n > 1)}

    def stop(self) -> None:
        self.workers.stop_all()
        self.sandbox.stop()

    def revive(self) -> None:
        """Start every worker that is not running (a drill sharing this world may have left one killed)."""
        for i in range(len(self.workers)):
            if i not in self.workers.alive():
                self.workers.restart(i)


@contextmanager
def world_for(given: Drill | None, prefix: str, members: int, rate: float) -> Iterator[Drill]:
    """The drill world to run in: `given` (shared by several drills, left running, every worker revived first) or
    a new one with `members` members at `rate`, stopped and deleted afterwards."""
    if given is not None:
        given.revive()
        yield given
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        d = drill_world(Path(tmp), members, rate=rate)
        try:
            yield d
        finally:
            d.stop()


def drill_world(tmp: Path, members: int, n: int = 3, rate: float = 100.0, bootstrap: str | None = None,
                extra_env: dict | None = None) -> Drill:
    """N workers sharing one app id and topics, one sandbox (inbound to worker 0), `members` members + on-call."""
    tmp.mkdir(parents=True, exist_ok=True)
    workers = Workers(tmp, n, bootstrap=bootstrap, extra_env={**FAST, **(extra_env or {})})
    sandbox = Sandbox(tmp, workers.port(0))
    workers.update_env(sandbox_env(sandbox, rate))
    try:
        workers.start_all()
        tokens = {role: workers.token(role, f"drill-{role}") for role in ("reporter", "secretariat")}
        rows = member_rows(members, oncall=ONCALL)
        workers.cli("members", "import", str(write_csv(rows, tmp / "members.csv")))
        want = tail_count(rows)
        drill = Drill(workers, sandbox, tokens, rows, rate)
        # Every worker must see the whole list (a lookup from any of them), not a share of it.
        for i in range(n):
            wait_for(lambda: drill.workers.http(i).request(
                "GET", f"/api/v1/members?working_group={TAIL_GROUP}", token=tokens["secretariat"])[1].get("count")
                == want, max(120, members / 50), 1.0, f"{members} members on worker {i}")
    except BaseException as exc:
        tails = workers.log_tails(40)
        workers.stop_all()
        sandbox.stop()
        if isinstance(exc, Exception):
            raise RuntimeError(f"the drill's world did not come up: {exc}\n{tails}") from exc
        raise
    return drill


def budget(members: int, rate: float) -> float:
    """How long a fan-out may take on this machine: generous, so a slow machine shows a slow drill, not a loss."""
    return 300 + members / rate * 3


def sigkill_drill(members: int = 2_000, kills: int = 10, seed: int = 1, interval_s: float = 25.0,
                  world: Drill | None = None) -> dict:
    """SIGKILL a random worker at random points of a fan-out `kills` times (restarting it each time); lost and
    duplicated SMS per phone, and the failover time of each kill (kill -> first on-call SMS of a new critical
    report, which needs the survivors to have taken the dead worker's partitions; `all_paged_s`: kill -> the last
    of its on-call pages). In a shared `world`, its members and rate are used."""
    rng = random.Random(seed)
    # Slow enough that the kills (each followed by a restart) spread over the whole fan-out.
    rate = max(2.0, members / ((kills + 1) * interval_s))
    with world_for(world, "drill-failover-", members, rate) as d:
        members, rate = len(d.members), d.rate
        base = d.sandbox.counts()["sms"]
        action_id, ref = d.approve("za")
        failovers, pages, done = [], {}, 0  # pages: report reference -> when its worker was killed
        for k in range(kills):
            now = sum(d.received(ref, base).values())
            if now >= members:
                break
            lo = max(now + 1, members * k // kills)
            target = rng.randint(lo, max(lo, members * (k + 1) // kills - 1))
            try:
                wait_for(lambda: sum(d.received(ref, base).values()) >= target, budget(members, rate), 0.2,
                         "the fan-out to move on")
            except AssertionError:
                break
            victim = rng.choice(d.workers.alive())
            d.workers.kill(victim)
            killed = time.time()
            done += 1
            page_ref, _ = d.critical()
            first = d.first_page_at(page_ref, base, 120)
            failovers.append(round(first - killed, 2) if first else None)
            pages[page_ref] = killed
            d.workers.restart(victim)
        got = d.settle(ref, base, budget(members, rate))
        # Every page of every report, however late (the last of them waits for the killed worker's session to
        # lapse and the rebalance): counted only once each has had as long as a delivery may take.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and any(len(d.pages(r, base)) < ONCALL for r in pages):
            time.sleep(1.0)
        time.sleep(5)
        per_page = {r: d.pages(r, base) for r in pages}
        sms = d.sandbox.sms(base)
    oncall = set(d.oncall)
    last_page = [round(max(m["t"] for m in sms if r in m["body"] and m["to"] in oncall) - killed, 2)
                 if per_page[r] else None for r, killed in pages.items()]
    return {"members": members, "rate": rate, "kills": done, "failover_s": failovers,
            "worst_failover_s": max((f for f in failovers if f is not None), default=None),
            "all_paged_s": last_page,
            "pages_missing": sum(ONCALL - len(c) for c in per_page.values()),
            "pages_duplicated": sum(n - 1 for c in per_page.values() for n in c.values() if n > 1),
            **d.counts(got)}


def paging_drill(seconds: float = 30.0, every: float = 0.2, kill_at: float | None = None, seed: int = 2,
                 world: Drill | None = None) -> dict:
    """A critical report every `every` s for `seconds` while one worker is SIGKILLed: every report pages each
    on-call phone exactly once (counted at the sandbox); the worst page latency."""
    rng = random.Random(seed)
    kill_at = seconds / 3 if kill_at is None else kill_at
    with world_for(world, "drill-paging-", 10, 100.0) as d:
        base = d.sandbox.counts()["sms"]
        sent: dict[str, float] = {}
        lock, killed = threading.Lock(), {}

        def one(n: int) -> None:
            time.sleep(max(0.0, t0 + n * every - time.monotonic()))
            ref, at = d.critical(prefer=n % 3)
            with lock:
                sent[ref] = at

        def killer() -> None:
            time.sleep(kill_at)
            victim = rng.choice(d.workers.alive())
            d.workers.kill(victim)
            killed.update(worker=victim, at=time.time())

        t0 = time.monotonic()
        threading.Thread(target=killer, daemon=True).start()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(int(seconds / every))))
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and any(len(d.pages(r, base)) < ONCALL for r in sent):
            time.sleep(1.0)
        time.sleep(5)
        sms = d.sandbox.sms(base)
    oncall = set(d.oncall)
    per = {ref: Counter(m["to"] for m in sms if ref in m["body"] and m["to"] in oncall) for ref in sent}
    latency = {ref: min((m["t"] for m in sms if ref in m["body"] and m["to"] in oncall), default=None) for ref in sent}
    waits = [latency[r] - sent[r] for r in sent if latency[r] is not None]
    return {"reports": len(sent), "every_s": every, "killed": killed,
            "missing_pages": sum(ONCALL - len(c) for c in per.values()),
            "duplicated_pages": sum(n - 1 for c in per.values() for n in c.values() if n > 1),
            "exactly_once": all(len(c) == ONCALL and set(c.values()) == {1} for c in per.values()),
            "worst_page_latency_s": round(max(waits), 2) if waits else None,
            "median_page_latency_s": round(sorted(waits)[len(waits) // 2], 2) if waits else None}


def cluster_cmd(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """deploy/kafka/broker.py ARGS --nodes 3."""
    done = subprocess.run([sys.executable, str(BROKER), *args, "--nodes", "3"], capture_output=True, text=True,
                          timeout=600, cwd=str(ROOT))
    if check and done.returncode != 0:
        raise RuntimeError(f"broker.py {' '.join(args)} --nodes 3 failed: {done.stderr.strip()[-500:]}")
    return done


def cluster_available() -> tuple[bool, str]:
    """Whether this machine can run the local 3-node cluster (Java and the jars or Maven)."""
    done = subprocess.run([sys.executable, str(BROKER), "fetch"], capture_output=True, text=True, timeout=600)
    return done.returncode == 0, done.stderr.strip()[-300:]


def broker_node_drill(reports: int = 1_000, members: int = 500, node: int = 2) -> dict:
    """Stop one of three brokers in the middle of an intake of `reports` over the API and of a fan-out: zero
    reports lost or recorded twice, zero duplicated SMS, no 5xx other than a retryable 503 (retried with the same
    Idempotency-Key)."""
    ok, why = cluster_available()
    if not ok:
        return {"applicable": False, "why": f"no local 3-node cluster: {why}"}
    was_up = cluster_cmd("status", check=False).returncode == 0
    cluster_cmd("start")
    with tempfile.TemporaryDirectory(prefix="drill-brokers-") as tmp:
        try:
            d = drill_world(Path(tmp), members, bootstrap=CLUSTER, rate=max(20.0, members / 30),
                            extra_env={"SOLIDARITY_KAFKA__REPLICATION_FACTOR": "3"})
        except BaseException:
            if not was_up:
                cluster_cmd("stop", check=False)
            raise
        try:
            base = d.sandbox.counts()["sms"]
            action_id, ref = d.approve("ke")
            accepted, statuses, other_5xx, lock = {}, Counter(), Counter(), threading.Lock()
            stopped = {}

            def submit(n: int) -> None:
                if n == reports // 2:
                    t = time.time()
                    cluster_cmd("stop", "--node", str(node))
                    stopped.update(node=node, at=t, stop_s=round(time.time() - t, 1))
                status, receipt, seen = d.request("POST", "/api/v1/reports", named(unique_name(), country="co",
                                                  incident_type="surveillance"), role="reporter", prefer=n % 3,
                                                  headers={"Idempotency-Key": uuid.uuid4().hex})
                with lock:
                    statuses.update(str(s) for s in seen)
                    other_5xx.update(str(s) for s in seen if isinstance(s, int) and s >= 500 and s != 503)
                    if status == 202:
                        accepted[receipt["report_id"]] = receipt["case_id"]

            with ThreadPoolExecutor(8) as pool:
                list(pool.map(submit, range(reports)))
            got = d.settle(ref, base, budget(members, 20.0))
            cluster_cmd("start", "--node", str(node))

            def recorded() -> Counter:
                # Per report, its distinct case events. The same event written twice (a produce retried or an
                # event reprocessed while a broker fails over, faust-streaming issue 502) has the same event id
                # and is applied once (agents/casefile.py); two distinct events would be two records of it.
                events = {(e["report"]["report_id"], e["event_id"])
                          for e in (json.loads(v) for _, v in d.workers[0].read_topic(topics.CASE_EVENTS, 30))
                          if e.get("report")}
                return Counter(report_id for report_id, _ in events)

            deadline = time.monotonic() + 120
            while (seen := recorded()) and set(accepted) - set(seen) and time.monotonic() < deadline:
                time.sleep(2)
        finally:
            d.stop()
            if not was_up:
                cluster_cmd("stop", check=False)
    return {"applicable": True, "reports": reports, "accepted": len(accepted), "statuses": dict(statuses),
            "other_5xx": sum(other_5xx.values()), "lost_reports": len(set(accepted) - set(seen)),
            "reports_recorded_twice": sum(1 for r in accepted if seen.get(r, 0) > 1), **stopped,
            "sms": d.counts(got)}


def rolling_restart_drill(members: int = 2_000, pause_s: float = 3.0, world: Drill | None = None) -> dict:
    """SIGTERM, restart and wait for each of the three workers in turn during a fan-out: exactly once. In a
    shared `world`, its members and rate are used."""
    # The fan-out lasts about as long as three restarts (each about 25 s on a 2-core machine), so every worker
    # is restarted while it still has sends queued.
    rate = max(2.0, members / 120)
    with world_for(world, "drill-rolling-", members, rate) as d:
        members, rate = len(d.members), d.rate
        base = d.sandbox.counts()["sms"]
        action_id, ref = d.approve("ph")
        wait_for(lambda: d.received(ref, base), 120, 0.2, "the fan-out to start")
        restarts = []
        for i in range(len(d.workers)):
            t = time.monotonic()
            d.workers.restart(i)
            restarts.append({"worker": i, "sent_before": sum(d.received(ref, base).values()),
                             "restart_s": round(time.monotonic() - t, 1)})
            time.sleep(pause_s)
        got = d.settle(ref, base, budget(members, rate))
    counts = d.counts(got)
    return {"rate": rate, "restarts": restarts, **counts,
            "exactly_once": counts["lost"] == 0 and counts["duplicated"] == 0}


def main(kills: int = 10, members: int = 2_000, reports: int = 1_000) -> dict:
    """Every failover drill at full size; print the table and save the JSON (a drill that errors is recorded)."""
    ensure_broker()
    drills = {"sigkill": lambda: sigkill_drill(members, kills),
              "paging": lambda: paging_drill(),
              "broker_node": lambda: broker_node_drill(reports),
              "rolling_restart": lambda: rolling_restart_drill(members)}
    results = {}
    for name, drill in drills.items():
        try:
            results[name] = drill()
        except Exception as exc:  # noqa: BLE001 - one failed drill must not lose the others' counts
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:800]}
        save("failover", {"params": {"kills": kills, "members": members, "reports": reports}, "results": results})
    rows = []
    for name, r in results.items():
        if "error" in r:
            rows.append([name, "error", r["error"][:200]])
        elif name == "sigkill":
            rows.append([name, f"{r['members']} members, {r['kills']} kills",
                         f"lost {r['lost']}, duplicated {r['duplicated']}; failover s {r['failover_s']}"])
        elif name == "paging":
            rows.append([name, f"{r['reports']} critical reports, a kill", f"exactly once {r['exactly_once']} "
                         f"(missing {r['missing_pages']}, duplicated {r['duplicated_pages']}); worst "
                         f"{r['worst_page_latency_s']} s"])
        elif name == "broker_node":
            rows.append([name, f"{r.get('reports')} reports", r["why"] if not r["applicable"] else
                         f"lost {r['lost_reports']} of {r['accepted']}, twice {r['reports_recorded_twice']}, "
                         f"5xx other than 503 {r['other_5xx']}, SMS lost {r['sms']['lost']} dup {r['sms']['duplicated']}"])
        else:
            rows.append([name, f"{r['members']} members, 3 restarts", f"lost {r['lost']}, duplicated {r['duplicated']}"])
    show("Failover drills, three workers (target: zero lost, zero duplicated, exactly once)",
         ["drill", "size", "result"], rows)
    return results
