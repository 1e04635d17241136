"""A full stack for notification tests: the real sandbox (Twilio-compatible + SMTP sink) and a real worker."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from testing.stack import ROOT, Http, Stack, free_port, wait_for

ACCOUNT_SID = "ACtest0000000000000000000000000000"
AUTH_TOKEN = "test-auth-token-not-secret"
FROM = "+15005550006"


class Sandbox:
    """`python -m sandbox` as a subprocess on free ports."""

    def __init__(self, tmp: Path, worker_port: int, faults: dict | None = None, seed: int = 7) -> None:
        self.http_port, self.smtp_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.http = Http(self.url)
        self.log_path = tmp / "sandbox.log"
        args = [sys.executable, "-m", "sandbox", "--http-port", str(self.http_port), "--smtp-port",
                str(self.smtp_port), "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN, "--seed", str(seed),
                "--inbound-webhook-url", f"http://127.0.0.1:{worker_port}/webhooks/twilio/sms",
                "--delivery-delay", "0.02"]
        if faults:
            args += ["--faults", json.dumps(faults)]
        self.proc = subprocess.Popen(args, cwd=str(ROOT), stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT)
        wait_for(lambda: self._up(), 30, 0.1, "the sandbox")

    def _up(self) -> bool:
        try:
            return self.http.request("GET", "/sandbox/faults")[0] == 200
        except OSError:
            return False

    def sms_to(self, phone: str) -> list[dict]:
        """Messages the sandbox accepted for a phone (outbound from us)."""
        return [m for m in self.http.request("GET", f"/sandbox/messages?to={urllib.request.quote(phone)}")[1]
                if m.get("from") == FROM]

    def all_sms(self) -> list[dict]:
        """Every SMS we sent through the sandbox."""
        return [m for m in self.http.request("GET", "/sandbox/messages")[1] if m.get("from") == FROM]

    def mail_to(self, address: str) -> list[dict]:
        """Mails the SMTP sink received for an address."""
        return self.http.request("GET", f"/sandbox/mail?to={urllib.request.quote(address)}")[1]

    def faults(self, **changes) -> dict:
        """Change the sandbox's injected faults."""
        return self.http.request("POST", "/sandbox/faults", changes)[1]

    def reply(self, phone: str, body: str) -> dict:
        """A member texts us: the sandbox posts a signed webhook to the worker."""
        return self.http.request("POST", "/sandbox/inbound", {"from": phone, "body": body})

    def stop(self) -> None:
        """Stop the sandbox."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def notify_stack(tmp: Path, faults: dict | None = None, rate: float = 1000.0,
                 extra_env: dict | None = None) -> tuple[Stack, Sandbox]:
    """A sandbox and a worker wired to it (not started yet: call stack.start())."""
    stack = Stack(tmp)
    sandbox = Sandbox(tmp, stack.port, faults)
    stack.env.update({**sandbox_env(sandbox, rate), **(extra_env or {})})
    return stack, sandbox


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


def start_world(tmp: Path, faults: dict | None = None, rate: float = 1000.0,
                extra_env: dict | None = None) -> tuple[Stack, Sandbox, dict]:
    """Sandbox + worker started, the 500 demo members imported and known, and one token per role."""
    from tests.members_data import MEMBERS_CSV

    stack, sandbox = notify_stack(tmp, faults=faults, rate=rate, extra_env=extra_env)
    try:
        stack.start()
        stack.cli("members", "import", str(MEMBERS_CSV))
        tokens = {"reporter": stack.token("reporter"), "secretariat": stack.token("secretariat")}
        wait_for(lambda: stack.http.request("GET", "/api/v1/members", token=tokens["secretariat"])[1].get("count")
                 == 500, 60, 0.2, "the 500 demo members")
    except BaseException:
        # A fixture that fails half-way must not leave its worker and sandbox running.
        stack.stop()
        sandbox.stop()
        raise
    return stack, sandbox, tokens
