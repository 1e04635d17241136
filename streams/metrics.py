"""Prometheus metrics: counters the agents and views update, case gauges, latency histograms, GET /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from schemas.base import utcnow
from schemas.cases import Case, CaseEvent
from streams.ownership import Ownership
from streams.runtime import Runtime
from streams.stages.delivery.progress import progress

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
FANOUT_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0)


class CasesCollector:
    """Cases by urgency and status (every worker reads them all), counted at scrape time."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self):
        """One gauge sample per (urgency, status)."""
        family = GaugeMetricFamily("solidarity_cases", "Cases by urgency and status.",
                                   labels=["urgency", "status"])
        # Kept by the view as cases change (streams/replicas.py): a scrape does not walk every case.
        for (urgency, status), n in sorted(self.rt.views.cases.tally.items()):
            family.add_metric([urgency, status], n)
        yield family


class Metrics:
    """The metrics of one app, in their own registry (building the app twice never clashes)."""

    def __init__(self, rt: Runtime) -> None:
        self.registry = CollectorRegistry()
        self.reports_received = Counter("solidarity_reports_received", "Reports accepted, by source.", ["source"],
                                        registry=self.registry)
        self.notifications = Counter("solidarity_notifications", "Notification outcomes, by channel and status.",
                                     ["channel", "status"], registry=self.registry)
        self.first_alert = Histogram(
            "solidarity_intake_to_first_alert_seconds",
            "From a report's receipt to its case's first secretariat alert being queued on the priority lane.",
            buckets=LATENCY_BUCKETS, registry=self.registry)
        self.fanout = Histogram("solidarity_fanout_duration_seconds",
                                "From a call to action's approval to every notification settled (delivered or failed).",
                                buckets=FANOUT_BUCKETS, registry=self.registry)
        self.registry.register(CasesCollector(rt))
        self._alerted: set[str] = set()
        self._pending: set[str] = set()
        self._finished: set[str] = set()
        self._owner: Ownership | None = None
        self._outcomes: dict[tuple[str, str], object] = {}

    def notified(self, channel: str, status: str) -> None:
        """Count one notification outcome (per notification: the labelled child is looked up once, not per call)."""
        child = self._outcomes.get((channel, status))
        if child is None:
            child = self._outcomes[(channel, status)] = self.notifications.labels(channel=channel, status=status)
        child.inc()

    def observe_alert(self, rt: Runtime, after: Case) -> None:
        """Record the intake-to-alert time the first time a case has been alerted."""
        if after.case_id in self._alerted or after.case_id not in rt.hooks.alert_times:
            return
        self._alerted.add(after.case_id)
        if after.reports:
            self.first_alert.observe(max(0.0, (utcnow() - after.reports[0].received_at).total_seconds()))

    def observe_fanouts(self, rt: Runtime) -> None:
        """Record the duration of each call to action that finished since it was first seen unfinished.

        Looks at the unfinished actions only (and those seen unfinished here before), not every action ever
        approved: an action finished before this worker first looked (e.g. after a restart) is not timed here.
        """
        owner = self._owner or Ownership(rt, rt.tables.action_stats)
        self._owner = owner
        active = owner.active()
        unfinished = rt.views.unfinished
        for action_id in unfinished | self._pending:
            action = rt.views.actions.get(action_id)
            # Each action is timed by the worker that owns it, so the workers' histograms add up.
            if action is None or action_id in self._finished or not owner.owns(action_id, active):
                continue
            if not progress(rt, action_id)["finished"]:
                self._pending.add(action_id)
                continue
            self._finished.add(action_id)
            if action_id in self._pending:
                self._pending.discard(action_id)
                self.fanout.observe(max(0.0, (utcnow() - action.approved_at).total_seconds()))
        # Timed (or found finished) and stamped since: never looked at again.
        self._finished &= unfinished


def register_metrics(rt: Runtime) -> Metrics:
    """Create the metrics, expose them as rt.hooks.metrics and hook case changes (GET /metrics is in web/api/health.py)."""
    metrics = Metrics(rt)
    rt.hooks.metrics = metrics

    async def observe_first_alert(before: Case | None, after: Case, event: CaseEvent) -> None:
        """Runs after the alerting hook: time the case's first alert."""
        metrics.observe_alert(rt, after)

    rt.hooks.case_hooks.append(observe_first_alert)

    @rt.app.timer(interval=1.0, name="observe_fanouts")
    async def observe_fanouts() -> None:
        """Time calls to action as they finish."""
        metrics.observe_fanouts(rt)

    return metrics
