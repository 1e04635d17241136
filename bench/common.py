"""Shared bench plumbing: broker, a worker wired to the sandbox (testing/sandbox.py), results, tables, profiles."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from testing.sandbox import Sandbox, notify_stack
from testing.stack import ROOT, Stack, bootstrap, broker_up, wait_for

RESULTS = ROOT / "bench" / "results"
# Collapsed py-spy stacks are large and machine-specific: kept out of git with the rest of .local/.
PROFILES = ROOT / ".local" / "bench" / "profiles"
# Wide when the output is a file or a pipe (rich would wrap every table at 80 columns).
console = Console(width=None if sys.stdout.isatty() else 200)


def ensure_broker() -> str:
    """The bootstrap address; starts the project's local broker when none is configured or running."""
    if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS") and not broker_up():
        subprocess.run([sys.executable, str(ROOT / "deploy" / "kafka" / "broker.py"), "start"], check=True,
                       stdout=subprocess.DEVNULL, timeout=600)
    wait_for(broker_up, 60, 0.5, f"Kafka at {bootstrap()}")
    return bootstrap()


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds a process has used so far (from /proc), or None if it is not there."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (OSError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


BROKER_PIDFILE = ROOT / ".local" / "kafka" / "broker.pid"


def broker_pid() -> int | None:
    """The pid of the broker this project started, if any."""
    try:
        return int(BROKER_PIDFILE.read_text().strip())
    except (OSError, ValueError):
        return None


class CpuMeter:
    """CPU seconds used by named processes between start() and stop(): who is the bottleneck."""

    def __init__(self, **pids: int | None) -> None:
        self.pids, self.before = pids, {}

    def start(self) -> None:
        self.before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self, wall_s: float) -> dict:
        now = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        used = {name: now[name] - self.before[name] if None not in (now[name], self.before.get(name)) else None
                for name in self.pids}
        return {"wall_s": wall_s, "cpu_s": used,
                "cores": {n: (u / wall_s if u is not None and wall_s else None) for n, u in used.items()}}


class CpuSampler:
    """CPU seconds of named processes sampled every `interval` s by a thread: the CPU used between two wall-clock
    times known only afterwards (the first and the last record a worker produced, say), by interpolation."""

    def __init__(self, interval: float = 0.1, **pids: int | None) -> None:
        self.pids, self.interval = pids, interval
        self.samples: list[tuple[float, dict]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "CpuSampler":
        """Start sampling."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling, with a last sample now (the samples are kept)."""
        self._stop.set()
        self._thread.join(5)
        self._sample()

    def _sample(self) -> None:
        self.samples.append((time.time(), {name: cpu_seconds(pid) for name, pid in self.pids.items()}))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def at(self, name: str, t: float) -> float | None:
        """CPU seconds process `name` had used at wall time t (interpolated between samples)."""
        points = [(ts, cpu[name]) for ts, cpu in self.samples if cpu.get(name) is not None]
        before = [p for p in points if p[0] <= t]
        after = [p for p in points if p[0] >= t]
        if not before or not after:
            return None
        (t0, c0), (t1, c1) = before[-1], after[0]
        return c0 if t1 == t0 else c0 + (c1 - c0) * (t - t0) / (t1 - t0)

    def between(self, start: float, end: float) -> dict:
        """CPU seconds each process used between wall times start and end (None where not sampled)."""
        out = {}
        for name in self.pids:
            a, b = self.at(name, start), self.at(name, end)
            out[name] = b - a if a is not None and b is not None else None
        return out


def machine() -> dict:
    """What the figures were measured on."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
    return {"cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "kernel": platform.release(), "broker": bootstrap(),
            "load_avg_1m": round(os.getloadavg()[0], 2)}


def save(name: str, payload: dict) -> Path:
    """Write a result as JSON under bench/results/ and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    sealed = os.environ.get("SOLIDARITY_CRYPTO__ENABLED", "true").lower() not in ("false", "0", "no")
    path = RESULTS / f"{name}{'' if sealed else '-clear'}-{stamp}.json"
    path.write_text(json.dumps({"benchmark": name, "at": stamp, "machine": machine(), "encryption": sealed,
                                **payload}, indent=2))
    console.print(f"[dim]result: {path.relative_to(ROOT)}[/dim]")
    return path


def show(title: str, columns: list[str], rows: list[list]) -> None:
    """Print a rich table."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col, justify="right" if col != columns[0] else "left")
    for row in rows:
        table.add_row(*[fmt(v) for v in row])
    console.print(table)


def fmt(value) -> str:
    """A number formatted for a table."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def median(values: list[float]) -> float | None:
    """The median, or None for no values."""
    return statistics.median(values) if values else None


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(round(q / 100 * len(ordered) + 0.5))))
    return ordered[rank - 1]


def world(tmp: Path, rate: float = 100000.0, faults: dict | None = None, extra_env: dict | None = None,
          start: bool = True) -> tuple[Stack, Sandbox]:
    """A sandbox and a worker wired to it (testing/sandbox.notify_stack) with quiet logs, started unless not `start`."""
    tmp.mkdir(parents=True, exist_ok=True)
    stack, sandbox = notify_stack(tmp, faults=faults, rate=rate,
                                  extra_env={"SOLIDARITY_LOG_LEVEL": "warning", **(extra_env or {})})
    if start:
        try:
            stack.start(180)
        except BaseException:
            stack.stop()  # a worker that did not come up in time may still be running
            sandbox.stop()
            raise
    return stack, sandbox


def verified_case(stack: Stack, tokens: dict, body: dict) -> dict:
    """Submit a report, wait for its case and verify it; the receipt."""
    sec = tokens["secretariat"]
    status, receipt = stack.http.request("POST", "/api/v1/reports", body, token=tokens["reporter"])
    assert status == 202, receipt
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{receipt['case_id']}", token=sec)[0] == 200, 60, 0.1,
             "the case")
    stack.http.request("POST", f"/api/v1/cases/{receipt['case_id']}/verify", {"note": "bench"}, token=sec)
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{receipt['case_id']}", token=sec)[1]["status"]
             == "verified", 60, 0.1, "verification")
    return receipt


def profile(pid: int, seconds: int, out: Path) -> dict:
    """Sample a running process with py-spy for `seconds`; keep the collapsed stacks and return the top frames.

    The collapsed file (`out`) renders as a flame graph with speedscope or flamegraph.pl.
    """
    spy = Path(sys.executable).parent / "py-spy"
    out.parent.mkdir(parents=True, exist_ok=True)
    if not spy.exists():
        return {"error": "py-spy not installed (pip install -e '.[bench]')"}
    done = subprocess.run([str(spy), "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "100",
                           "--format", "raw", "--output", str(out), "--nonblocking"], capture_output=True, text=True,
                          timeout=seconds + 60)
    if not out.exists():
        return {"error": f"py-spy produced no samples: {done.stderr[-300:]}"}
    return {"file": str(out.relative_to(ROOT)), **summarise_profile(out)}


def summarise_profile(raw: Path, top: int = 15) -> dict:
    """Self and inclusive sample shares per function from py-spy's collapsed-stack output."""
    own, incl, total = {}, {}, 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].split("/")[-1] + ")" if " (" in f else f
                  for f in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for f in set(frames):
            incl[f] = incl.get(f, 0) + n
    pick = lambda d: [[name, round(100 * n / total, 1)] for name, n in sorted(d.items(), key=lambda kv: -kv[1])[:top]]
    return {"samples": total, "self": pick(own), "inclusive": pick(incl)}

