"""Run the real worker (and CLI) as subprocesses against the real broker, isolated by topic prefix."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bootstrap() -> str:
    """The broker the tests use."""
    return os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "127.0.0.1:9092"


def broker_up() -> bool:
    """True when the bootstrap broker accepts connections."""
    host, _, port = bootstrap().split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Poll until predicate() is truthy and return its value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


class Http:
    """A tiny JSON HTTP client (stdlib) for tests."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def request(self, method: str, path: str, body=None, token: str | None = None, raw: bytes | None = None,
                headers: dict | None = None) -> tuple[int, object]:
        """Send a request; return (status, parsed JSON or text)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text


class Stack:
    """A worker subprocess with its own app id, topic prefix, data dir and port."""

    def __init__(self, tmp: Path, extra_env: dict | None = None) -> None:
        tag = uuid.uuid4().hex[:8]
        self.port = free_port()
        self.tmp = tmp
        self.env = {
            **os.environ,
            "SOLIDARITY_APP_ID": f"solidarity-test-{tag}",
            "SOLIDARITY_TOPIC_PREFIX": f"test-{tag}.",
            "SOLIDARITY_DATA_DIR": str(tmp / "data"),
            "SOLIDARITY_WEB__PORT": str(self.port),
            "SOLIDARITY_WEB__PUBLIC_URL": f"http://127.0.0.1:{self.port}",
            "SOLIDARITY_KAFKA__BOOTSTRAP_SERVERS": bootstrap(),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.http = Http(f"http://127.0.0.1:{self.port}")
        self.proc: subprocess.Popen | None = None
        self.log_path = tmp / f"worker-{tag}.log"

    def cli(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run `solidarity ARGS` with this stack's settings."""
        result = subprocess.run([str(BIN / "solidarity"), *args], env=self.env, input=input, capture_output=True,
                                text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"solidarity {' '.join(args)} failed ({result.returncode}): {result.stdout}{result.stderr}")
        return result

    def start(self, timeout: float = 90.0) -> "Stack":
        """Start the worker and wait until /healthz reports the broker connected."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([str(BIN / "solidarity"), "worker", "-l", "info"], env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, cwd=str(ROOT), start_new_session=True)

        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status, body = self.http.request("GET", "/healthz")
            except OSError:
                return False
            return status == 200 and body

        wait_for(healthy, timeout, 0.25, "the worker's /healthz")
        return self

    def log_tail(self, lines: int = 40) -> str:
        """The end of the worker log, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send a signal to the worker's process group."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop the worker cleanly (SIGTERM, then SIGKILL after 20 s)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def token(self, role: str, name: str = "test") -> str:
        """Create a token with the CLI and wait until the worker accepts it."""
        token = self.cli("tokens", "create", "--role", role, "--name", name).stdout.strip().splitlines()[-1]
        probe = ("GET", "/api/v1/cases") if role == "secretariat" else ("POST", "/api/v1/reports")
        wait_for(lambda: self.http.request(*probe, body={} if probe[0] == "POST" else None, token=token)[0] not in (401,),
                 30, 0.2, f"the {role} token to be known to the worker")
        return token
