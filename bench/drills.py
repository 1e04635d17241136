"""Fault drills: a worker SIGKILLed mid fan-out, a broker restarted mid intake, provider faults at 20%, and
malformed reports by the thousand. Each returns counts (lost, duplicated, 5xx, crashes), never timings."""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import BROKER_PIDFILE, ROOT, ensure_broker, save, show, world
from bench.crash_windows import crash_window_drill
from bench.world import approve, load_world
from streams import topics
from testing.samples import report
from testing.stack import bootstrap, broker_up, wait_for

FAULTS_20 = {"error_rate": 0.05, "throttle_rate": 0.05, "timeout_rate": 0.05, "timeout_accepts": True,
             "timeout_seconds": 3.0, "undelivered_rate": 0.05}
BROKER = ROOT / "deploy" / "kafka" / "broker.py"
# Kill points after an approval: while the plan is produced, while the first batches are in flight, and later.
WINDOW_DELAYS = (0.05, 0.1, 0.3, 0.6, 1.0, 2.0, 4.0)


def action_counts(stack, tokens, action_id: str) -> dict:
    """The action's counters from the API (zeros before it is known)."""
    status, body = stack.http.request("GET", f"/api/v1/actions/{action_id}", token=tokens["secretariat"])
    return body.get("counts", {}) if status == 200 else {}


def settled(stack, tokens, action_id: str) -> dict | None:
    """The counts once every queued notification is delivered or failed, else None."""
    c = action_counts(stack, tokens, action_id)
    return c if c.get("queued") and c["delivered"] + c["failed"] >= c["queued"] else None


def sigkill_drill(members: int = 2_000, kills: int = 10, rate: float = 100.0, seed: int = 1) -> dict:
    """SIGKILL the worker at random points of a fan-out, restart it each time; lost and duplicated SMS per phone."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="drill-kill-") as tmp:
        stack, sandbox, tokens, rows = load_world(Path(tmp), members, rate=rate)
        try:
            base = sandbox.counts()["sms"]
            action_id, ref, _ = approve(stack, tokens, ["sms"], "za")
            expected = {r["phone"] for r in rows}
            done_kills, at = 0, []

            def sent() -> int:
                return sum(1 for m in sandbox.sms(base) if ref in m["body"])

            for k in range(kills):
                now = sent()
                if now >= members:
                    break
                # A random point of what is left, so the kills spread over the whole fan-out.
                target = now + rng.randint(1, max(1, (members - now) // (kills - k + 1)))
                try:
                    wait_for(lambda: sent() >= target, 120, 0.05, "the fan-out to move on")
                except AssertionError:
                    break
                stack.kill()
                done_kills += 1
                at.append(sent())
                stack.start(180)
            wait_for(lambda: settled(stack, tokens, action_id), members / rate * 3 + 180, 1.0, "the fan-out to settle")
            time.sleep(2)
            per_phone = Counter(m["to"] for m in sandbox.sms(base) if ref in m["body"])
        finally:
            stack.stop()
            sandbox.stop()
    return {"members": members, "kills": done_kills, "sent_at_each_kill": at,
            "lost": len(expected - set(per_phone)), "duplicated": sum(n - 1 for n in per_phone.values())}


def broker_restart_drill(reports: int = 1_000, restart_after: int | None = None) -> dict:
    """Restart the project's own broker in the middle of an intake over the API; accepted reports that never
    became cases are lost. Not applicable on an external cluster or a broker this project did not start."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return {"applicable": False, "why": "KAFKA_BOOTSTRAP_SERVERS is set: not our broker to restart"}
    if not BROKER_PIDFILE.exists():
        return {"applicable": False,
                "why": f"no {BROKER_PIDFILE.relative_to(ROOT)}: the broker was not started by this project"}
    restart_after = restart_after or reports // 2
    with tempfile.TemporaryDirectory(prefix="drill-broker-") as tmp:
        stack, sandbox = world(Path(tmp))
        try:
            tokens = {"reporter": stack.token("reporter"), "secretariat": stack.token("secretariat")}
            accepted, refused, errors, restart = {}, Counter(), 0, {}
            during = Counter()
            lock, started = threading.Lock(), itertools.count()

            def restart_now() -> None:
                try:
                    restart.update(restart_broker())
                except Exception as exc:  # noqa: BLE001 - recorded; the finally below restarts the broker
                    restart["restart_error"] = f"{type(exc).__name__}: {exc}"[:300]

            restarter = threading.Thread(target=restart_now, daemon=True)

            def submit(_: int) -> None:
                # Several clients at once, and they keep submitting while the broker is down: a report is
                # either accepted (202) and must become a case, or refused with a status the client sees.
                nonlocal errors
                if next(started) == restart_after:
                    restarter.start()
                outage = restarter.is_alive()
                body = report(incident_type="surveillance", country="co",
                              defenders=[{"name": f"Defensora {uuid.uuid4().hex[:10]}", "gender": "woman"}])
                try:
                    status, receipt = stack.http.request("POST", "/api/v1/reports", body, token=tokens["reporter"])
                except OSError:
                    with lock:
                        errors += 1
                        if outage:
                            during["connection_error"] += 1
                    return
                with lock:
                    if outage:
                        during[status] += 1
                    if status == 202:
                        accepted[receipt["case_id"]] = receipt["report_id"]
                    else:
                        refused[status] += 1

            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(submit, range(reports)))
            if restarter.ident is not None:
                restarter.join(timeout=400)

            def missing():
                opened = {json.loads(v)["report"]["report_id"] for _, v in stack.read_topic(topics.CASE_EVENTS, 30)
                          if json.loads(v).get("report")}
                return [c for c, r in accepted.items() if r not in opened]

            deadline = time.monotonic() + 120
            lost = missing()
            while lost and time.monotonic() < deadline:
                time.sleep(2)
                lost = missing()
            alive = stack.proc.poll() is None
        finally:
            stack.stop()
            sandbox.stop()
            if not broker_up():
                # Whatever happened, leave the shared broker running.
                subprocess.run([sys.executable, str(BROKER), "start"], capture_output=True, timeout=300)
    return {"applicable": True, "reports": reports, "accepted": len(accepted), "refused": dict(refused),
            "connection_errors": errors, "submitted_during_restart": {str(k): v for k, v in during.items()},
            "lost": len(lost), "worker_alive_after": alive, **restart}


def restart_broker(attempts: int = 3) -> dict:
    """Stop the project's broker and start it again (retrying a failed start); what happened, with times."""
    t0 = time.monotonic()
    subprocess.run([sys.executable, str(BROKER), "stop"], check=True, capture_output=True, timeout=120)
    out = {"stopped_s": time.monotonic() - t0, "start_errors": []}
    for _ in range(attempts):
        done = subprocess.run([sys.executable, str(BROKER), "start"], capture_output=True, text=True, timeout=300)
        if done.returncode == 0 or broker_up():
            break
        out["start_errors"].append(done.stderr.strip()[-300:])
        time.sleep(5)
    wait_for(broker_up, 120, 1.0, "the restarted broker")
    out["down_s"] = time.monotonic() - t0
    return out


def faults_drill(members: int = 2_000, rate: float = 1000.0) -> dict:
    """20% provider faults (500s, 429s, timeouts that were accepted, undelivered): every SMS ends delivered or
    dead-lettered, none twice."""
    with tempfile.TemporaryDirectory(prefix="drill-faults-") as tmp:
        stack, sandbox, tokens, rows = load_world(Path(tmp), members, rate=rate)
        try:
            sandbox.set_faults(**FAULTS_20)
            base = sandbox.counts()["sms"]
            action_id, ref, _ = approve(stack, tokens, ["sms"], "ph")
            counts = wait_for(lambda: settled(stack, tokens, action_id), members / 20 + 240, 1.0, "every SMS to settle")
            time.sleep(2)
            per_phone = Counter(m["to"] for m in sandbox.sms(base) if ref in m["body"])
            letters = {json.loads(v)["key"] for _, v in stack.read_topic(topics.NOTIFY_DLQ, 30)}
            ours = {k for k in letters if k.startswith(f"act:{action_id}:")}
            ledger_delivered = counts["delivered"]
        finally:
            stack.stop()
            sandbox.stop()
    queued = counts["queued"]
    return {"members": members, "faults": FAULTS_20, "queued": queued, "delivered": ledger_delivered,
            "dead_lettered": len(ours), "neither": queued - ledger_delivered - len(ours),
            "duplicated": sum(n - 1 for n in per_phone.values())}


def malformed_bodies(n: int, seed: int = 0) -> list:
    """`n` malformed report bodies from hypothesis: near-valid reports with fields broken, and arbitrary JSON."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    valid = report()
    junk = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
                        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                        max_leaves=10)
    broken = st.builds(lambda drop, change, value: {k: (value if k == change else v) for k, v in valid.items()
                                                    if k != drop},
                       st.sampled_from(list(valid) + [None]), st.sampled_from(list(valid)), junk)
    out: list = []

    @settings(max_examples=n, database=None, phases=[Phase.generate], deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(broken, junk))
    def collect(body):
        out.append(body)

    collect()
    return out[:n]


def malformed_drill(n: int = 10_000) -> dict:
    """Malformed reports against the API (count 5xx) and straight onto the intake topic (count worker crashes)."""
    from kafka import KafkaProducer

    bodies = malformed_bodies(n)
    with tempfile.TemporaryDirectory(prefix="drill-malformed-") as tmp:
        stack, sandbox = world(Path(tmp))
        try:
            token = stack.token("reporter")
            statuses = Counter()
            for body in bodies:
                try:
                    statuses[stack.http.request("POST", "/api/v1/reports", body, token=token)[0]] += 1
                except OSError:
                    statuses["connection error"] += 1
            raw = [json.dumps(b).encode() for b in bodies[: n // 2]] + [os.urandom(random.Random(i).randint(0, 64))
                                                                         for i in range(n - n // 2)]
            producer = KafkaProducer(bootstrap_servers=bootstrap(), linger_ms=5)
            name = topics.full_name(topics.REPORTS_SUBMITTED, stack.env["SOLIDARITY_TOPIC_PREFIX"])
            for i, value in enumerate(raw):
                producer.send(name, key=f"k{i % 97}".encode(), value=value)
            producer.flush(60)
            producer.close()

            def handled():
                if stack.proc.poll() is not None:
                    return "crashed"
                dlq = sum(1 for _ in stack.read_topic(topics.REPORTS_DLQ, 30))
                return dlq if dlq >= len(bodies) + len(raw) - statuses[202] else None

            try:
                outcome = wait_for(handled, 300, 2.0, "every malformed message dead-lettered")
            except AssertionError:
                outcome = None
            alive = stack.proc.poll() is None
            healthy = alive and stack.http.request("GET", "/healthz")[0] == 200
        finally:
            stack.stop()
            sandbox.stop()
    return {"api_requests": len(bodies), "api_status": {str(k): v for k, v in statuses.items()},
            "api_5xx": sum(v for k, v in statuses.items() if isinstance(k, int) and k >= 500),
            "api_accepted_202": statuses[202], "topic_messages": len(raw), "dead_letters": outcome,
            "worker_crashes": 0 if alive else 1, "healthy_after": healthy}


def main(kills: int = 10, members: int = 2_000, malformed: int = 10_000, broker: bool = True) -> dict:
    """Every drill at full size; print the table and save the JSON (a drill that errors is recorded as such)."""
    ensure_broker()
    drills = {"sigkill": lambda: sigkill_drill(members, kills),
              "crash_windows": lambda: crash_window_drill(members, delays=WINDOW_DELAYS, in_flight_pair=True,
                                                          rate=200.0),
              "faults": lambda: faults_drill(members),
              "malformed": lambda: malformed_drill(malformed),
              "broker_restart": (lambda: broker_restart_drill(1_000)) if broker else
              (lambda: {"applicable": False, "why": "skipped on request (--no-broker)"})}
    results = {}
    for name, drill in drills.items():
        try:
            results[name] = drill()
        except Exception as exc:  # noqa: BLE001 - one failed drill must not lose the others' counts
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        save("drills", {"params": {"kills": kills, "members": members, "malformed": malformed}, "results": results})
    k, f, m, b = results["sigkill"], results["faults"], results["malformed"], results["broker_restart"]
    w = results["crash_windows"]
    if any("error" in r for r in results.values()):
        show("Fault drills that errored", ["drill", "error"], [[n, r["error"]] for n, r in results.items() if "error" in r])
        return results
    show("Fault drills (target: zero lost, zero duplicated, zero 5xx, zero crashes)", ["drill", "size", "result"], [
        ["SIGKILL mid fan-out", f"{k['members']} members, {k['kills']} kills", f"lost {k['lost']}, duplicated {k['duplicated']}"],
        ["SIGKILL right after approvals", f"{w['members']} members, {w['actions']} actions, kills at "
                                          f"{', '.join(str(r['delay_s']) for r in w['rounds'])} s",
         f"SMS lost {w['received']['sms']['lost']}, duplicated {w['received']['sms']['duplicated']}; email lost "
         f"{w['received']['email']['lost']}, duplicated {w['received']['email']['duplicated']} (resent with the "
         f"same Message-ID {w['received']['email']['resent_same_message_id']}); finished {w['finished']}/"
         f"{w['actions']}, unknown {w['unknown']}"],
        ["provider faults 20%", f"{f['queued']} SMS", f"delivered {f['delivered']}, dead-lettered {f['dead_lettered']}, "
                                                     f"neither {f['neither']}, duplicated {f['duplicated']}"],
        ["malformed reports", f"{m['api_requests']} API + {m['topic_messages']} topic",
         f"5xx {m['api_5xx']}, crashes {m['worker_crashes']}, accepted {m['api_accepted_202']}"],
        ["broker restart mid intake", f"{b.get('reports', '-')} reports",
         f"lost {b['lost']} of {b['accepted']} accepted, refused {b['refused']}, sent while down "
         f"{b.get('submitted_during_restart')}, down {b.get('down_s', 0):.1f} s" if b["applicable"] else b["why"]],
    ])
    save("drills", {"params": {"kills": kills, "members": members, "malformed": malformed}, "results": results})
    return results
