"""The assembled faust application: `faust -A streams.app` or `solidarity worker`."""

from __future__ import annotations

from streams.members import register_members
from streams.metrics import register_metrics
from streams.notify import register_notify
from streams.pipeline import register_pipeline
from streams.runtime import Runtime, build_app, declare_topics
from streams.settings import Settings, get_settings
from streams.tables import declare_tables
from streams.web.actions import register_action_views
from streams.web.cases import register_case_views
from streams.web.health import register_health_views
from streams.web.reports import register_report_views
from streams.web.routes import guard_routes
from streams.web.ui import register_ui
from streams.web.webhooks import register_webhook_views


def build(settings: Settings | None = None) -> Runtime:
    """Build the app with every topic, table, agent and view registered."""
    settings = settings or get_settings()
    rt = Runtime(settings=settings, app=build_app(settings))
    declare_topics(rt)
    declare_tables(rt)
    register_members(rt)
    register_pipeline(rt)
    register_notify(rt)
    register_metrics(rt)
    register_health_views(rt)
    register_report_views(rt)
    # Action routes first: /cases/{id}/actions must win over the generic /cases/{id}/{verb}.
    register_action_views(rt)
    register_case_views(rt)
    register_webhook_views(rt)
    guard = register_ui(rt)
    # Last: every route above is checked against the inventory before its view runs.
    guard_routes(rt, guard.current)
    return rt


runtime = build()
app = runtime.app
