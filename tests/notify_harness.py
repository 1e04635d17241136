"""A full stack for notification tests: the real sandbox (Twilio-compatible + SMTP sink), a real worker, the
500 demo members and a token per role. The sandbox client itself is testing/sandbox.py."""

from __future__ import annotations

from pathlib import Path

from testing.sandbox import Sandbox, notify_stack
from testing.stack import Stack, wait_for
from tests.members_data import MEMBERS_CSV


def start_world(tmp: Path, faults: dict | None = None, rate: float = 1000.0,
                extra_env: dict | None = None) -> tuple[Stack, Sandbox, dict]:
    """Sandbox + worker started, the 500 demo members imported and known, and one token per role."""
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
