"""N `solidarity worker` processes in one consumer group, on the same topics: scale-out and failover tests.

The workers share every setting (app id, topic prefix, broker, public URL) and differ only in what issue 12 says
another worker on the same host needs: SOLIDARITY_WEB__PORT and SOLIDARITY_DATA_DIR (plus its own advertised URL,
where the other workers reach it). The public URL, where Twilio's callbacks go, is worker 0's.

    workers = Workers(tmp, 3).start_all()
    token = workers.token("secretariat")
    workers.http(1).request("GET", "/api/v1/cases", token=token)
    workers.kill(0)            # SIGKILL; workers.alive() == [1, 2]
    workers.restart(0)
    workers.stop_all()
"""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from testing.stack import Http, Stack, bootstrap as default_bootstrap

# Each worker's own settings; every other SOLIDARITY_* variable is the same on all of them.
OWN = ("SOLIDARITY_WEB__PORT", "SOLIDARITY_DATA_DIR", "SOLIDARITY_WEB__ADVERTISED_URL")


class Workers:
    """N worker stacks sharing one app id and topic prefix; each worker is a Stack (port, data dir, log)."""

    def __init__(self, tmp: Path, n: int, bootstrap: str | None = None, extra_env: dict | None = None) -> None:
        self.tmp = tmp
        self.stacks = [Stack(self._dir(i)) for i in range(n)]
        first = self.stacks[0]
        self.public_url = f"http://127.0.0.1:{first.port}"
        shared = {k: v for k, v in first.env.items() if k not in OWN}
        shared["SOLIDARITY_WEB__PUBLIC_URL"] = self.public_url
        shared["SOLIDARITY_KAFKA__BOOTSTRAP_SERVERS"] = bootstrap or default_bootstrap()
        for stack in self.stacks:
            own = {k: stack.env[k] for k in OWN if k in stack.env}
            stack.env = {**shared, **own, "SOLIDARITY_WEB__ADVERTISED_URL": f"http://127.0.0.1:{stack.port}"}
        self.update_env(extra_env or {})

    def _dir(self, i: int) -> Path:
        path = self.tmp / f"worker-{i}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def __len__(self) -> int:
        return len(self.stacks)

    def __getitem__(self, i: int) -> Stack:
        return self.stacks[i]

    def update_env(self, env: dict) -> None:
        """Set shared settings on every worker (before it starts); per-worker settings cannot be set this way."""
        own = set(env) & set(OWN)
        if own:
            raise ValueError(f"{sorted(own)} are per worker")
        for stack in self.stacks:
            stack.env.update(env)

    def port(self, i: int) -> int:
        """Worker i's HTTP port."""
        return self.stacks[i].port

    def url(self, i: int) -> str:
        """Worker i's base URL."""
        return f"http://127.0.0.1:{self.stacks[i].port}"

    def http(self, i: int) -> Http:
        """The JSON HTTP client of worker i."""
        return self.stacks[i].http

    def start(self, i: int, timeout: float = 180.0) -> Stack:
        """Start worker i and wait for its /healthz."""
        return self.stacks[i].start(timeout)

    def start_all(self, timeout: float = 180.0) -> "Workers":
        """Launch every worker at once and wait until each /healthz answers (stopping them all on failure)."""
        for stack in self.stacks:
            stack.launch()
        try:
            with ThreadPoolExecutor(len(self.stacks)) as pool:
                list(pool.map(lambda s: s.wait_healthy(timeout), self.stacks))
        except BaseException:
            self.stop_all()
            raise
        return self

    def kill(self, i: int) -> None:
        """SIGKILL worker i (a machine lost: no shutdown, no commit, no leave-group)."""
        self.stacks[i].kill(signal.SIGKILL)

    def stop(self, i: int) -> None:
        """SIGTERM worker i and wait for it to exit (SIGKILL after 20 s)."""
        self.stacks[i].stop()

    def restart(self, i: int, timeout: float = 180.0) -> Stack:
        """Stop worker i if it runs, start it again with the same settings and data dir, wait for /healthz."""
        return self.stacks[i].restart(timeout=timeout)

    def stop_all(self) -> None:
        """Stop every running worker, side by side."""
        with ThreadPoolExecutor(len(self.stacks)) as pool:
            list(pool.map(lambda s: s.stop(), self.stacks))

    def alive(self) -> list[int]:
        """The indexes of the workers whose process runs."""
        return [i for i, stack in enumerate(self.stacks) if stack.alive()]

    def cli(self, *args: str, input: str | None = None, check: bool = True):
        """Run `solidarity ARGS` with the shared settings (worker 0's env; the CLI talks to the broker only)."""
        return self.stacks[0].cli(*args, input=input, check=check)

    def token(self, role: str, name: str = "test", timeout: float = 90.0) -> str:
        """Create one token with the CLI and wait until every running worker accepts it."""
        token = self.cli("tokens", "create", "--role", role, "--name", name).stdout.strip().splitlines()[-1]
        for i in self.alive():
            self.stacks[i].wait_token(token, role, timeout)
        return token

    def log_tails(self, lines: int = 20) -> str:
        """The end of every worker's log, for failure messages."""
        return "\n".join(f"--- worker {i} (port {s.port}) ---\n{s.log_tail(lines)}" for i, s in enumerate(self.stacks))

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()
