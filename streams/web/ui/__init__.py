"""The browser interface: the reporter form (/report) and the secretariat dashboard (/dashboard)."""

from __future__ import annotations

import json

from streams.runtime import Runtime
from streams.web.ui.audit import register_audit
from streams.web.ui.auth import Guard, register_auth
from streams.web.ui.ctas import register_cta_views
from streams.web.ui.dashboard import register_dashboard
from streams.web.ui.form import register_form_views
from streams.web.ui.live import Broadcaster, register_live
from streams.web.ui.documents import register_document_ui
from streams.web.ui.member_links import register_member_links
from streams.web.ui.render import register_static
from streams.web.ui.session import HTTPS_FLAG, Sessions
from streams.web.ui.system import register_system


def register_ui(rt: Runtime) -> Guard:
    """Add the form, the dashboard, its live events and static assets to the app."""
    web_cfg = rt.settings.web

    def token_live(token_hash: str) -> bool:
        record = rt.views.tokens.find(token_hash) if token_hash else None
        return record is not None and not record.revoked

    async def publish(key: str, value: dict | None) -> None:
        fut = await rt.topics.auth_sessions.send(key=key.encode(), value=None if value is None else json.dumps(value).encode())
        await fut

    sessions = Sessions(web_cfg.session_idle_minutes * 60, web_cfg.session_max_hours * 3600, store=rt.views.sessions,
                        publish=publish, sync=rt.views.sync)
    guard = Guard(sessions, token_live)
    rt.app.web.web_app[HTTPS_FLAG] = web_cfg.public_url.lower().startswith("https://")
    broadcaster = Broadcaster(rt.settings.kafka.partitions)
    register_static(rt)
    register_form_views(rt)
    register_auth(rt, guard)
    register_live(rt, broadcaster, guard.current)
    register_system(rt, guard)
    register_audit(rt, guard)
    register_cta_views(rt, guard)
    register_document_ui(rt, guard)
    register_member_links(rt)
    register_dashboard(rt, guard, broadcaster)
    return guard
