"""Referrals, letters and reports back in the dashboard: the forms' posts and the PDF and CSV downloads."""

from __future__ import annotations

import asyncio

from aiohttp import web
from faust.web import View

from streams.audit import record
from streams.runtime import Runtime
from streams.services import letters, referrals, responses
from streams.services.cases import find_case
from streams.services.errors import ServiceError
from streams.web.ui.auth import Guard
from streams.web.ui.dashboard import problem_text, render_case
from streams.web.ui.render import Refused, html_guarded, redirect

REFERRAL_FIELDS = ("mechanism", "perpetrators", "national_actions", "support_needed", "note", "send", "language")


def pdf(data: bytes, name: str) -> web.Response:
    """A PDF download, never cached."""
    return web.Response(body=data, content_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})


async def on_case(rt: Runtime, request: web.Request, session, case_id: str, change) -> web.Response:
    """Run a referral change; back to the case's referrals, or the case page with the refusal."""
    try:
        await change
    except ServiceError as exc:
        await rt.views.sync()
        return render_case(rt, request, session, case_id, error=problem_text(exc.problems), status=exc.status)
    await rt.views.sync()
    return redirect(f"/dashboard/cases/{case_id}#referrals")


def register_document_ui(rt: Runtime, guard: Guard) -> None:
    """Add the referral posts and downloads, the letter download and send, and the reports-back CSV."""

    def case_or_404(case_id: str):
        case = find_case(rt, case_id)
        if case is None:
            raise Refused(404, "dash.err.no_case")
        return case

    def action_or_404(action_id: str):
        action = rt.views.actions.get(action_id)
        if action is None:
            raise Refused(404, "dash.err.no_action")
        return action

    @rt.app.page("/dashboard/cases/{case_id}/referrals")
    class NewReferral(View):
        """Refer the case to a mechanism."""

        @html_guarded
        async def post(self, request: web.Request, case_id: str) -> web.Response:
            """Draft it, and send it by email unless it is for a web form."""
            session, form = await guard.form(request)
            body = {k: form.get(k).strip() for k in REFERRAL_FIELDS if (form.get(k) or "").strip()}
            return await on_case(rt, request, session, case_id, referrals.create_referral(
                rt, case_id, body, session.name, token_id=session.token_id))

    @rt.app.page("/dashboard/cases/{case_id}/referrals/{referral_id}")
    class ReferralStatus(View):
        """Record a referral's submission, acknowledgement or answer."""

        @html_guarded
        async def post(self, request: web.Request, case_id: str, referral_id: str) -> web.Response:
            """Through update_referral."""
            session, form = await guard.form(request)
            body = {k: form.get(k).strip() for k in ("status", "note") if (form.get(k) or "").strip()}
            return await on_case(rt, request, session, case_id, referrals.update_referral(
                rt, case_id, referral_id, body, session.name, token_id=session.token_id))

    @rt.app.page("/dashboard/cases/{case_id}/referrals/{referral_id}/packet.pdf")
    class PacketPdf(View):
        """The referral packet as a PDF."""

        @html_guarded
        async def get(self, request: web.Request, case_id: str, referral_id: str) -> web.Response:
            """Rebuilt from the case as it is now; the export audited."""
            session = await guard.require(request)
            await rt.views.sync()
            case = case_or_404(case_id)
            try:
                ref = referrals.find_referral(case, referral_id)
                data = await asyncio.to_thread(referrals.packet_pdf, case, ref)
            except ServiceError as exc:
                raise Refused(exc.status, problem_text(exc.problems)) from None
            await record(rt, session.token_id, "export.referral", referral_id, case.case_id, mechanism=ref.mechanism)
            return pdf(data, referrals.filename(case, ref.mechanism))

    @rt.app.page("/dashboard/actions/{action_id}/letter.pdf")
    class LetterPdf(View):
        """The letter with its signatories so far."""

        @html_guarded
        async def get(self, request: web.Request, action_id: str) -> web.Response:
            """The PDF (?lang= for another of the letter's languages)."""
            session = await guard.require(request)
            await rt.views.sync()
            action = action_or_404(action_id)
            try:
                data = await asyncio.to_thread(letters.letter_pdf, rt, action, request.query.get("lang") or None)
            except ServiceError as exc:
                raise Refused(exc.status, problem_text(exc.problems)) from None
            await record(rt, session.token_id, "export.letter", action.action_id, action.case_id)
            return pdf(data, letters.filename(action))

    @rt.app.page("/dashboard/actions/{action_id}/letter/send")
    class LetterSend(View):
        """Send the letter to its target now."""

        @html_guarded
        async def post(self, request: web.Request, action_id: str) -> web.Response:
            """Then back to the action page, which shows when it was sent."""
            session, _ = await guard.form(request)
            await rt.views.sync()
            action = action_or_404(action_id)
            try:
                await letters.send_letter(rt, action, session.name, token_id=session.token_id, via="demand")
            except ServiceError as exc:
                raise Refused(exc.status, problem_text(exc.problems)) from None
            await rt.views.sync()
            return redirect(f"/dashboard/actions/{action_id}#letter")

    @rt.app.page("/dashboard/actions/{action_id}/reports.csv")
    class ReportsCsv(View):
        """Members' reports back as CSV."""

        @html_guarded
        async def get(self, request: web.Request, action_id: str) -> web.Response:
            """Every cell neutralised; the export audited."""
            session = await guard.require(request)
            await rt.views.sync()
            action = action_or_404(action_id)
            text = await responses.export_reports(rt, action, session.token_id)
            return web.Response(text=text, content_type="text/csv", headers={
                "Content-Disposition": f'attachment; filename="{action_id}-reports.csv"', "Cache-Control": "no-store"})
