"""The sandbox client shared by tests/ and bench/: the project's Twilio-compatible gateway and SMTP sink as a
subprocess on free ports, and what its phones and mailboxes received.

    stack = Stack(tmp)
    sandbox = Sandbox(tmp, worker_port=stack.port)   # inbound SMS are posted to that worker's webhook
    stack.env.update(sandbox_env(sandbox))           # the worker sends SMS and email through the sandbox
    stack.start()                                    # (notify_stack(tmp) does these three steps)
    ana = sandbox.phone("+15551230001")              # a sandbox.device.Device
    ana.expect_sms("Reply SIGN").reply("SIGN")       # waits for it (Twilio Message JSON), then answers it
    ana.expect_no_sms(within=5)                      # nothing new for 5 s
    ana.received(), sandbox.all_sms(), sandbox.mail_to("ana@example.org")
    base = sandbox.counts()                          # benchmarks and drills: exact times, from an offset
    sandbox.sms(base["sms"]), sandbox.mail(base["mail"])
    sandbox.set_faults(error_rate=0.1)
    sandbox.stop()

Everything here is what the sandbox's phones and mailboxes got, never what our ledger says was sent: that is how
tests and drills prove exactly-once. The process is testing/sandbox_host.py, the sandbox unchanged plus a
read-only probe that serves the store's exact timestamps (the admin API renders whole seconds).
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

from sandbox.device import Device
from testing.stack import ROOT, Http, Stack, free_port, wait_for

ACCOUNT_SID = "ACtest0000000000000000000000000000"
AUTH_TOKEN = "test-auth-token-not-secret"
FROM = "+15005550006"


class Sandbox:
    """`python -m testing.sandbox_host` on free ports, inbound SMS to the worker on `worker_port`."""

    def __init__(self, tmp: Path, worker_port: int, faults: dict | None = None, seed: int = 7,
                 delivery_delay: float = 0.02) -> None:
        self.http_port, self.smtp_port, self.probe_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.http = Http(self.url)
        self.probe = Http(f"http://127.0.0.1:{self.probe_port}")
        self.log_path = tmp / "sandbox.log"
        args = [sys.executable, "-m", "testing.sandbox_host", "--probe-port", str(self.probe_port),
                "--http-port", str(self.http_port), "--smtp-port", str(self.smtp_port), "--account-sid", ACCOUNT_SID,
                "--auth-token", AUTH_TOKEN, "--seed", str(seed), "--delivery-delay", str(delivery_delay),
                "--inbound-webhook-url", f"http://127.0.0.1:{worker_port}/webhooks/twilio/sms"]
        if faults:
            args += ["--faults", json.dumps(faults)]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._up, 30, 0.1, "the sandbox")

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"sandbox exited: {self.log_path.read_text()[-2000:]}")
        try:
            # The probe starts after the gateway and the sink: once it answers, all three do.
            return self.probe.request("GET", "/probe/counts", timeout=2)[0] == 200
        except OSError:
            return False

    def _probed(self, path: str) -> dict:
        status, body = self.probe.request("GET", path, timeout=60)
        if status != 200:
            raise AssertionError(f"sandbox probe {path} answered {status}: {body}")
        return body

    def phone(self, number: str) -> Device:
        """One phone: what our number sent it (`expect_sms`, `expect_no_sms`), and texts it sends back (`reply`)."""
        return Device(self.url, number, our_number=FROM)

    def all_sms(self) -> list[dict]:
        """Every SMS from our number (sends and TwiML replies), oldest first, as Twilio Message JSON."""
        return [m for m in self.http.request("GET", "/sandbox/messages")[1] if m.get("from") == FROM]

    def mail_to(self, address: str) -> list[dict]:
        """Mails the SMTP sink received for an address, oldest first."""
        return self.http.request("GET", f"/sandbox/mail?to={urllib.parse.quote(address)}")[1]

    def attachment(self, url: str) -> bytes:
        """The bytes of a mail's attachment, by the `url` /sandbox/mail gives for it."""
        with urllib.request.urlopen(f"{self.url}{url}", timeout=10) as resp:
            return resp.read()

    def counts(self) -> dict:
        """How many SMS records (either direction, any sender) and mails the sandbox holds: offsets for sms/mail."""
        return self._probed("/probe/counts")

    def sms(self, start: int = 0) -> list[dict]:
        """SMS our number sent through the API from record `start` on, with exact creation times (epoch seconds)."""
        items = self._probed(f"/probe/sms?start={start}")["items"]
        return [{"to": i[0], "t": i[2], "body": i[3], "status": i[5], "segments": i[6]}
                for i in items if i[1] == FROM and i[4] == "outbound-api"]

    def outbound(self, start: int = 0) -> list[dict]:
        """SMS sent through the API from any sender (a pool), from record `start` on, with exact creation times."""
        items = self._probed(f"/probe/sms?start={start}")["items"]
        return [{"to": i[0], "from": i[1], "t": i[2], "body": i[3], "status": i[5], "segments": i[6]}
                for i in items if i[4] == "outbound-api"]

    def mail(self, start: int = 0) -> list[dict]:
        """Mails received from mail `start` on, with exact times (epoch seconds)."""
        return [{"to": i[0], "t": i[1], "subject": i[2], "text": i[3], "message_id": i[4]}
                for i in self._probed(f"/probe/mail?start={start}")["items"]]

    def set_faults(self, **changes: object) -> dict:
        """Change the injected faults (as POST /sandbox/faults); the faults now in force."""
        return self.http.request("POST", "/sandbox/faults", changes)[1]

    def stop(self) -> None:
        """Stop the sandbox (SIGTERM, then SIGKILL after 10 s)."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def sandbox_env(sandbox: Sandbox, rate: float = 1000.0) -> dict:
    """The worker settings that send SMS and email through `sandbox`, at `rate` per second, with short back-offs."""
    return {
        "SOLIDARITY_TWILIO__BASE_URL": sandbox.url, "SOLIDARITY_TWILIO__ACCOUNT_SID": ACCOUNT_SID,
        "SOLIDARITY_TWILIO__AUTH_TOKEN": AUTH_TOKEN, "SOLIDARITY_TWILIO__FROM_NUMBER": FROM,
        "SOLIDARITY_TWILIO__TIMEOUT_SECONDS": "2",
        "SOLIDARITY_SMTP__PORT": str(sandbox.smtp_port),
        "SOLIDARITY_DELIVERY__SMS_SEGMENTS_PER_SECOND": str(rate),
        "SOLIDARITY_DELIVERY__EMAIL_PER_SECOND": str(rate),
        "SOLIDARITY_DELIVERY__BACKOFF_BASE_SECONDS": "0.2",
        "SOLIDARITY_DELIVERY__BACKOFF_MAX_SECONDS": "2",
        "SOLIDARITY_DELIVERY__MAX_ATTEMPTS": "8",
        "SOLIDARITY_DELIVERY__RECONCILE_AFTER_SECONDS": "5",
    }


def notify_stack(tmp: Path, faults: dict | None = None, rate: float = 1000.0,
                 extra_env: dict | None = None) -> tuple[Stack, Sandbox]:
    """A sandbox and a worker wired to it (not started yet: call stack.start())."""
    stack = Stack(tmp)
    sandbox = Sandbox(tmp, stack.port, faults)
    stack.env.update({**sandbox_env(sandbox, rate), **(extra_env or {})})
    return stack, sandbox
