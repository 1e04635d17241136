"""Calls to action in the dashboard: the form with live audience counts, approval, progress and signatories."""

from __future__ import annotations

from aiohttp import web
from faust.web import View

from agents.audience import select_members
from agents.fanout import address, letter_prefill, prefill, reachable
from agents.senders import SenderPool
from agents.regions import load_region_table
from notifiers.segments import segments
from schemas.actions import LETTER_KINDS, Audience
from schemas.vocab import ActionKind, Channel, Region
from streams.audit import record
from streams.runtime import Runtime
from streams.services.actions import approve_action, export_signatories
from streams.services.cases import find_case
from streams.services.errors import ServiceError
from streams.stages.delivery.progress import progress
from streams.web.api.common import guarded, json_response
from streams.web.ui import i18n
from streams.web.ui.auth import Guard
from streams.web.ui.extras import action_extras
from streams.web.ui.render import Refused, html_guarded, language, page, redirect

KINDS = [k.value for k in ActionKind]
BARS = ("queued", "sent", "delivered", "failed", "unknown", "signed")


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").replace(";", ",").split(",") if v.strip()]


def audience_from(data) -> tuple[dict, list[str]]:
    """The audience body and channels from a form or query string (countries and groups comma-separated)."""
    audience = {"regions": [r for r in data.getall("regions", []) if r in {x.value for x in Region}],
                "countries": [c.upper() for c in _split(data.get("countries"))],
                "languages": [lang for lang in data.getall("languages", []) if lang in i18n.LANGUAGES],
                "working_groups": _split(data.get("working_groups"))}
    channels = [c for c in data.getall("channels", []) if c in {x.value for x in Channel}]
    return audience, channels


def reach(rt: Runtime, case, audience: dict, channels: list[str], texts: dict[str, str]) -> dict:
    """Recipients per channel, SMS recipients per language, segments per language and the estimated fan-out time."""
    try:
        parsed = Audience.model_validate(audience)
    except Exception:  # noqa: BLE001 - a half-typed country code counts nobody
        return {"recipients": {c: 0 for c in channels}, "sms_by_language": {}, "segments": {}, "seconds": 0}
    members = select_members(rt.views.members.values(), parsed, load_region_table().network_region)
    chans = [Channel(c) for c in channels]
    counted = {ch.value: [m for m in members if reachable(m, ch)] for ch in chans}
    by_lang: dict[str, int] = {}
    for m in counted.get("sms", []):
        by_lang[m.language] = by_lang.get(m.language, 0) + 1
    missing = sorted(set(by_lang) - set(texts))
    all_texts = {**prefill(case, "sign_on_letter", missing), **texts} if missing else texts
    segs = {lang: segments(text).segments for lang, text in all_texts.items()}
    d = rt.settings.delivery
    pool = sender_pool(rt)
    # Each phone goes from its own sender at that sender's limit unless that one falls behind the others (as the
    # deliverer shares them out): the fan-out lasts as long as the busiest sender.
    sms_seconds = pool.seconds(((address(m, Channel.sms), segs.get(m.language, segs.get("en", 1)))
                                for m in counted.get("sms", [])), rt.settings.twilio.sticky_wait_seconds)
    mail_seconds = len(counted.get("email", [])) / d.email_per_second
    total = sum(n * segs.get(lang, segs.get("en", 1)) for lang, n in by_lang.items())
    return {"recipients": {k: len(v) for k, v in counted.items()}, "sms_by_language": by_lang, "segments": segs,
            "seconds": round(max(sms_seconds, mail_seconds), 1),
            # The rate this audience gets from the pool (its phones are not spread evenly over the senders):
            # the form scales the estimate by it while the texts are edited.
            "sms_rate": round(total / sms_seconds, 3) if sms_seconds else pool.rate,
            "pool_rate": pool.rate, "senders": len(pool.senders)}


def sender_pool(rt: Runtime) -> SenderPool:
    """The worker's SMS sender pool (the deliverer's, or one built from settings)."""
    deliverer = rt.hooks.deliverer
    if deliverer is not None:
        return deliverer.pool
    return SenderPool.from_settings(rt.settings.twilio, rt.settings.delivery.sms_segments_per_second)


TARGET_FIELDS = ("name", "title", "address", "email", "language")


def letter_from(form) -> dict:
    """The letter and target of the form, for a sign-on letter or petition whose target is filled in (without a
    target the letter fields are drafts left unused: signatures are still counted)."""
    if form.get("kind") not in LETTER_KINDS:
        return {}
    target = {f: (form.get(f"target.{f}") or "").strip() for f in TARGET_FIELDS}
    if not (target["name"] or target["email"]):
        return {}
    letter = {lang: form.get(f"letter.{lang}").strip() for lang in i18n.LANGUAGES
              if (form.get(f"letter.{lang}") or "").strip()}
    return {"letter": letter, "target": {k: v for k, v in target.items() if v}}


def _case_or_404(rt: Runtime, case_id: str):
    case = find_case(rt, case_id)
    if case is None:
        raise Refused(404, "dash.err.no_case")
    return case


def render_form(rt: Runtime, case, session, form=None, errors=None, status: int = 200) -> web.Response:
    """The call-to-action form, prefilled from the templates."""
    kind = (form.get("kind") if form else None) or "sign_on_letter"
    chosen = set(form.getall("follows", [])) if form is not None and hasattr(form, "getall") else set()
    prefills = {k: prefill(case, k, i18n.LANGUAGES) for k in KINDS}
    texts = {lang: (form.get(f"messages.{lang}") if form else None) or prefills[kind][lang] for lang in i18n.LANGUAGES}
    audience, channels = audience_from(form) if form else ({"regions": [], "countries": [], "languages": [],
                                                           "working_groups": []}, ["sms", "email"])
    earlier = rt.views.actions.for_case(case.case_id)
    letter_kind = kind if kind in LETTER_KINDS else "sign_on_letter"
    drafts = letter_prefill(case, letter_kind, i18n.LANGUAGES)
    letters = {lang: (form.get(f"letter.{lang}") if form else None) or drafts.get(lang, "") for lang in i18n.LANGUAGES}
    target = {f: (form.get(f"target.{f}") or "") if form else "" for f in TARGET_FIELDS}
    return page("action_new.html.j2", status=status, case=case, session=session, kinds=KINDS, kind=kind,
                earlier=earlier, follows=chosen, letters=letters, target=target,
                texts=texts, prefills=prefills, regions=[r.value for r in Region], audience=audience,
                channels=channels or ["sms", "email"], errors=errors or {}, deadline=form.get("deadline") if form else "",
                reach=reach(rt, case, audience, channels or ["sms", "email"], texts),
                segs={lang: segments(t) for lang, t in texts.items()}, page_name="case")


def register_cta_views(rt: Runtime, guard: Guard) -> None:
    """Add the call-to-action form, audience counts, action page, progress and signatories."""

    @rt.app.page("/dashboard/cases/{case_id}/action")
    class NewAction(View):
        """Approve a call to action."""

        @html_guarded
        async def get(self, request: web.Request, case_id: str) -> web.Response:
            """The form."""
            session = await guard.require(request)
            await rt.views.sync()
            case = _case_or_404(rt, case_id)
            # ?kind=closure_notice&follows=<action id>: the case page's follow-up links.
            response = render_form(rt, case, session, request.query if request.query.get("kind") in KINDS else None)
            # The form's prefilled texts are drawn from the case (a name, where consent is public): a read.
            await record(rt, session.token_id, "case.read", case.case_id, case.case_id, via="action_form")
            return response

        @html_guarded
        async def post(self, request: web.Request, case_id: str) -> web.Response:
            """Approve through approve_action and go to the action's progress page."""
            session, form = await guard.form(request)
            await rt.views.sync()
            case = _case_or_404(rt, case_id)
            audience, channels = audience_from(form)
            body: dict = {"kind": form.get("kind") or "", "audience": audience, "channels": channels,
                          "messages": {lang: form.get(f"messages.{lang}").strip() for lang in i18n.LANGUAGES
                                       if (form.get(f"messages.{lang}") or "").strip()}}
            if form.getall("follows", []):
                body["follows"] = [f for f in form.getall("follows") if f]
            if (form.get("deadline") or "").strip():
                body["deadline"] = form.get("deadline").strip() + "T23:59:59+00:00"
            body |= letter_from(form)
            try:
                result = await approve_action(rt, case.case_id, body, session.name, token_id=session.token_id)
            except ServiceError as exc:
                errors: dict[str, str] = {}
                for p in exc.problems:  # a text can both name a defender and use an unknown placeholder
                    errors[p.field] = f"{errors[p.field]} {p.message}" if p.field in errors else p.message
                return render_form(rt, case, session, form, errors, status=exc.status)
            return redirect(f"/dashboard/actions/{result['action_id']}")

    @rt.app.page("/dashboard/cases/{case_id}/audience.json")
    class Reach(View):
        """Live recipient counts for the form."""

        @guarded
        async def get(self, request: web.Request, case_id: str) -> web.Response:
            """Recipients per channel and the estimated fan-out time for an audience."""
            if await guard.current(request) is None:
                return json_response({"error": "log in first"}, status=401)
            case = find_case(rt, case_id)
            if case is None:
                return json_response({"error": "no such case"}, status=404)
            audience, channels = audience_from(request.query)
            kind = request.query.get("kind") if request.query.get("kind") in KINDS else "sign_on_letter"
            texts = prefill(case, kind, i18n.LANGUAGES)
            return json_response(reach(rt, case, audience, channels, texts))

    @rt.app.page("/dashboard/actions/{action_id}")
    class ActionPage(View):
        """Progress of a call to action."""

        @html_guarded
        async def get(self, request: web.Request, action_id: str) -> web.Response:
            """Live progress bars and the signatories download."""
            session = await guard.require(request)
            await rt.views.sync()
            action = rt.views.actions.get(action_id)
            state = progress(rt, action_id)
            extras = action_extras(rt, action, language(request)) if action is not None else {}
            return page("action.html.j2", session=session, action=action, action_id=action_id, state=state,
                        counts=state["counts"], bars=BARS, page_name="case", **extras)

    @rt.app.page("/dashboard/actions/{action_id}/progress.json")
    class Progress(View):
        """Progress counters as JSON (polled every second)."""

        @guarded
        async def get(self, request: web.Request, action_id: str) -> web.Response:
            """Counters and percent done."""
            if await guard.current(request) is None:
                return json_response({"error": "log in first"}, status=401)
            state = progress(rt, action_id)
            counts = state["counts"]
            done = sum(counts[s] for s in ("delivered", "failed", "opted_out", "cancelled", "unknown"))
            percent = 100 if state["finished"] else (min(99, round(100 * done / counts["targeted"])) if counts["targeted"] else 0)
            return json_response({"found": rt.views.actions.get(action_id) is not None, "counts": counts,
                                  "percent": percent, "finished": state["finished"],
                                  "finished_at": state["finished_at"], "failure": state["failure"]})

    @rt.app.page("/dashboard/actions/{action_id}/signatories.csv")
    class Signatories(View):
        """Signatories as CSV."""

        @html_guarded
        async def get(self, request: web.Request, action_id: str) -> web.Response:
            """The CSV download."""
            session = await guard.require(request)
            await rt.views.sync()
            action = rt.views.actions.get(action_id)
            if action is None:
                raise Refused(404, "dash.err.no_action")
            text = await export_signatories(rt, action, session.token_id)
            return web.Response(text=text, content_type="text/csv", headers={
                "Content-Disposition": f'attachment; filename="{action_id}-signatories.csv"', "Cache-Control": "no-store"})
