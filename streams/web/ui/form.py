"""GET/POST /report: the reporter's form, server-rendered, working without JavaScript."""

from __future__ import annotations

import json

from aiohttp import web
from faust.web import View
from pydantic import ValidationError

from schemas.audit import TokenRecord
from schemas.base import problems_from
from schemas.reports import ReportIn
from schemas.vocab import TokenRole
from streams.ids import hash_token
from streams.runtime import Runtime
from streams.services.errors import ServiceError
from streams.services.reports import dead_letter, report_wait, submit_report
from streams.web.api.common import find_token
from streams.stages.reporter_sms import report_status, reporters_case
from streams.web.ui import i18n, reportform
from streams.web.ui.render import html_guarded, page, redirect
from streams.web.ui.session import (FORM_CSRF_COOKIE, REPORTER_COOKIE, form_csrf, form_csrf_ok, set_cookie)

YEAR = 365 * 24 * 3600


def language(request: web.Request) -> str:
    """The interface language for this request."""
    return i18n.pick_language(request.query.get("lang"), request.cookies.get(i18n.COOKIE),
                              request.headers.get("Accept-Language", ""))


async def reporter(rt: Runtime, token: str | None) -> TokenRecord | None:
    """The live reporter token record for a raw token, or None."""
    if not token:
        return None
    try:
        record = await find_token(rt, hash_token(token))
    except UnicodeError:
        return None
    if record is None or record.revoked or TokenRole(record.role) is not TokenRole.reporter:
        return None
    return record


def render_form(request: web.Request, lang: str, form=None, errors=None, status: int = 200,
                token_error: bool = False) -> web.Response:
    """The form page, refilled with `form` and showing `errors` beside their fields."""
    csrf, new_cookie = form_csrf(request)
    form = form if form is not None else {}
    count = reportform.defender_count(form) if form else reportform.SHOWN_DEFENDERS
    open_defenders = {i for i in range(1, count) if any(k.startswith(f"defenders.{i}.") for k in (errors or {}))
                      or (form and (form.get(f"defenders.{i}.name") or form.get(f"defenders.{i}.organization")))}
    if form and form.get("add_defender"):
        open_defenders.add(count - 1)
    has_token = bool(request.cookies.get(REPORTER_COOKIE)) and not token_error
    response = page("report.html.j2", status=status, lang=lang, csrf=csrf, errors=errors or {},
                    v=reportform.values_for_template(form) if form else {"_groups": {}},
                    count=count, open_defenders=open_defenders,
                    need_token=not has_token, countries=reportform.countries(lang), incidents=reportform.INCIDENTS,
                    groups=reportform.GROUPS, genders=reportform.GENDERS, consents=reportform.CONSENTS,
                    offsets=reportform.OFFSETS)
    if new_cookie:
        set_cookie(response, request, FORM_CSRF_COOKIE, csrf, max_age=None, samesite="Lax")
    if request.query.get("lang") in i18n.LANGUAGES:
        set_cookie(response, request, i18n.COOKIE, lang, max_age=YEAR, samesite="Lax")
    return response


async def posted(request: web.Request) -> tuple:
    """A reporter page's posted form, its language, and the 403 page if its CSRF token is wrong (else None)."""
    form = await request.post()
    lang = i18n.pick_language(form.get("lang"), request.cookies.get(i18n.COOKIE),
                              request.headers.get("Accept-Language", ""))
    if not form_csrf_ok(request, form):
        return form, lang, page("error.html.j2", status=403, lang=lang, status_code=403,
                                message=i18n.translate(lang, "err.csrf"))
    return form, lang, None


def rate_limited(lang: str, seconds: int) -> str:
    """The form's message for a token over its report limit, in the reporter's language."""
    return i18n.translate(lang, "err.rate_limited", seconds=seconds)


def register_form_views(rt: Runtime) -> None:
    """Add /report and /report/sent."""

    @rt.app.page("/report")
    class ReportForm(View):
        """The reporter form."""

        @html_guarded
        async def get(self, request: web.Request) -> web.Response:
            """The empty form in the reporter's language."""
            return render_form(request, language(request))

        @html_guarded
        async def post(self, request: web.Request) -> web.Response:
            """Validate and submit; errors beside their fields, or a redirect to the reference."""
            form, lang, refused = await posted(request)
            if refused is not None:
                return refused
            if form.get("forget"):
                # "Forget this device": a phone that may fall into other hands must not keep the token.
                response = redirect(f"/report?lang={lang}")
                response.del_cookie(REPORTER_COOKIE, path="/")
                return response
            if form.get("add_defender"):
                return render_form(request, lang, form)
            typed = (form.get("token") or "").strip()
            who = await reporter(rt, typed or request.cookies.get(REPORTER_COOKIE))
            if who is None:
                errors = {"token": i18n.translate(lang, "err.token" if typed else "err.token.missing")}
                return render_form(request, lang, form, errors, status=401, token_error=True)
            wait = report_wait(rt, who)
            if wait is not None:
                # Shown beside the token field (the limit is the token's); the rest of the form stays filled in.
                response = render_form(request, lang, form, {"token": rate_limited(lang, wait)}, status=429,
                                       token_error=True)
                response.headers["Retry-After"] = str(wait)
                return response
            body = reportform.form_to_body(form)
            try:
                ReportIn.model_validate(body)
            except ValidationError as exc:
                await dead_letter(rt, "form", problems_from(exc), reportform_dump(body))
                return render_form(request, lang, form, reportform.field_errors(exc, lang), status=422)
            try:
                receipt = await submit_report(rt, body, "form", who.token_id)
            except ServiceError as exc:
                errors = {p.field: p.message for p in exc.problems}
                return render_form(request, lang, form, errors, status=exc.status)
            response = redirect(f"/report/sent?ref={receipt['reference']}&lang={lang}")
            if typed:
                set_cookie(response, request, REPORTER_COOKIE, typed, max_age=YEAR, samesite="Lax")
            return response

    @rt.app.page("/report/status")
    class ReportStatus(View):
        """A reporter asks what became of a report (received, verified, action under way, closed) with their token."""

        @html_guarded
        async def get(self, request: web.Request) -> web.Response:
            """The form, with the reference filled in from the link on the receipt page."""
            return render_status(request, language(request), clean_reference(request.query.get("ref")))

        @html_guarded
        async def post(self, request: web.Request) -> web.Response:
            """The status of one of this token's reports, and nothing about anyone else's."""
            form, lang, refused = await posted(request)
            if refused is not None:
                return refused
            typed = (form.get("token") or "").strip()
            who = await reporter(rt, typed or request.cookies.get(REPORTER_COOKIE))
            reference = clean_reference(form.get("reference"))
            if who is None:
                return render_status(request, lang, reference, status=401,
                                     token_error=i18n.translate(lang, "err.token" if typed else "err.token.missing"))
            await rt.views.sync()
            case = reporters_case(rt, who, reference) if reference else None
            return render_status(request, lang, reference or (form.get("reference") or "")[:20],
                                 report_status(rt, case) if case else "unknown")

    @rt.app.page("/report/sent")
    class ReportSent(View):
        """What the reporter sees after submitting."""

        @html_guarded
        async def get(self, request: web.Request) -> web.Response:
            """The reference in large type and what happens next."""
            ref = request.query.get("ref", "")
            if not ref.startswith("SOL-") or len(ref) > 20 or not ref[4:].isalnum():
                return redirect("/report")
            return page("report_sent.html.j2", lang=language(request), reference=ref)


def render_status(request: web.Request, lang: str, reference: str | None = None, state: str | None = None,
                  token_error: str | None = None, status: int = 200) -> web.Response:
    """The status page: a reference (and the token, unless this device remembers it) and what may be known."""
    csrf, new_cookie = form_csrf(request)
    has_token = bool(request.cookies.get(REPORTER_COOKIE)) and not token_error
    response = page("report_status.html.j2", status=status, lang=lang, csrf=csrf, reference=reference, state=state,
                    has_token=has_token, token_error=token_error)
    if new_cookie:
        set_cookie(response, request, FORM_CSRF_COOKIE, csrf, max_age=None, samesite="Lax")
    return response


def clean_reference(value: str | None) -> str | None:
    """A report reference as typed (SOL-7K3Q9X, any case), or None."""
    ref = (value or "").strip().upper()
    return ref if ref.startswith("SOL-") and len(ref) <= 20 and ref[4:].isalnum() else None


def reportform_dump(body: dict) -> str:
    """The body as JSON text for the dead-letter topic."""
    return json.dumps(body, default=str)
