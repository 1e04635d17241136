"""Delivery progress is counted from the ledger writes as they happen, and always equals a count of the ledger
itself: whatever the writes, and across partitions lost, written by another worker, and given back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.actions import Audience, CallToAction
from schemas.notifications import FINAL_STATES, DeliveryState, LedgerEntry
from schemas.vocab import Channel
from streams.ownership import partition_of
from streams.stages.delivery.engine import Deliverer
from streams.stages.delivery.progress import LedgerCounts, ProgressCounter, progress
from streams.tables import Ledger
from tests.stubs import put, runtime

PARTITIONS = 4
ACTIONS = ("act_1", "act_2", "act_3")
KEYS = [f"act:{a}:m{i}:{c}" for a in ACTIONS for i in range(4) for c in ("sms", "email")] + ["alert:c1:high:m1:sms"]
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def part(key: str) -> int:
    return partition_of(key, PARTITIONS)


def scan(ledger: Ledger, partitions: set[int]) -> dict[tuple[str, int], dict]:
    """What walking the ledger gives (the count every worker made each second before): non-empty rows only."""
    rows: dict[tuple[str, int], dict] = {}
    last: dict[tuple[str, int], datetime] = {}
    for key, entry in ledger.items(lambda k: k.startswith("act:") and part(k) in partitions):
        if not entry.action_id:
            continue
        row = rows.setdefault((entry.action_id, part(key)), {})
        if entry.provider_id:
            row["sent"] = row.get("sent", 0) + 1
        if entry.state in FINAL_STATES:
            row[entry.state.value] = row.get(entry.state.value, 0) + 1
            name = (entry.action_id, part(key))
            if entry.settled_at and (name not in last or entry.settled_at > last[name]):
                last[name] = entry.settled_at
    for name, when in last.items():
        rows[name]["last"] = when.isoformat()
    return {name: row for name, row in rows.items() if row}


def kept(counts: LedgerCounts, ledger: Ledger) -> dict[tuple[str, int], dict]:
    counts.settle_unsure(ledger.items)
    return {name: row for name in counts.rows if (row := counts.record(name))}


entries = st.builds(
    lambda state, sid, action, settled: LedgerEntry(state=state, provider_id=sid, action_id=action,
                                                    settled_at=None if settled is None else T0 + timedelta(seconds=settled)),
    st.sampled_from(list(DeliveryState)), st.sampled_from([None, "SM1", "SM2"]),
    st.sampled_from([None, *ACTIONS]), st.sampled_from([None, 0, 1, 2, 3]))
steps = st.lists(st.one_of(
    st.tuples(st.just("put"), st.sampled_from(KEYS), entries),  # this worker writes (the deliverer's listener)
    st.tuples(st.just("changelog"), st.sampled_from(KEYS), entries),  # another worker's write, read from the changelog
    st.tuples(st.just("lose"), st.integers(0, PARTITIONS - 1)),
    st.tuples(st.just("gain"), st.integers(0, PARTITIONS - 1)),
), max_size=80)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_counts_kept_from_writes_equal_a_scan_of_the_ledger(ops):
    ledger = Ledger({})
    counts = LedgerCounts(part)
    counts.recount(set(range(PARTITIONS)), ledger.items)
    for op in ops:
        if op[0] == "put":
            _, key, entry = op
            prior = ledger.get(key)
            ledger[key] = entry
            counts.write(key, prior, entry)
        elif op[0] == "changelog":
            _, key, entry = op
            if part(key) not in counts.counted:  # only a partition this worker does not hold changes unseen
                ledger[key] = entry
        elif op[0] == "lose":
            counts.forget({op[1]})
        elif op[1] not in counts.counted:
            counts.recount({op[1]}, ledger.items)
        assert kept(counts, ledger) == scan(ledger, counts.counted)


def test_the_latest_settled_time_goes_back_when_the_latest_entry_is_rewritten():
    ledger, counts = Ledger({}), LedgerCounts(part)
    counts.recount(set(range(PARTITIONS)), ledger.items)
    keys = [k for k in KEYS if k.startswith("act:act_1:") and part(k) == part(KEYS[0])][:3]
    for i, key in enumerate(keys):
        entry = LedgerEntry(state=DeliveryState.delivered, action_id="act_1", settled_at=T0 + timedelta(seconds=i))
        counts.write(key, ledger.get(key), entry)
        ledger[key] = entry
    rewritten = LedgerEntry(state=DeliveryState.sending, action_id="act_1")
    counts.write(keys[-1], ledger.get(keys[-1]), rewritten)
    ledger[keys[-1]] = rewritten
    assert kept(counts, ledger) == scan(ledger, counts.counted)
    assert kept(counts, ledger)[("act_1", part(keys[0]))]["last"] == (T0 + timedelta(seconds=len(keys) - 2)).isoformat()


# --- the counter on a worker: what every worker reads on actions.progress.v1 -------------------------------------

def action(action_id: str) -> CallToAction:
    return CallToAction(action_id=action_id, case_id="case_1", reference="SOL-AAAAAA", kind="petition",
                        audience=Audience(), messages={"es": "Firme {reference}."}, channels=[Channel.sms],
                        approved_by="test")


def plan(rt, action_id: str, targeted: int) -> None:
    stats = {"targeted": targeted, "queued": targeted, "planned_at": T0.isoformat()}
    rt.tables.action_stats[action_id] = stats
    put(rt.views.progress, action_id, stats)


class CountingLedger:
    """The worker's ledger, counting how often something walks it."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger, self.walks = ledger, 0

    def items(self, where=None):
        self.walks += 1
        return self.ledger.items(where)

    def __getattr__(self, name):
        return getattr(self.ledger, name)

    def __setitem__(self, key, value):
        self.ledger[key] = value

    def __contains__(self, key):
        return key in self.ledger


def worker():
    rt = runtime()
    rt.tables.ledger = CountingLedger(rt.tables.ledger)
    deliverer = Deliverer(rt)
    return rt, deliverer, ProgressCounter(rt, deliverer)


def published(rt, partitions=range(PARTITIONS)) -> dict[tuple[str, int], dict]:
    """The per-partition rows every worker reads, non-empty only."""
    rows = {}
    for action_id in ACTIONS:
        for p, row in rt.views.progress.partitions(action_id).items():
            if row and int(p) in partitions:
                rows[(action_id, int(p))] = row
    return rows


def sms(i: int, action_id: str = "act_1") -> str:
    return f"act:{action_id}:m{i}:sms"


async def test_a_fan_out_is_counted_without_walking_the_ledger_and_finishes():
    rt, deliverer, counter = worker()
    put(rt.views.actions, "act_1", action("act_1"))
    plan(rt, "act_1", 20)
    await counter.tick()  # start-up: the partitions are counted once
    walks = rt.tables.ledger.walks
    for i in range(20):
        deliverer.put(sms(i), LedgerEntry(state=DeliveryState.sending, action_id="act_1", since=T0))
        deliverer.put(sms(i), LedgerEntry(state=DeliveryState.sent, action_id="act_1", provider_id=f"SM{i}"))
    await counter.tick()
    assert progress(rt, "act_1")["counts"]["sent"] == 20 and not progress(rt, "act_1")["finished"]
    for i in range(20):
        deliverer.put(sms(i), LedgerEntry(state=DeliveryState.delivered, action_id="act_1", provider_id=f"SM{i}",
                                          settled_at=T0 + timedelta(seconds=i)))
        await counter.tick()
    state = progress(rt, "act_1")
    assert state["counts"]["delivered"] == 20 and state["finished"]
    assert state["finished_at"] == (T0 + timedelta(seconds=19)).isoformat()
    assert rt.views.progress.plan("act_1")["finished_at"] == state["finished_at"], "stamped by the action's owner"
    assert published(rt) == scan(rt.tables.ledger.ledger, set(range(PARTITIONS)))
    assert rt.tables.ledger.walks == walks, "nothing walked the ledger after start-up"
    assert "act_1" not in rt.views.unfinished
    await counter.tick()
    assert counter.counts.rows == {}, "a finished action's counts are on the topic: not kept in memory"


async def test_a_write_that_cannot_be_counted_never_fails_the_send_and_its_partition_is_read_again(monkeypatch):
    rt, deliverer, counter = worker()
    put(rt.views.actions, "act_1", action("act_1"))
    plan(rt, "act_1", 1)
    await counter.tick()

    def broken(*args):
        raise RuntimeError("a bug in the counter")

    monkeypatch.setattr(counter.counts, "_write", broken)
    deliverer.put(sms(0), LedgerEntry(state=DeliveryState.delivered, action_id="act_1", provider_id="SM0",
                                      settled_at=T0))
    assert rt.tables.ledger.get(sms(0)).state is DeliveryState.delivered
    monkeypatch.undo()
    await counter.tick()
    assert progress(rt, "act_1")["finished"]


async def test_counts_of_an_action_the_replica_has_not_read_yet_are_published_once_it_has():
    rt, deliverer, counter = worker()
    await counter.tick()
    for i in range(3):  # the notifications got here before the action's own record
        deliverer.put(sms(i, "act_2"), LedgerEntry(state=DeliveryState.delivered, action_id="act_2",
                                                   provider_id=f"SM{i}", settled_at=T0))
    await counter.tick()
    assert published(rt) == {}
    put(rt.views.actions, "act_2", action("act_2"))
    plan(rt, "act_2", 3)
    await counter.tick()
    assert progress(rt, "act_2")["counts"]["delivered"] == 3


async def test_a_partition_given_back_after_another_worker_wrote_to_it_is_counted_again():
    rt, deliverer, counter = worker()
    put(rt.views.actions, "act_1", action("act_1"))
    plan(rt, "act_1", 8)
    await counter.tick()
    keys = [sms(i) for i in range(8)]
    for key in keys:
        deliverer.put(key, LedgerEntry(state=DeliveryState.sent, action_id="act_1", provider_id="SM" + key))
    await counter.tick()
    lost = part(keys[0])
    everything = set(range(PARTITIONS))
    # A rebalance moves the partition away and back between two ticks; the other worker settled its entries.
    counter.assigned(everything - {lost})
    for key in keys:
        if part(key) == lost:
            rt.tables.ledger[key] = LedgerEntry(state=DeliveryState.delivered, action_id="act_1",
                                                provider_id="SM" + key, settled_at=T0)
    counter.assigned(everything)
    walks = rt.tables.ledger.walks
    await counter.tick()
    assert rt.tables.ledger.walks == walks + 1, "the partition given back is read once"
    assert published(rt) == scan(rt.tables.ledger.ledger, everything)
    assert progress(rt, "act_1")["counts"]["delivered"] == sum(part(k) == lost for k in keys)


async def test_counts_of_partitions_this_worker_no_longer_holds_are_not_published():
    rt, deliverer, counter = worker()
    put(rt.views.actions, "act_1", action("act_1"))
    plan(rt, "act_1", 8)
    await counter.tick()
    keys = [sms(i) for i in range(8)]
    lost = part(keys[0])
    mine = set(range(PARTITIONS)) - {lost}
    deliverer.ownership.active = lambda: mine
    for key in keys:
        deliverer.put(key, LedgerEntry(state=DeliveryState.sent, action_id="act_1", provider_id="SM" + key))
    await counter.tick()
    assert all(p != lost for _, p in published(rt))
    assert published(rt) == scan(rt.tables.ledger.ledger, mine)
