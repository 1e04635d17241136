"""Restart to ready: a worker with N members and M settled notifications in its delivery ledger, spawned and timed
until it is ready; its RSS then.

Ready is the later of: /healthz answering 200 (the shared state, members included, read: what testing/stack.py
waits for) and faust's "[^Worker]: Ready" in the log (every table, the ledger included, recovered from its
changelog). The ceiling is a plain aiokafka consumer reading the same changelog end to end, in the same run.

The settled entries are written straight to the ledger's changelog (`<app id>-delivery_ledger-changelog`) in the
format the worker writes (streams/tables.py: the table key as plain UTF-8, the LedgerEntry dumped without its
empty fields, sealed, as compact JSON), each made from a settled entry the worker wrote itself with another member,
provider id and times. A settled entry has no `notification`, so nothing in it is personal, and the sealer leaves
it as is. Checked twice: the worker's own entry, encoded the same way, must give back its exact bytes, and a seeded
record must have its key form and fields in its order; after each restart the worker must count the seeded
entries of that run's action. Each run has
its own call to action (5 members, SMS paced at one segment per 1,000 s, so it stays unfinished and its counts are
recomputed from the ledger at start-up): run 1's owns the M entries, each later run's `PROBE` entries seeded just
before it (so every run reads M + up to (runs - 1) x PROBE entries).
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faust.serializers import codecs as faust_codecs

from agents.fanout import action_key
from bench.common import PROFILES, console, ensure_broker, median, profile, save, show
from bench.drills import action_counts
from bench.figures import Figure, figures_json, show_figures
from bench.memory import vm
from bench.world import approve, load_world
from schemas.notifications import LedgerEntry
from schemas.vocab import Channel
from streams import codecs
from testing.stack import wait_for

READY_S = 30.0  # target
AUDIENCE = 5
PROBE = 1_000
# The table's name in streams/tables.py; faust names a changelog "<app id>-<table>-changelog".
LEDGER_TABLE = "delivery_ledger"
READY_LINE = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\] \[(\d+)\] \[INFO\] \[\^Worker\]: Ready")


def encoded(sealer, entry: LedgerEntry) -> bytes:
    """A ledger entry's changelog value: dumped without its empty fields, sealed, as compact JSON (streams/tables.py;
    the same bytes faust's JSON codec gave the ASCII-only entries of earlier versions)."""
    data = sealer.seal(LedgerEntry, entry.model_dump(mode="json", exclude_none=True))
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def settled_entry(sealer, template: dict, action_id: str, n: int, at: datetime) -> tuple[bytes, bytes]:
    """Settled SMS number `n` of an action as a changelog record (key, value), as the worker writes them: its own
    settled entry `template` with another member, provider id and times, through the model and the sealer."""
    member_id = f"s{n:07d}"
    times = {name: at for name in ("since", "marked_at", "at", "settled_at") if name in template}
    entry = LedgerEntry.model_validate({**template, **times, "action_id": action_id, "member_id": member_id,
                                        "provider_id": f"SM{n:032x}"})
    return faust_codecs.dumps(codecs.TABLE_KEY, action_key(action_id, member_id, Channel.sms)), encoded(sealer, entry)


async def seed(bootstrap: str, topic: str, sealer, template: dict, action_id: str, count: int,
               first: int = 0) -> dict:
    """Produce `count` settled entries of `action_id` (acks=all, no compression), keyed so the producer's
    partitioner puts each where the worker's would; seconds taken and bytes written."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    t0, size = time.perf_counter(), 0
    now = datetime.now(UTC)
    try:
        for start in range(first, first + count, 10_000):
            batch = [settled_entry(sealer, template, action_id, n, now - timedelta(seconds=n))
                     for n in range(start, min(first + count, start + 10_000))]
            size += sum(len(k) + len(v) for k, v in batch)
            await asyncio.gather(*[await producer.send(topic, key=k, value=v) for k, v in batch])
    finally:
        await producer.stop()
    return {"records": count, "seconds": time.perf_counter() - t0, "mib": size / 2**20}


async def read_to_end(bootstrap: str, topic: str, keep=None) -> dict:
    """The ceiling: a plain aiokafka consumer reads every partition of `topic` from the beginning to its end
    offsets (no decoding); seconds from start() to the last record, and the records `keep(key, value)` accepted."""
    t0 = time.perf_counter()
    # Without a group, a consumer given a topic is assigned all of its partitions.
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    kept, records = [], 0
    try:
        deadline = time.monotonic() + 30
        while not (parts := sorted(consumer.assignment())) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if not parts:
            raise AssertionError(f"no partitions of {topic}")
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        left = {tp for tp in parts if ends[tp] > 0}
        while left:
            for tp, batch in (await consumer.getmany(*left, timeout_ms=1000, max_records=10_000)).items():
                records += len(batch)
                if keep is not None:
                    kept += [(r.key, r.value) for r in batch if keep(r.key, r.value)]
                if batch and batch[-1].offset + 1 >= ends[tp]:
                    left.discard(tp)
    finally:
        await consumer.stop()
    return {"records": records, "seconds": time.perf_counter() - t0, "kept": kept}


def ready_at(log: Path, offset: int, pid: int) -> float | None:
    """The wall time faust logged "[^Worker]: Ready" for process `pid`, after byte `offset` of the log."""
    with log.open("rb") as f:
        f.seek(offset)
        for line in f.read().decode(errors="replace").splitlines():
            if (m := READY_LINE.match(line)) and int(m.group(3)) == pid:
                return datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").timestamp() + int(m.group(2)) / 1000
    return None


def wait_ready(stack, offset: int, timeout: float) -> tuple[float, float]:
    """Wall times of the launched worker's first /healthz 200 and of faust's "[^Worker]: Ready" (in its log after
    byte `offset`); fails if it exits or takes longer than `timeout`."""
    pid, healthy, tables = stack.proc.pid, None, None
    deadline = time.monotonic() + timeout
    while (healthy is None or tables is None) and time.monotonic() < deadline:
        if stack.proc.poll() is not None:
            raise AssertionError(f"worker exited with {stack.proc.returncode}:\n{stack.log_tail()}")
        if healthy is None:
            try:
                if stack.http.request("GET", "/healthz", timeout=5)[0] == 200:
                    healthy = time.time()
            except OSError:
                pass
        if tables is None:
            tables = ready_at(stack.log_path, offset, pid)
        time.sleep(0.05)
    if healthy is None or tables is None:
        raise AssertionError(f"worker not ready after {timeout:.0f} s:\n{stack.log_tail()}")
    return healthy, tables


def restart_once(stack, tokens, action_id: str, expect: int, timeout: float, profile_seconds: int = 0) -> dict:
    """Spawn the worker, time it to ready (both signs), RSS then; then until it counts the action's seeded entries.
    With `profile_seconds`, py-spy samples the worker from its start for that long."""
    offset = stack.log_path.stat().st_size if stack.log_path.exists() else 0
    spawned = time.time()
    pid = stack.launch().proc.pid
    prof: dict = {}
    if profile_seconds:
        threading.Thread(target=lambda: prof.update(profile(pid, profile_seconds, PROFILES / "restart-profile.txt")),
                         daemon=True).start()
    healthy, tables = wait_ready(stack, offset, timeout)
    rss_ready = vm(pid)

    def counted_all() -> dict | None:
        counts = action_counts(stack, tokens, action_id)
        return counts if counts.get("delivered", 0) >= expect else None

    counted = wait_for(counted_all, timeout, 0.25, f"the worker to count {expect:,} seeded entries")
    verified = time.time()
    rss_after = vm(pid)
    if profile_seconds:
        wait_for(lambda: prof, profile_seconds + 60, 0.5, "the profile")
    stack.stop()
    return {"expected": expect, "ready_s": max(healthy, tables) - spawned, "healthz_s": healthy - spawned,
            "tables_ready_s": tables - spawned,
            "rss_ready_mib": rss_ready["VmRSS"], "counted_s": verified - spawned, "counts": counted,
            "rss_counted_mib": rss_after["VmRSS"], "hwm_mib": rss_after["VmHWM"], "profile": prof or None}


def prepare(stack, tokens, rows: list[dict], runs: int) -> list[str]:
    """One unfinished call to action per run, each to AUDIENCE members by SMS; waits until each is planned and
    the one SMS the pace allows has been delivered (so the ledger holds a settled entry the worker wrote)."""
    actions = []
    for i in range(runs):
        ids = [r["member_id"] for r in rows[i * AUDIENCE:(i + 1) * AUDIENCE]]
        action_id, _, _ = approve(stack, tokens, ["sms"], "cl", audience={"member_ids": ids})
        wait_for(lambda: action_counts(stack, tokens, action_id).get("queued") == AUDIENCE, 120, 0.5,
                 f"action {i + 1} planned")
        actions.append(action_id)
    wait_for(lambda: sum(action_counts(stack, tokens, a).get("delivered", 0) for a in actions) >= 1, 120, 0.5,
             "the first SMS delivered")
    return actions


def worker_settled(bootstrap: str, topic: str, actions: list[str]) -> tuple[bytes, bytes] | None:
    """A settled entry the worker itself wrote for one of `actions`, read back from the changelog."""
    mine = {a.encode() for a in actions}

    def settled(key: bytes, value: bytes) -> bool:
        parts = key.split(b":")
        return len(parts) > 2 and parts[1] in mine and b'"settled_at"' in value

    found = asyncio.run(read_to_end(bootstrap, topic, keep=settled))["kept"]
    return found[-1] if found else None


def same_format(written: tuple[bytes, bytes], seeded: tuple[bytes, bytes], reencoded: bytes) -> dict:
    """Whether a seeded record has the shape of the worker's own: key form, fields and their order, other values;
    and whether the worker's own entry, encoded as the seeded ones are, gives back its bytes exactly."""
    varied = {"action_id", "member_id", "provider_id", "since", "marked_at", "at", "settled_at"}
    theirs, ours = json.loads(written[1]), json.loads(seeded[1])
    return {"same_bytes_reencoded": reencoded == written[1], "same_fields_in_order": list(theirs) == list(ours),
            "same_other_values": {k: v for k, v in theirs.items() if k not in varied}
            == {k: v for k, v in ours.items() if k not in varied},
            "same_key_shape": written[0].count(b":") == seeded[0].count(b":") and not written[0].startswith(b'"'),
            "worker_key": written[0].decode(), "worker_value": theirs, "seeded_key": seeded[0].decode(),
            "seeded_value": ours}


def seed_bulk(bootstrap: str, topic: str, sealer, actions: list[str], settled: int) -> tuple[dict, dict]:
    """Check the seeded format against the worker's own settled entry, then seed `settled` entries of the first
    action; (the format check with the template it used, the seeding's stats)."""
    written = worker_settled(bootstrap, topic, actions)
    if written is None:
        raise AssertionError("no settled entry written by the worker found in the ledger's changelog")
    template = sealer.open(LedgerEntry, json.loads(written[1]))
    check = same_format(written, settled_entry(sealer, template, actions[0], 0, datetime.now(UTC)),
                        encoded(sealer, LedgerEntry.model_validate(template)))
    ok = all(check[k] for k in ("same_bytes_reencoded", "same_fields_in_order", "same_other_values", "same_key_shape"))
    console.print(f"[{'green' if ok else 'bold red'}]format check against the worker's own settled entry: its bytes "
                  f"re-encoded {check['same_bytes_reencoded']}, fields in its order {check['same_fields_in_order']}, "
                  f"other values {check['same_other_values']}, key shape {check['same_key_shape']}[/]")
    seeded = asyncio.run(seed(bootstrap, topic, sealer, template, actions[0], settled))
    console.print(f"seeded {settled:,} settled entries ({seeded['mib']:,.0f} MiB) in {seeded['seconds']:.1f} s")
    return {**check, "template": template}, seeded


def main(members: int = 100_000, settled: int = 1_000_000, runs: int = 3, profile_seconds: int = 0) -> dict:
    """Seed the ledger, restart the worker `runs` times; print the tables and save the JSON."""
    bootstrap = ensure_broker()
    results = []
    timeout = max(300.0, settled / 1_000)  # faust recovers a few thousand records a second
    with tempfile.TemporaryDirectory(prefix="bench-restart-") as tmp:
        # One segment per 1,000 s: each run's action keeps four of its five SMS waiting, so it stays unfinished.
        stack, sandbox, tokens, rows = load_world(Path(tmp), members, rate=1000.0, extra_env={
            "SOLIDARITY_DELIVERY__SMS_SEGMENTS_PER_SECOND": "0.001"})
        try:
            actions = prepare(stack, tokens, rows, runs)
            stack.stop()
            topic = f"{stack.env['SOLIDARITY_APP_ID']}-{LEDGER_TABLE}-changelog"
            sealer = stack.sealer()
            check, bulk = seed_bulk(bootstrap, topic, sealer, actions, settled)
            seeding = [bulk]
            for i, action_id in enumerate(actions):
                if i:
                    seeding.append(asyncio.run(seed(bootstrap, topic, sealer, check["template"], action_id, PROBE,
                                                    first=settled)))
                ceiling = asyncio.run(read_to_end(bootstrap, topic))
                r = restart_once(stack, tokens, action_id, settled if i == 0 else PROBE, timeout,
                                 profile_seconds if i == len(actions) - 1 else 0)
                r.update(ceiling_s=ceiling["seconds"], changelog_records=ceiling["records"])
                results.append(r)
                console.print(f"run {i + 1}: ready in {r['ready_s']:.1f} s (plain read {r['ceiling_s']:.1f} s of "
                              f"{r['changelog_records']:,} records), RSS {r['rss_ready_mib']:.0f} MiB; counted "
                              f"{r['counts'].get('delivered'):,} after {r['counted_s']:.1f} s")
        finally:
            stack.stop()
            sandbox.stop()
    return report(results, seeding, check, members, settled, runs)


def report(results: list[dict], seeding: list[dict], fmt_check: dict, members: int, settled: int, runs: int) -> dict:
    """Print the per-run table and the figures; save the JSON."""
    show(f"Restart to ready: {members:,} members, {settled:,} settled notifications in the ledger",
         ["run", "changelog records", "plain read s", "/healthz 200 s", "tables ready s", "ready s",
          "RSS at ready MiB", "seeded counted s", "delivered counted", "RSS then MiB", "peak MiB"],
         [[f"run {i + 1}", r["changelog_records"], r["ceiling_s"], r["healthz_s"], r["tables_ready_s"], r["ready_s"],
           r["rss_ready_mib"], r["counted_s"], r["counts"].get("delivered"), r["rss_counted_mib"], r["hwm_mib"]]
          for i, r in enumerate(results)])
    figures = [
        Figure.of_runs("restart to ready (spawn -> /healthz 200 and tables recovered)",
                       [r["ready_s"] for r in results], "s", ceilings=[r["ceiling_s"] for r in results],
                       ceiling_is="plain aiokafka read of the ledger changelog", target=READY_S, op="<="),
        Figure.of_runs("worker RSS at ready", [r["rss_ready_mib"] for r in results], "MiB"),
        Figure.of_runs("spawn -> seeded entries counted by the worker", [r["counted_s"] for r in results], "s",
                       ceilings=[r["ceiling_s"] for r in results], ceiling_is="plain aiokafka read"),
        Figure.of_runs("worker RSS once the seeded entries were counted", [r["rss_counted_mib"] for r in results],
                       "MiB", ceilings=[r["rss_ready_mib"] for r in results], ceiling_is="RSS at ready"),
    ]
    for r in results:
        if (r.get("profile") or {}).get("self"):
            show("Worker profile from spawn (self time, % of samples)", ["function", "%"], r["profile"]["self"][:12])
    show_figures(f"Restart figures (medians of {runs} run(s))", figures)
    summary = {"ready_s": median([r["ready_s"] for r in results]),
               "ceiling_s": median([r["ceiling_s"] for r in results]),
               "rss_ready_mib": median([r["rss_ready_mib"] for r in results]), "format_check": fmt_check,
               "figures": figures_json(figures)}
    save("restart", {"params": {"members": members, "settled": settled, "runs": runs, "probe": PROBE},
                     "summary": summary, "seeding": seeding, "runs": results})
    return summary
