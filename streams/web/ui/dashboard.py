"""The secretariat's dashboard: the live case queue, a case page and its lifecycle buttons."""

from __future__ import annotations

import asyncio

from aiohttp import web
from faust.web import View

from agents import paging
from schemas.cases import CaseEventKind
from schemas.vocab import CaseStatus, Consent, Region, Urgency
from streams.audit import record
from streams.runtime import Runtime
from streams.services.cases import TRANSITIONS, change_case, find_case, list_cases
from streams.services.errors import ServiceError
from streams.services.oncall import on_call_now
from streams.web.ui.auth import Guard
from streams.web.ui.live import Broadcaster
from streams.web.ui.render import Refused, html_guarded, page, redirect

FILTERS = {"status": [s.value for s in CaseStatus], "urgency": [u.value for u in Urgency],
           "region": [r.value for r in Region], "country": None}
FIELDS = {"ack": ("note",), "verify": ("note",), "escalate": ("urgency", "reason"), "consent": ("consent", "note"),
          "close": ("outcome",), "dismiss": ("reason",), "shred": ("reason",)}


def queue_filters(query) -> dict[str, str]:
    """The valid filters of a query string (others are ignored)."""
    out = {}
    for name, allowed in FILTERS.items():
        value = (query.get(name) or "").strip()
        if value and (allowed is None and len(value) == 2 and value.isalpha() or allowed and value in allowed):
            out[name] = value.upper() if name == "country" else value
    return out


def case_actions(rt: Runtime, case_id: str) -> list:
    """Calls to action approved for a case, newest first."""
    return rt.views.actions.for_case(case_id)


def render_case(rt: Runtime, request: web.Request, session, case_id: str, error: str | None = None,
                status: int = 200) -> web.Response:
    """The case page."""
    case = find_case(rt, case_id)
    if case is None:
        raise Refused(404, "No such case (a report just submitted may take a moment).")
    can_act = not case.shredded and case.status is CaseStatus.verified and case.consent >= Consent.network
    return page("case.html.j2", status=status, case=case, session=session, error=error, paging=paging_view(rt, case),
                done=request.query.get("done"), actions=case_actions(rt, case.case_id), can_act=can_act,
                urgencies=FILTERS["urgency"], consents=[c.value for c in Consent], page_name="case")


def paging_view(rt: Runtime, case) -> dict:
    """Where the case's paging stands, for the case page: state, each page with the names paged, who acknowledged."""
    members = rt.views.members
    pages = [{"at": e.at, "step": e.data.get("step"), "round": e.data.get("round"),
              "names": [paging.display(members.get(m)) for m in e.data.get("members", [])]} for e in paging.current_pages(case)]
    ack = paging.acknowledgement(case)
    by = None
    if ack is not None:
        who = members.get(ack.data.get("member_id") or "")
        by = {"name": paging.display(who) if who else ack.actor, "at": ack.at, "via": ack.data.get("via")}
    return {"state": paging.paging(case).value, "pages": pages, "ack": by,
            "can_ack": paging.refusal(case, CaseEventKind.acknowledged) is None and not case.shredded
            and case.status in (CaseStatus.new, CaseStatus.verified)}


def confirmed(rt: Runtime, case_id: str, typed: str | None) -> bool:
    """Whether the reference typed to confirm an erasure is the case's."""
    case = find_case(rt, case_id)
    return case is not None and (typed or "").strip().upper() == case.reference.upper()


async def _settled(rt: Runtime, case_id: str, event_id: str, timeout: float = 2.0) -> None:
    """Wait briefly until the case table shows the event, so the next page shows the change."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        case = find_case(rt, case_id)
        if case is not None and any(e.event_id == event_id for e in case.history):
            return
        await asyncio.sleep(0.05)


def register_dashboard(rt: Runtime, guard: Guard, broadcaster: Broadcaster) -> None:
    """Add /dashboard and the case pages."""

    @rt.app.page("/dashboard")
    class Queue(View):
        """The case queue."""

        @html_guarded
        async def get(self, request: web.Request) -> web.Response:
            """Cases, most urgent first, filtered; new and changed cases arrive live."""
            session = await guard.require(request)
            filters = queue_filters(request.query)
            await rt.views.sync()
            return page("dashboard.html.j2", session=session, cases=list_cases(rt, filters), filters=filters,
                        oncall=on_call_now(rt),
                        choices=FILTERS, since=broadcaster.seq, page_name="queue")

    @rt.app.page("/dashboard/cases/{case_id}")
    class CasePage(View):
        """One case."""

        @html_guarded
        async def get(self, request: web.Request, case_id: str) -> web.Response:
            """Reports, urgency and reasons, mechanisms, consent, history, and the lifecycle buttons."""
            session = await guard.require(request)
            await rt.views.sync()
            response = render_case(rt, request, session, case_id)
            shown = find_case(rt, case_id)
            await record(rt, session.token_id, "case.read", shown.case_id, shown.case_id, via="dashboard")
            return response

    @rt.app.page("/dashboard/cases/{case_id}/do/{verb}")
    class CaseChange(View):
        """Lifecycle buttons."""

        @html_guarded
        async def post(self, request: web.Request, case_id: str, verb: str) -> web.Response:
            """Verify, escalate, change consent, close or dismiss through change_case."""
            session, form = await guard.form(request)
            if verb not in TRANSITIONS:
                raise Refused(404, "Unknown action.")
            body = {k: form.get(k).strip() for k in FIELDS[verb] if (form.get(k) or "").strip()}
            if verb == "shred" and not confirmed(rt, case_id, form.get("confirm")):
                return render_case(rt, request, session, case_id, status=422,
                                   error="confirm: type the case's reference to shred it (it cannot be undone)")
            try:
                result = await change_case(rt, case_id, verb, body, session.name, token_id=session.token_id,
                                           via="dashboard")
            except ServiceError as exc:
                message = "; ".join(f"{p.field}: {p.message}" for p in exc.problems)
                return render_case(rt, request, session, case_id, error=message, status=exc.status)
            await _settled(rt, case_id, result["event_id"])
            return redirect(f"/dashboard/cases/{case_id}?done={verb}")
