"""The assembled faust application: `faust -A streams.app` or `solidarity worker`. Wiring only.

A report's path: stages.intake -> stages.cases -> stages.alerts -> stages.fanout -> stages.delivery ->
stages.replies. State every worker needs whole (members, tokens, cases, actions, plans, progress, signatures,
sessions) is read from compacted topics by each worker itself (streams/replicas.py); the partitioned tables
(streams/tables.py) are only ever touched by the worker that owns the key.
"""

from __future__ import annotations

from streams import crypto
from streams.metrics import register_metrics
from streams.ownership import track_rebalances
from streams.runtime import Runtime, build_app, declare_topics
from streams.settings import Settings, get_settings
from streams.stages.alerts import Alerts
from streams.stages.audit import AuditTrail
from streams.stages.cases import CaseFile
from streams.stages.delivery import Delivery
from streams.stages.delivery.compaction import LedgerCompactor
from streams.stages.escalation import Escalator
from streams.stages.fanout import FanOut
from streams.stages.followups import FollowUps
from streams.stages.intake import Intake
from streams.stages.replies import Replies
from streams.stages.letters import LetterDelivery
from streams.stages.retention import Retention
from streams.tables import declare_tables
from streams.web.api.actions import register_action_views
from streams.web.api.documents import register_document_views
from streams.web.api.cases import register_case_views
from streams.web.api.health import register_health_views, register_metrics_view
from streams.web.api.members import register_member_views
from streams.web.api.reports import register_report_views
from streams.web.api.webhooks import register_webhook_views
from streams.web.routes import guard_routes
from streams.web.ui import register_ui


def build(settings: Settings | None = None) -> Runtime:
    """Build the app with every topic, table, replicated view, stage and view registered."""
    settings = settings or get_settings()
    if not crypto.started():
        # The data keys are read before anything is: every record of a topic or table is sealed with them.
        crypto.start(settings)
    rt = Runtime(settings=settings, app=build_app(settings))
    declare_topics(rt)
    declare_tables(rt)
    track_rebalances(rt)
    replica = rt.views.attach(settings)
    rt.app.task(replica.run)
    # Delivery first: the alert hook and intake's direct page hand notifications to its deliverer.
    for stage in (Delivery(rt), LedgerCompactor(rt), Intake(rt), CaseFile(rt), Alerts(rt), Escalator(rt), FanOut(rt), FollowUps(rt),
                  Replies(rt), Retention(rt), LetterDelivery(rt), AuditTrail(rt)):
        stage.register()
    metrics = register_metrics(rt)
    register_health_views(rt)
    register_metrics_view(rt, metrics)
    register_report_views(rt)
    register_member_views(rt)
    # Action routes first: /cases/{id}/actions must win over the generic /cases/{id}/{verb}.
    register_action_views(rt)
    register_document_views(rt)
    register_case_views(rt)
    register_webhook_views(rt)
    guard = register_ui(rt)
    # Last: every route above is checked against the inventory before its view runs.
    guard_routes(rt, guard.current)
    return rt


runtime = build()
app = runtime.app
