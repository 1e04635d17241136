"""Run the real worker (and CLI) as subprocesses against the real broker, isolated by topic prefix.

Shared by tests/ and bench/ (ROOT is the repository root). Every stack's topics are deleted when the process
that made it exits (set SOLIDARITY_KEEP_TEST_TOPICS=1 to keep them for a post-mortem): a broker that keeps
every run's topics slows down until it stops answering (seen at about 5,000 topics: 20 s per metadata request).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

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
                headers: dict | None = None, timeout: float = 30.0) -> tuple[int, object]:
        """Send a request; return (status, parsed JSON or text)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, text = resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text


# Every stack made by this process, whose topics are deleted at exit.
_MADE: list["Stack"] = []


def delete_topics(servers: str, prefixes: tuple[str, ...], timeout_ms: int = 15000) -> int:
    """Delete every topic whose name starts with one of `prefixes`; how many were deleted."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=[s.strip() for s in servers.split(",") if s.strip()],
                                 client_id="solidarity-test-cleanup", request_timeout_ms=timeout_ms,
                                 bootstrap_timeout_ms=5000)
    except KafkaError:
        return 0
    try:
        names = [t for t in admin.list_topics() if t.startswith(prefixes)]
        for i in range(0, len(names), 100):
            try:
                admin.delete_topics(names[i:i + 100], timeout_ms=timeout_ms)
            except KafkaError:
                pass
        return len(names)
    finally:
        admin.close()


@atexit.register
def _delete_made_topics() -> None:
    if os.environ.get("SOLIDARITY_KEEP_TEST_TOPICS") or not _MADE:
        return
    by_broker: dict[str, set[str]] = {}
    for stack in _MADE:
        stack.stop()
        env = stack.env
        by_broker.setdefault(env["SOLIDARITY_KAFKA__BOOTSTRAP_SERVERS"], set()).update(
            (env["SOLIDARITY_TOPIC_PREFIX"], env["SOLIDARITY_APP_ID"] + "-"))
    for servers, prefixes in by_broker.items():
        try:
            delete_topics(servers, tuple(sorted(prefixes)))
        except Exception:  # noqa: BLE001 - a broker already stopped at exit: nothing to clean
            pass


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
            # Tests and benches post hundreds of reports with one token and log in often from 127.0.0.1: generous
            # flood limits here (the defaults stay strict); tests/security/test_flood_control.py sets small ones.
            "SOLIDARITY_LIMITS__REPORTS_PER_MINUTE": "1000000",
            "SOLIDARITY_LIMITS__REPORT_BURST": "100000",
            "SOLIDARITY_LIMITS__LOGIN_ATTEMPTS": "100000",
            # One page per case and on-call phone, as the tests and drills count them (see the file).
            "SOLIDARITY_ESCALATION__POLICIES_FILE": str(ROOT / "testing" / "data" / "page_once.yaml"),
            **(extra_env or {}),
        }
        self.http = Http(f"http://127.0.0.1:{self.port}")
        self.proc: subprocess.Popen | None = None
        self.log_path = tmp / f"worker-{tag}.log"
        _MADE.append(self)

    def cli(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """Run `solidarity ARGS` with this stack's settings."""
        result = subprocess.run([str(BIN / "solidarity"), *args], env=self.env, input=input, capture_output=True,
                                text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"solidarity {' '.join(args)} failed ({result.returncode}): {result.stdout}{result.stderr}")
        return result

    def start(self, timeout: float = 90.0) -> "Stack":
        """Start the worker and wait until /healthz reports the broker connected."""
        return self.launch().wait_healthy(timeout)

    def launch(self) -> "Stack":
        """Start the worker process without waiting for it (see wait_healthy)."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([str(BIN / "solidarity"), "worker", "-l", "info"], env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, cwd=str(ROOT), start_new_session=True)
        log.close()
        return self

    def wait_healthy(self, timeout: float = 90.0) -> "Stack":
        """Wait until the launched worker's /healthz reports the broker connected (fail at once if it exited)."""

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

    def alive(self) -> bool:
        """Whether the worker process is running."""
        return self.proc is not None and self.proc.poll() is None

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
        self.wait_token(token, role)
        return token

    def wait_token(self, token: str, role: str, timeout: float = 90.0) -> str:
        """Wait until this worker no longer answers 401 to `token` (of `role`); the token."""
        probe = ("GET", "/api/v1/cases") if role == "secretariat" else ("POST", "/api/v1/reports")
        wait_for(lambda: self.http.request(*probe, body={} if probe[0] == "POST" else None, token=token)[0] not in (401,),
                 # Generous: a worker's first group join on a broker that has just started can take a while.
                 timeout, 0.2, f"the {role} token to be known to the worker on port {self.port}")
        return token

    def restart(self, wipe_data: bool = False, timeout: float = 90.0) -> "Stack":
        """Stop the worker and start a new process with the same env (app id, topic prefix, data dir, port).

        With wipe_data the local table store (RocksDB) is deleted first, so state must come back from the
        changelog topics.
        """
        self.stop()
        if wipe_data:
            shutil.rmtree(self.env["SOLIDARITY_DATA_DIR"], ignore_errors=True)
        return self.start(timeout)

    def settings(self):
        """Settings equal to the worker's (app id, topic prefix, broker), for kafka-python tooling in tests."""
        from streams.settings import Settings

        return Settings(app_id=self.env["SOLIDARITY_APP_ID"], topic_prefix=self.env["SOLIDARITY_TOPIC_PREFIX"],
                        data_dir=Path(self.env["SOLIDARITY_DATA_DIR"]),
                        kafka={"bootstrap_servers": self.env["SOLIDARITY_KAFKA__BOOTSTRAP_SERVERS"]})

    def sealer(self):
        """The worker's sealer in this process (its key file and data keys): to open records read raw."""
        from streams import crypto

        return crypto.start(self.settings())

    def raw_records(self, name: str) -> list[tuple[bytes | None, bytes | None]]:
        """Every (key, value) of a topic by its full name (a changelog too), from the beginning to its current end;
        a tombstone's value is None."""
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=self.env["SOLIDARITY_KAFKA__BOOTSTRAP_SERVERS"], group_id=None,
                                 enable_auto_commit=False)
        try:
            parts = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or ()]
            consumer.assign(parts)
            consumer.seek_to_beginning(*parts)
            end = consumer.end_offsets(parts)
            out = []
            while any(consumer.position(tp) < end[tp] for tp in parts):
                for batch in consumer.poll(timeout_ms=500).values():
                    out += [(r.key, r.value) for r in batch]
            return out
        finally:
            consumer.close()

    def read_topic(self, spec, timeout: float = 10.0) -> list[tuple[bytes | None, bytes]]:
        """Every record of one of this stack's catalogue topics, from the beginning to its current end."""
        from streams.admin import read_all

        return list(read_all(self.settings(), spec, timeout))


def wait_case(stack: Stack, token: str, case_id: str, until=lambda case: True, timeout: float = 30.0,
              what: str = "the case") -> dict:
    """GET /api/v1/cases/{case_id} until it exists and `until(case)` holds; return the case."""

    def fetched():
        status, case = stack.http.request("GET", f"/api/v1/cases/{case_id}", token=token)
        return case if status == 200 and until(case) else None

    return wait_for(fetched, timeout, 0.1, what)
