"""The audit page: whether the chain verifies, and the newest entries (all, or one case's)."""

from __future__ import annotations

import asyncio
import re

from aiohttp import web
from faust.web import View

from streams.audit import audit_key
from streams.audit.view import AuditView
from streams.runtime import Runtime
from streams.web.ui.auth import Guard
from streams.web.ui.render import html_guarded, page

SHOWN = 200
CASE_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def register_audit(rt: Runtime, guard: Guard) -> None:
    """Add /dashboard/audit."""
    view = AuditView(rt.settings)

    @rt.app.page("/dashboard/audit")
    class Audit(View):
        """The audit trail."""

        @html_guarded
        async def get(self, request: web.Request) -> web.Response:
            """The chain's verdict over the whole log, and the newest entries first (?case=ID for one case)."""
            session = await guard.require(request)
            case_id = (request.query.get("case") or "").strip()
            case_id = case_id if CASE_ID.match(case_id) else ""
            seen = await asyncio.to_thread(view.snapshot, audit_key(), case_id or None, SHOWN)
            return page("audit.html.j2", session=session, verdict=seen, rows=seen.rows, problems=seen.problems,
                        case_id=case_id, shown=SHOWN, page_name="audit")
