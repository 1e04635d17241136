"""The route inventory: every HTTP route with its audience, enforced in one place before any view runs.

A route that is not listed here answers 404, whatever registered it (faust's built-in `/table`, `/router` and `/`
pages included), so a view added without an audience is closed rather than open. The views keep their own checks
as a second line; this middleware is the one that cannot be forgotten.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum

from aiohttp import web

from schemas.vocab import TokenRole
from streams.runtime import Runtime
from streams.services.errors import ServiceError
from streams.web.api.common import authenticate, error_response
from streams.web.api.webhooks import signed_form


class Audience(StrEnum):
    """Who may call a route."""

    public = "public"
    reporter = "reporter"
    secretariat = "secretariat"
    metrics = "metrics"
    twilio_signed = "twilio-signed"
    # A member's page opened from a signed, expiring link (streams/web/ui/member_links.py): the token in the
    # address is the credential, checked by the view (tampered 403, expired 410, used 409).
    member_link = "member-link"


A = Audience
ROUTES: dict[str, Audience] = {
    # The reporter form works without a token (it asks for one), as do its static files and the login page.
    "/report": A.public,
    "/report/sent": A.public,
    "/report/status": A.public,
    "/static/ui/{name}": A.public,
    "/dashboard/login": A.public,
    "/healthz": A.public,
    "/api/v1/reports": A.reporter,
    "/api/v1/reports/{reference}/status": A.reporter,
    "/api/v1/cases": A.secretariat,
    "/api/v1/cases/{case_id}": A.secretariat,
    "/api/v1/cases/{case_id}/{verb}": A.secretariat,
    "/api/v1/cases/{case_id}/actions": A.secretariat,
    "/api/v1/oncall": A.secretariat,
    "/api/v1/actions/{action_id}": A.secretariat,
    "/api/v1/actions/{action_id}/signatories.csv": A.secretariat,
    "/api/v1/members": A.secretariat,
    "/api/v1/members/{member_id}": A.secretariat,
    "/dashboard": A.secretariat,
    "/dashboard/logout": A.secretariat,
    "/dashboard/events": A.secretariat,
    "/dashboard/system": A.secretariat,
    "/dashboard/system/replay": A.secretariat,
    "/dashboard/audit": A.secretariat,
    "/dashboard/cases/{case_id}": A.secretariat,
    "/dashboard/cases/{case_id}/do/{verb}": A.secretariat,
    "/dashboard/cases/{case_id}/action": A.secretariat,
    "/dashboard/cases/{case_id}/audience.json": A.secretariat,
    "/dashboard/actions/{action_id}": A.secretariat,
    "/dashboard/actions/{action_id}/progress.json": A.secretariat,
    "/dashboard/actions/{action_id}/signatories.csv": A.secretariat,
    "/api/v1/cases/{case_id}/referrals": A.secretariat,
    "/api/v1/cases/{case_id}/referrals/{referral_id}": A.secretariat,
    "/api/v1/cases/{case_id}/referrals/{referral_id}/packet.pdf": A.secretariat,
    "/api/v1/referrals/due": A.secretariat,
    "/api/v1/actions/{action_id}/letter.pdf": A.secretariat,
    "/api/v1/actions/{action_id}/letter/send": A.secretariat,
    "/api/v1/actions/{action_id}/responses": A.secretariat,
    "/api/v1/actions/{action_id}/reports.csv": A.secretariat,
    "/dashboard/cases/{case_id}/referrals": A.secretariat,
    "/dashboard/cases/{case_id}/referrals/{referral_id}": A.secretariat,
    "/dashboard/cases/{case_id}/referrals/{referral_id}/packet.pdf": A.secretariat,
    "/dashboard/actions/{action_id}/letter.pdf": A.secretariat,
    "/dashboard/actions/{action_id}/letter/send": A.secretariat,
    "/dashboard/actions/{action_id}/reports.csv": A.secretariat,
    "/act/sign/{token}": A.member_link,
    "/act/report/{token}": A.member_link,
    "/member/{token}": A.member_link,
    "/metrics": A.metrics,
    "/webhooks/twilio/status": A.twilio_signed,
    "/webhooks/twilio/sms": A.twilio_signed,
}
# Dashboard addresses a browser navigates to: without a session they redirect to the login page; the others
# (JSON, CSV, live events, form posts) answer 401.
BROWSER_PAGES = ("/dashboard", "/dashboard/system", "/dashboard/audit", "/dashboard/cases/{case_id}",
                 "/dashboard/cases/{case_id}/action", "/dashboard/actions/{action_id}")
FAUST_BUILTINS = ("faust.web.apps.production_index:blueprint",)


def audience_of(request: web.Request) -> Audience | None:
    """The audience of the route a request matched, or None when it matched none we list."""
    return ROUTES.get(canonical(request) or "")


def canonical(request: web.Request) -> str | None:
    """The matched route's pattern (e.g. /api/v1/cases/{case_id})."""
    resource = getattr(request.match_info.route, "resource", None)
    return resource.canonical if resource is not None else None


def guard_routes(rt: Runtime, session_of: Callable[[web.Request], Awaitable[object | None]]) -> None:
    """Close faust's built-in pages and check every request against the inventory before its view runs."""
    web_ = rt.app.web
    # faust mounts a status page at "/" whenever its statistics pages are off; no setting turns it off.
    web_.blueprints._enabled = [(p, bp) for p, bp in web_.blueprints._enabled if bp not in FAUST_BUILTINS]

    @web.middleware
    async def enforce(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        if canonical(request) is None:
            return await handler(request)  # aiohttp's own 404/405
        audience = audience_of(request)
        if audience is None:
            return web.json_response({"errors": [{"field": "path", "message": "not found"}]}, status=404)
        refusal = await refuse(rt, session_of, audience, request)
        return refusal if refusal is not None else await handler(request)

    web_.web_app.middlewares.append(enforce)


async def refuse(rt: Runtime, session_of, audience: Audience, request: web.Request) -> web.StreamResponse | None:
    """The response that refuses this request for `audience`, or None when it may go on."""
    if audience in (Audience.public, Audience.member_link):
        return None
    if audience is Audience.twilio_signed:
        if await signed_form(rt, request) is None:
            return web.Response(status=403, text="invalid X-Twilio-Signature\n")
        return None
    if audience is Audience.secretariat and request.path.startswith("/dashboard"):
        if await session_of(request) is not None:
            return None
        if request.method == "GET" and canonical(request) in BROWSER_PAGES:
            return web.HTTPSeeOther(location="/dashboard/login")
        return web.json_response({"errors": [{"field": "session", "message": "log in first"}]}, status=401)
    role = {Audience.reporter: TokenRole.reporter, Audience.secretariat: TokenRole.secretariat,
            Audience.metrics: TokenRole.metrics}[audience]
    try:
        await authenticate(rt, request, role)
    except ServiceError as exc:
        headers = {"WWW-Authenticate": 'Bearer realm="solidarity"'} if exc.status == 401 else None
        return error_response(exc.status, exc.problems, headers=headers)
    return None
