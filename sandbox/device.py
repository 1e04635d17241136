"""A phone on the sandbox, as tests and drills hold it: what our number sent it, and what it texts back.

    ana = Device("http://127.0.0.1:8070", "+50491236721", our_number="+15005550006")
    ana.expect_sms(contains="SOL-").reply("ACK")      # waits for the page, answers it
    ana.expect_sms(contains="acknowledged")            # the next new SMS containing that
    bea.expect_no_sms(within=8)                        # nothing arrives in the next 8 s

Shipped with the sandbox (as GoAlert's mocktwilio ships its assertions): it talks to the sandbox's own admin API
only (`GET /sandbox/messages?to=`, `POST /sandbox/inbound`), so what it sees is what the phone received, never
what our ledger says was sent. Standard library only.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request


class SmsNotReceived(AssertionError):
    """The SMS the test waited for did not arrive in time."""


class UnexpectedSms(AssertionError):
    """An SMS arrived that the test said must not."""


def _request(url: str, method: str = "GET", body: dict | None = None, timeout: float = 30.0) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        status, text = err.code, err.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


class Sms(dict):
    """One SMS a phone received (Twilio Message JSON), that can be answered: `.reply("SIGN")`."""

    def __init__(self, device: Device, message: dict) -> None:
        super().__init__(message)
        self.device = device

    def reply(self, body: str) -> Device:
        """The phone texts `body` back; the device, to chain `.expect_sms(...)`."""
        self.device.send(body)
        return self.device


class Device:
    """One phone number on the sandbox. Each SMS is returned by `expect_sms` once (the next call waits for a new
    one), so a test reads like the phone's screen, oldest first."""

    def __init__(self, sandbox_url: str, number: str, our_number: str | None = None) -> None:
        self.url, self.number, self.our_number = sandbox_url.rstrip("/"), number, our_number
        self._seen: set[str] = set()

    def received(self) -> list[dict]:
        """Every SMS our number sent this phone, oldest first."""
        status, items = _request(f"{self.url}/sandbox/messages?to={urllib.parse.quote(self.number)}")
        if status != 200:
            raise AssertionError(f"sandbox answered {status} for the messages of {self.number}: {items}")
        return [m for m in items if self.our_number is None or m.get("from") == self.our_number]

    def unseen(self, contains: str = "") -> list[dict]:
        """SMS not yet returned by expect_sms, containing `contains`."""
        return [m for m in self.received() if m["sid"] not in self._seen and contains in m["body"]]

    def expect_sms(self, contains: str = "", timeout: float = 30.0) -> Sms:
        """Wait for a new SMS containing `contains`; that SMS (marked seen)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.unseen(contains)
            if found:
                self._seen.add(found[0]["sid"])
                return Sms(self, found[0])
            if time.monotonic() >= deadline:
                got = [m["body"] for m in self.received()]
                raise SmsNotReceived(f"{self.number} received no new SMS containing {contains!r} within "
                                     f"{timeout:.0f} s; it holds {len(got)}: {got[-5:]!r}")
            time.sleep(0.05)

    def expect_no_sms(self, within: float, contains: str = "") -> Device:
        """Watch for `within` seconds from now: fail as soon as an SMS containing `contains` arrives (what the
        phone already holds does not count)."""
        held = {m["sid"] for m in self.received()}
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            found = [m for m in self.unseen(contains) if m["sid"] not in held]
            if found:
                raise UnexpectedSms(f"{self.number} received {found[0]['body']!r}, expected no new SMS"
                                    + (f" containing {contains!r}" if contains else "") + f" within {within:.0f} s")
            time.sleep(0.1)
        return self

    def send(self, body: str) -> tuple[int, object]:
        """The phone texts us: the sandbox posts a signed inbound webhook to the service; its answer."""
        status, answer = _request(f"{self.url}/sandbox/inbound", "POST", {"from": self.number, "body": body})
        if status >= 300:
            raise AssertionError(f"the sandbox refused the inbound SMS from {self.number}: {status} {answer}")
        return status, answer

    def reply(self, body: str) -> tuple[int, object]:
        """The same as send (a reply to whatever the phone last received)."""
        return self.send(body)
