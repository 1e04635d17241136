"""What /metrics reports is kept as things happen, not counted at scrape time: case gauges follow the replicated
cases, and notification outcomes add up whichever way they are counted."""

from __future__ import annotations

from prometheus_client import generate_latest

from schemas.cases import CaseSnapshot
from schemas.vocab import CaseStatus
from streams.metrics import Metrics
from tests.stubs import put, runtime
from tests.unit.test_fanout import make_case


def samples(metrics: Metrics, name: str) -> dict[str, float]:
    lines = generate_latest(metrics.registry).decode().splitlines()
    return {line.split(" ")[0]: float(line.split(" ")[1]) for line in lines if line.startswith(name)}


def test_case_gauges_follow_cases_as_they_change_and_go():
    rt = runtime()
    metrics = Metrics(rt)
    first, second = make_case(), make_case().model_copy(update={"case_id": "case_2"})
    put(rt.views.cases, first.case_id, CaseSnapshot(case=first))
    put(rt.views.cases, second.case_id, CaseSnapshot(case=second))
    status = first.status.value
    key = f'solidarity_cases{{status="{status}",urgency="{first.urgency.value}"}}'
    assert samples(metrics, "solidarity_cases") == {key: 2.0}
    put(rt.views.cases, second.case_id, CaseSnapshot(case=second.model_copy(update={"status": CaseStatus.closed})))
    closed = f'solidarity_cases{{status="closed",urgency="{second.urgency.value}"}}'
    assert samples(metrics, "solidarity_cases") == {key: 1.0, closed: 1.0}
    put(rt.views.cases, first.case_id, None)
    assert samples(metrics, "solidarity_cases") == {closed: 1.0}


def test_notification_outcomes_add_up_however_they_are_counted():
    metrics = Metrics(runtime())
    for _ in range(3):
        metrics.notified("sms", "delivered")
    metrics.notifications.labels(channel="sms", status="delivered").inc()
    metrics.notified("email", "failed")
    assert samples(metrics, "solidarity_notifications_total") == {
        'solidarity_notifications_total{channel="sms",status="delivered"}': 4.0,
        'solidarity_notifications_total{channel="email",status="failed"}': 1.0}
