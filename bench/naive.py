"""The naive baseline: the unmodified twilio client's messages.create, one after another, against the sandbox with
the same API latency (and the same senders) as the Solidarity run it is compared with.

A sequential loop waits for each answer before the next request, so its rate is 1 / (API latency + client time),
the same for 300 messages as for 10,000: it is run on a sample.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from bench.common import CpuMeter
from bench.members import member_rows
from testing.sandbox import ACCOUNT_SID, AUTH_TOKEN, Sandbox

BODY = "[Solidarity] Solidarity message SOL-NAIVE1: land grab in the Philippines. Reply SIGN to co-sign."


def naive_loop(messages: int, faults: dict, sender: str) -> dict:
    """Send `messages` SMS from `sender` with messages.create in a loop, against a sandbox with `faults`."""
    from twilio.rest import Client

    with tempfile.TemporaryDirectory(prefix="bench-naive-") as tmp:
        sandbox = Sandbox(Path(tmp), worker_port=9, faults=faults)
        meter = CpuMeter(client=os.getpid(), sandbox=sandbox.proc.pid)
        try:
            client = Client(ACCOUNT_SID, AUTH_TOKEN)
            client.edge = client.region = None
            client.api.base_url = sandbox.url
            phones = [r["phone"] for r in member_rows(messages)]
            client.messages.create(to=phones[0], from_=sender, body=BODY)  # the connection, opened before timing
            base = sandbox.counts()["sms"]
            t0 = time.perf_counter()
            meter.start()
            for phone in phones:
                client.messages.create(to=phone, from_=sender, body=BODY)
            elapsed = time.perf_counter() - t0
            cpu = meter.stop(elapsed)
            held = sandbox.counts()["sms"] - base
        finally:
            sandbox.stop()
    return {"messages": messages, "seconds": elapsed, "per_s": messages / elapsed, "sandbox_held": held,
            "ms_per_sms": 1000 * elapsed / messages, "cpu": cpu,
            "client_cpu_ms_per_sms": (cpu["cpu_s"]["client"] or 0) * 1000 / messages}
