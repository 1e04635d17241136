"""Retention: a dismissed or closed case is shredded by itself once its time is up, a case still worked on never is,
and a month's key goes once the month is long over (never the current one)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from agents.casefile import apply_event
from agents.retention import RetentionPolicy, case_expiry, expired_periods, finished_at
from schemas.cases import Case, CaseEventKind
from streams import crypto
from streams.replicas import Views
from streams.runtime import Hooks
from streams.settings import Settings
from streams.stages.retention import Retention
from streams.tables import ModelTable
from tests.stubs import Topic
from tests.unit.test_shredding import event, fold, history, shred

POLICY = RetentionPolicy(dismissed_days=30, closed_days=365, period_days=120)
NOW = datetime(2027, 6, 15, tzinfo=timezone.utc)


def finished(kind: CaseEventKind, when: datetime) -> Case:
    """A case opened in May 2026, then closed or dismissed at `when`."""
    case = fold(None, history()[:1])
    ev = event(kind, 7).model_copy(update={"at": when})
    return apply_event(case, ev)


def expiry(case: Case, now: datetime = NOW) -> str | None:
    return case_expiry(case.model_dump(mode="json"), now, POLICY)


@pytest.mark.parametrize("kind, days, due", [
    (CaseEventKind.dismissed, 31, "retention: dismissed 30 days"), (CaseEventKind.dismissed, 29, None),
    (CaseEventKind.closed, 366, "retention: closed 365 days"), (CaseEventKind.closed, 364, None),
])
def test_a_finished_case_expires_after_its_statuss_retention(kind, days, due):
    assert expiry(finished(kind, NOW - timedelta(days=days))) == due


def test_a_case_still_worked_on_never_expires_nor_does_a_tombstone():
    opened = fold(None, history()[:1])
    assert expiry(opened, opened.opened_at + timedelta(days=10_000)) is None
    verified = fold(None, history()[:3])
    assert expiry(verified, verified.opened_at + timedelta(days=10_000)) is None
    tomb = apply_event(finished(CaseEventKind.dismissed, NOW - timedelta(days=90)), shred(20))
    assert expiry(tomb) is None


def test_retention_counts_from_the_dismissal_not_from_the_opening():
    case = finished(CaseEventKind.dismissed, NOW - timedelta(days=5))
    assert finished_at(case.model_dump(mode="json")) == NOW - timedelta(days=5)
    assert case.opened_at < NOW - timedelta(days=365) and expiry(case) is None


def test_month_keys_expire_once_the_month_is_long_over():
    subjects = ["period:2027-01", "period:2027-02", "period:2027-06", "period:2026-12", "case:case_1",
                "member:m1", "period:garbage"]
    # February ended on March 1st: 106 days before NOW; January on February 1st: 134 days.
    assert expired_periods(subjects, NOW, POLICY) == ["period:2026-12", "period:2027-01"]
    assert expired_periods(["period:2027-06"], NOW + timedelta(days=10), RetentionPolicy(1, 1, 0.001)) == []


@pytest.fixture
def sealer(installed_sealer):
    return installed_sealer


def worker(**retention) -> SimpleNamespace:
    views = Views()
    views.replica = SimpleNamespace(ready=True)
    return SimpleNamespace(settings=Settings(retention=retention, kafka={"partitions": 4}),
                           tables=SimpleNamespace(cases=ModelTable({}, Case)),
                           topics=SimpleNamespace(cases_events=Topic(), audit_submitted=Topic()), hooks=Hooks(),
                           views=views,
                           app=SimpleNamespace())


async def test_the_timer_emits_one_shred_per_expired_case_and_shreds_old_months(sealer):
    rt = worker(dismissed_days=30)
    now = datetime.now(timezone.utc)
    old = finished(CaseEventKind.dismissed, now - timedelta(days=40))
    recent = finished(CaseEventKind.dismissed, now - timedelta(days=3)).model_copy(update={"case_id": "case_new"})
    rt.tables.cases[old.case_id] = old
    rt.tables.cases[recent.case_id] = recent
    long_ago, this_month = "period:2001-01", crypto.period_subject(now)
    sealer.keys.ensure([long_ago, this_month])
    retention = Retention(rt)

    await retention.expire()
    [ev] = rt.topics.cases_events.items
    assert (ev.case_id, ev.kind, ev.actor, ev.reason) == (old.case_id, CaseEventKind.shredded, "system",
                                                           "retention: dismissed 30 days")
    assert sealer.keys.is_shredded(long_ago) and not sealer.keys.is_shredded(this_month)
    audits = [json.loads(v) for v in rt.topics.audit_submitted.items]
    assert [(a["actor"], a["action"], a["subject"]) for a in audits] == [
        ("system", "case.shred", old.case_id), ("system", "keys.shred", "periods")]
    assert audits[1]["detail"]["months"] == [long_ago]
    await retention.expire()
    assert len(rt.topics.cases_events.items) == 1, "not emitted again while it is on its way"
    # Emitted twice anyway (another worker after a rebalance): one event id, folded once.
    assert apply_event(apply_event(old, ev), ev) == apply_event(old, ev)
