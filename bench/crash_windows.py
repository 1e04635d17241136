"""Drills aimed at the windows right after an approval: SIGKILL the worker at fixed short delays, counted per phone
and per mailbox on the sandbox's side, never from our ledger.

Every call to action goes to the same members on the same case with the same text (the hardest case for the
recovery lookup: the previous action's message looks exactly like this one's), and one round approves two actions
at once before the kill. Zero lost, zero duplicated, every action finished; an email may be resent after a crash
only with the same Message-ID.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from bench.common import verified_case
from bench.world import load_world
from testing.samples import named, unique_name
from testing.stack import wait_for

# Short waits so a test-sized drill finishes in minutes: the sweep and the reconciler act after 3 s of quiet.
FAST = {"SOLIDARITY_DELIVERY__PLAN_QUIET_SECONDS": "3", "SOLIDARITY_DELIVERY__RECONCILE_AFTER_SECONDS": "3"}


def approve_on(stack, tokens, case_id: str, channels: list[str]) -> str:
    """Approve the prefilled solidarity message (the same text each time) on one case; its action id."""
    status, body = stack.http.request("POST", f"/api/v1/cases/{case_id}/actions",
                                      {"kind": "solidarity_message", "channels": channels}, token=tokens["secretariat"])
    assert status == 202, body
    return body["action_id"]


def progress(stack, tokens, action_id: str) -> dict:
    """GET /api/v1/actions/{id} (empty until the action is known)."""
    status, body = stack.http.request("GET", f"/api/v1/actions/{action_id}", token=tokens["secretariat"])
    return body if status == 200 else {}


def count_received(sandbox, base: dict, ref: str, rows: list[dict], actions: int, channels: list[str]) -> dict:
    """Per phone and per mailbox: how many distinct messages of this case arrived, against `actions` expected."""
    out: dict = {}
    if "sms" in channels:
        per_phone = Counter(m["to"] for m in sandbox.sms(base["sms"]) if ref in m["body"])
        got = [per_phone.get(r["phone"], 0) for r in rows]
        out["sms"] = {"expected_per_phone": actions, "phones": len(rows), "received": sum(got),
                      "lost": sum(max(0, actions - n) for n in got),
                      "duplicated": sum(max(0, n - actions) for n in got)}
    if "email" in channels:
        ids, copies = defaultdict(set), Counter()
        for m in sandbox.mail(base["mail"]):
            if ref in (m["subject"] or "") + (m["text"] or ""):
                ids[m["to"]].add(m["message_id"])
                copies[m["to"]] += 1
        got = [len(ids.get(r["email"], ())) for r in rows]
        out["email"] = {"expected_per_mailbox": actions, "mailboxes": len(rows), "received": sum(copies.values()),
                        "lost": sum(max(0, actions - n) for n in got),
                        "duplicated": sum(max(0, n - actions) for n in got),
                        "resent_same_message_id": sum(copies.values()) - sum(got)}
    return out


def crash_window_drill(members: int = 50, delays: tuple[float, ...] = (0.1, 0.3, 1.0, 2.0), in_flight_pair: bool = True,
                       channels: tuple[str, ...] = ("sms", "email"), rate: float = 50.0) -> dict:
    """SIGKILL the worker `delay` seconds after each approval (and once after two approvals), restart it, and
    count on the sandbox what every phone and mailbox received once every action says it is finished."""
    chans = list(channels)
    with tempfile.TemporaryDirectory(prefix="drill-window-") as tmp:
        stack, sandbox, tokens, rows = load_world(Path(tmp), members, rate=rate, extra_env=FAST)
        try:
            receipt = verified_case(stack, tokens, named(unique_name(), incident_type="land_grab", country="ph"))
            ref, base = receipt["reference"], sandbox.counts()
            actions, rounds, restarts = [], [], []
            plan = [(d, 1) for d in delays] + ([(0.5, 2)] if in_flight_pair else [])
            for delay, at_once in plan:
                ids = [approve_on(stack, tokens, receipt["case_id"], chans) for _ in range(at_once)]
                actions += ids
                time.sleep(delay)
                stack.kill()
                t0 = time.monotonic()
                stack.start(180)
                # /healthz answers before the tables are back: wait until the API knows the token again.
                wait_for(lambda: stack.http.request("GET", "/api/v1/cases", token=tokens["secretariat"])[0] == 200,
                         180, 0.2, "the restarted worker to know the secretariat token")
                restarts.append(round(time.monotonic() - t0, 1))
                rounds.append({"delay_s": delay, "actions": len(ids)})
            # Generous: a slow machine must show a slow drill, not an unfinished one.
            budget = 300 + members * len(actions) * len(chans) / rate * 3
            t0 = time.monotonic()
            # Not wait_for: an action that never finishes is a result to count, not an error.
            while (finals := _all_finished(stack, tokens, actions)) is None and time.monotonic() - t0 < budget:
                time.sleep(1.0)
            finals = finals or [progress(stack, tokens, a) for a in actions]
            settle_s = time.monotonic() - t0
            time.sleep(3)  # a duplicate sent late would land now
            received = count_received(sandbox, base, ref, rows, len(actions), chans)
        finally:
            stack.stop()
            sandbox.stop()
    counts = [f.get("counts", {}) for f in finals]
    return {"members": members, "channels": chans, "rounds": rounds, "actions": len(actions),
            "restart_s": restarts, "finish_after_last_restart_s": round(settle_s, 1),
            "finished": sum(1 for f in finals if f.get("finished")),
            "targeted_equals_final": all(c.get("targeted") == sum(c.get(s, 0) for s in (
                "delivered", "failed", "opted_out", "cancelled", "unknown")) for c in counts),
            "unknown": sum(c.get("unknown", 0) for c in counts), "received": received,
            "lost": sum(r["lost"] for r in received.values()),
            "duplicated": sum(r["duplicated"] for r in received.values())}


def _all_finished(stack, tokens, actions: list[str]) -> list[dict] | None:
    states = [progress(stack, tokens, a) for a in actions]
    return states if all(s.get("finished") for s in states) else None
