"""The secretariat's dashboard: the live case queue, a case page and its lifecycle buttons."""

from __future__ import annotations

import asyncio

from aiohttp import web
from faust.web import View

from agents import paging
from agents.casefile import TransitionRefused, check_transition
from agents.routing import load_catalogue
from agents.texts import country_name
from schemas.cases import CaseEventKind
from schemas.vocab import CaseStatus, Consent, IncidentType, Region, Urgency
from streams.audit import record
from streams.runtime import Runtime
from streams.services.cases import TRANSITIONS, change_case, find_case, list_cases
from streams.services.errors import ServiceError
from streams.services.oncall import on_call_now
from streams.services.referrals import due_referrals
from streams.web.ui import i18n
from streams.web.ui.auth import Guard
from streams.web.ui.extras import case_extras
from streams.web.ui.live import Broadcaster
from streams.web.ui.render import Refused, html_guarded, language, page, redirect

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


def allowed_verbs(case) -> set[str]:
    """The lifecycle verbs (TRANSITIONS' keys) the case's state allows now: the checks change_case makes.

    Escalating needs an urgency above the case's; every other verb is asked of check_transition as it stands.
    """
    allowed = set()
    for verb, (_model, kind) in TRANSITIONS.items():
        data: dict = {}
        if kind is CaseEventKind.escalated:
            higher = higher_urgencies(case)
            if not higher:
                continue
            data = {"urgency": higher[0]}
        elif kind is CaseEventKind.consent_changed:
            data = {"consent": case.consent.value}
        elif kind is CaseEventKind.acknowledged:
            data = {"via": "dashboard"}
        try:
            check_transition(case, kind, data)
        except TransitionRefused:
            continue
        allowed.add(verb)
    return allowed


def higher_urgencies(case) -> list[str]:
    """The urgencies a case may be escalated to (above its own), lowest first."""
    return [u.value for u in Urgency if u > case.urgency]


def mechanism_names(ids: list[str], lang: str) -> list[dict]:
    """The suggested mechanisms by display name in `lang` (the file's `names`, else `name`), ids kept."""
    catalogue = load_catalogue()
    out = []
    for mechanism_id in ids:
        try:
            mechanism = catalogue[mechanism_id]
        except KeyError:  # no longer in the file: its id is all there is
            name = mechanism_id.replace("-", " ").replace("_", " ")
        else:
            name = (getattr(mechanism, "names", None) or {}).get(lang) or mechanism.name
        out.append({"id": mechanism_id, "name": name})
    return out


def render_case(rt: Runtime, request: web.Request, session, case_id: str, error: str | None = None,
                status: int = 200) -> web.Response:
    """The case page, in the request's language, with the buttons the case's state allows."""
    lang = language(request)
    case = find_case(rt, case_id)
    if case is None:
        raise Refused(404, "dash.err.no_case")
    can_act = not case.shredded and case.status is CaseStatus.verified and case.consent >= Consent.network
    can_follow = (not case.shredded and case.status in (CaseStatus.verified, CaseStatus.closed)
                  and case.consent >= Consent.network)
    done = request.query.get("done")
    done_kind = TRANSITIONS[done][1].value if done in TRANSITIONS else None
    verbs = allowed_verbs(case)
    return page("case.html.j2", status=status, lang=lang, here=f"/dashboard/cases/{case.case_id}", case=case,
                session=session, error=error, paging=paging_view(rt, case, verbs), done=done, done_kind=done_kind,
                actions=case_actions(rt, case.case_id), can_act=can_act, can_follow=can_follow, verbs=verbs,
                higher=higher_urgencies(case), consents=[c.value for c in Consent],
                country=f"{country_name(case.country, lang)} ({case.country})",
                mechanisms=mechanism_names(case.mechanisms, lang), page_name="case",
                **case_extras(rt, case, lang))


def problem_text(problems) -> str:
    """A refused change's problems as one line, each with its field (the messages are the service's, in English)."""
    return "; ".join(f"{p.field}: {p.message}" for p in problems)


def paging_view(rt: Runtime, case, verbs: set[str] | None = None) -> dict:
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
            "can_ack": "ack" in (allowed_verbs(case) if verbs is None else verbs)}


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
                        oncall=on_call_now(rt), choices=FILTERS, consents=[c.value for c in Consent],
                        incidents=[i.value for i in IncidentType], since=broadcaster.seq, page_name="queue",
                        due=due_referrals(rt))

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
                raise Refused(404, "dash.err.unknown_action")
            body = {k: form.get(k).strip() for k in FIELDS[verb] if (form.get(k) or "").strip()}
            if verb == "shred" and not confirmed(rt, case_id, form.get("confirm")):
                return render_case(rt, request, session, case_id, status=422,
                                   error=i18n.translate(language(request), "dash.case.err.confirm"))
            try:
                result = await change_case(rt, case_id, verb, body, session.name, token_id=session.token_id,
                                           via="dashboard")
            except ServiceError as exc:
                message = problem_text(exc.problems)
                return render_case(rt, request, session, case_id, error=message, status=exc.status)
            await _settled(rt, case_id, result["event_id"])
            return redirect(f"/dashboard/cases/{case_id}?done={verb}")
