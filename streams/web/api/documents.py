"""Referrals to mechanisms, letters to their targets, and members' reports back: the JSON and PDF endpoints."""

from __future__ import annotations

import asyncio

from aiohttp import web
from faust.web import View

from schemas.vocab import TokenRole
from streams.audit import record
from streams.runtime import Runtime
from streams.services import letters, referrals, responses
from streams.services.actions import get_action
from streams.services.cases import get_case
from streams.services.errors import ServiceError
from streams.web.api.common import authenticate, guarded, json_response, read_json


def pdf_response(data: bytes, name: str) -> web.Response:
    """A PDF download (never cached: it holds what consent allows one mechanism or one target to see)."""
    return web.Response(body=data, content_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store",
                                 "X-Content-Type-Options": "nosniff"})


async def case_or_404(rt: Runtime, case_id: str):
    """The case as of now; 404 naming case_id otherwise."""
    case = await get_case(rt, case_id)
    if case is None:
        raise ServiceError(404, "no such case", field="case_id")
    return case


def register_document_views(rt: Runtime) -> None:
    """Add the referral, letter and report-back endpoints (before the generic case routes)."""

    @rt.app.page("/api/v1/cases/{case_id}/referrals")
    class Referrals(View):
        """A case's referrals to protection mechanisms."""

        @guarded
        async def get(self, request: web.Request, case_id: str) -> web.Response:
            """Every referral of the case with its status history and follow-up date."""
            who = await authenticate(rt, request, TokenRole.secretariat)
            case = await case_or_404(rt, case_id)
            await record(rt, who.token_id, "case.read", case.case_id, case.case_id, via="referrals")
            return json_response({"referrals": [r.as_json() for r in referrals.referrals_of(case)]})

        @guarded
        async def post(self, request: web.Request, case_id: str) -> web.Response:
            """Draft a referral and send it by email (or draft it for a web form); 201."""
            who = await authenticate(rt, request, TokenRole.secretariat)
            body = await read_json(request, rt.settings.web.max_body_bytes)
            return json_response(await referrals.create_referral(rt, case_id, body, who.name, token_id=who.token_id),
                                 status=201)

    @rt.app.page("/api/v1/cases/{case_id}/referrals/{referral_id}")
    class OneReferral(View):
        """One referral: read it, or record that it was submitted, acknowledged or answered."""

        @guarded
        async def get(self, request: web.Request, case_id: str, referral_id: str) -> web.Response:
            """The referral."""
            who = await authenticate(rt, request, TokenRole.secretariat)
            case = await case_or_404(rt, case_id)
            await record(rt, who.token_id, "case.read", case.case_id, case.case_id, via="referral")
            return json_response(referrals.find_referral(case, referral_id).as_json())

        @guarded
        async def post(self, request: web.Request, case_id: str, referral_id: str) -> web.Response:
            """Record a status change with a note."""
            who = await authenticate(rt, request, TokenRole.secretariat)
            body = await read_json(request, rt.settings.web.max_body_bytes)
            return json_response(await referrals.update_referral(rt, case_id, referral_id, body, who.name,
                                                                 token_id=who.token_id))

    @rt.app.page("/api/v1/cases/{case_id}/referrals/{referral_id}/packet.pdf")
    class Packet(View):
        """The referral packet as a PDF (for a mechanism's web form)."""

        @guarded
        async def get(self, request: web.Request, case_id: str, referral_id: str) -> web.Response:
            """The PDF, rebuilt from the case as it is now; the export audited."""
            who = await authenticate(rt, request, TokenRole.secretariat)
            case = await case_or_404(rt, case_id)
            ref = referrals.find_referral(case, referral_id)
            data = await asyncio.to_thread(referrals.packet_pdf, case, ref)
            await record(rt, who.token_id, "export.referral", referral_id, case.case_id, mechanism=ref.mechanism)
            return pdf_response(data, referrals.filename(case, ref.mechanism))

    @rt.app.page("/api/v1/referrals/due")
    class Due(View):
        """Referrals whose follow-up reminder is due."""

        @guarded
        async def get(self, request: web.Request) -> web.Response:
            """Most overdue first."""
            await authenticate(rt, request, TokenRole.secretariat)
            await rt.views.sync()
            return json_response({"due": referrals.due_referrals(rt)})

    @rt.app.page("/api/v1/actions/{action_id}/letter.pdf")
    class LetterPdf(View):
        """A sign-on letter or petition with its signatories, as a PDF."""

        @guarded
        async def get(self, request: web.Request, action_id: str) -> web.Response:
            """The letter as it would be sent now (?lang= renders it in another of its languages)."""
            who = await authenticate(rt, request, TokenRole.secretariat)
            action = await get_action(rt, action_id)
            data = await asyncio.to_thread(letters.letter_pdf, rt, action, request.query.get("lang"))
            await record(rt, who.token_id, "export.letter", action.action_id, action.case_id)
            return pdf_response(data, letters.filename(action))

    @rt.app.page("/api/v1/actions/{action_id}/letter/send")
    class LetterSend(View):
        """Send the letter to its target now."""

        @guarded
        async def post(self, request: web.Request, action_id: str) -> web.Response:
            """Email it with its signatories so far; 409 if it was already sent."""
            who = await authenticate(rt, request, TokenRole.secretariat)
            action = await get_action(rt, action_id)
            return json_response(await letters.send_letter(rt, action, who.name, token_id=who.token_id, via="demand"))

    @rt.app.page("/api/v1/actions/{action_id}/responses")
    class Responses(View):
        """Signatures and reports back, per country and region."""

        @guarded
        async def get(self, request: web.Request, action_id: str) -> web.Response:
            """The tally (no personal data: organisations, countries, counts)."""
            await authenticate(rt, request, TokenRole.secretariat)
            action = await get_action(rt, action_id)
            tally = responses.tally(rt, action.action_id)
            case = rt.views.cases.get(action.case_id)
            sent = letters.sent_event(case, action.action_id)
            return json_response({
                "action_id": action.action_id, "signatures": tally["signatures"], "reports": tally["reports"],
                "by_country": tally["by_country"], "by_region": tally["by_region"],
                "letter_sent": {"at": sent.at.isoformat(), **sent.data} if sent else None})

    @rt.app.page("/api/v1/actions/{action_id}/reports.csv")
    class ReportsCsv(View):
        """Members' reports back as CSV."""

        @guarded
        async def get(self, request: web.Request, action_id: str) -> web.Response:
            """Every cell neutralised; the export audited."""
            who = await authenticate(rt, request, TokenRole.secretariat)
            action = await get_action(rt, action_id)
            return web.Response(text=await responses.export_reports(rt, action, who.token_id), content_type="text/csv",
                                headers={"Content-Disposition": f'attachment; filename="{action_id}-reports.csv"'})
