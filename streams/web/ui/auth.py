"""Dashboard login, logout and the session checks every dashboard view uses."""

from __future__ import annotations

from aiohttp import web
from faust.web import View

from agents.ratelimit import RateLimiter, address_key, retry_after_seconds
from schemas.vocab import TokenRole
from streams.ids import hash_token
from streams.audit import record as audit
from streams.runtime import Runtime
from streams.web.api.common import find_token
from streams.web.ui import i18n
from streams.web.ui.render import Refused, html_guarded, language, page, redirect
from streams.web.ui.session import (FORM_CSRF_COOKIE, SESSION_COOKIE, Session, Sessions, form_csrf, form_csrf_ok, same,
                                    set_cookie)


class Guard:
    """Session lookup and CSRF checks for the dashboard."""

    def __init__(self, sessions: Sessions, token_live=lambda token_hash: True) -> None:
        self.sessions, self.token_live = sessions, token_live

    async def current(self, request: web.Request) -> Session | None:
        """The session of this request, or None; a session whose token was revoked ends at once."""
        session = await self.sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is not None and not self.token_live(session.token_hash):
            await self.sessions.end_for_token(session.token_hash)
            return None
        return session

    async def require(self, request: web.Request) -> Session:
        """The session, or a redirect to the login page."""
        session = await self.current(request)
        if session is None:
            raise web.HTTPSeeOther(location="/dashboard/login")
        return session

    async def form(self, request: web.Request) -> tuple[Session, dict]:
        """The session and posted form of a dashboard POST; 403 without the session's CSRF token."""
        session = await self.current(request)
        form = await request.post()
        if session is None:
            raise Refused(403, "dash.err.session_ended")
        if not same(session.csrf, form.get("csrf")):
            raise Refused(403, "dash.err.csrf")
        return session, form


def register_auth(rt: Runtime, guard: Guard) -> None:
    """Add /dashboard/login and /dashboard/logout."""
    limits = rt.settings.limits
    # In memory, per worker (a restart forgets it). Keyed by request.remote: behind a reverse proxy every
    # client shares the proxy's address, so there the proxy must limit logins itself.
    attempts = RateLimiter.per_window(limits.login_attempts, limits.login_window_minutes * 60,
                                      max_keys=limits.tracked_keys)

    @rt.app.page("/dashboard/login")
    class Login(View):
        """Log in with a secretariat token."""

        @html_guarded
        async def get(self, request: web.Request) -> web.Response:
            """The login form."""
            return _login_page(request, guard.sessions)

        @html_guarded
        async def post(self, request: web.Request) -> web.Response:
            """Check the token and start a session."""
            form = await request.post()
            if not form_csrf_ok(request, form):
                raise Refused(403, "dash.err.csrf")
            # Every attempt counts, a successful one too (once), before the token is looked at.
            wait = attempts.take(address_key(request.remote))
            if wait > 0:
                seconds = retry_after_seconds(wait)
                lang = language(request)
                message = (i18n.translate(lang, "dash.login.too_many_seconds", n=seconds) if seconds < 60 else
                           i18n.translate(lang, "dash.login.too_many_minutes", n=-(-seconds // 60)))
                response = _login_page(request, guard.sessions, message, 429)
                response.headers["Retry-After"] = str(seconds)
                return response
            token = (form.get("token") or "").strip()
            try:
                record = await find_token(rt, hash_token(token)) if token else None
            except UnicodeError:
                record = None
            if record is None or record.revoked or TokenRole(record.role) is not TokenRole.secretariat:
                # A refused login is recorded too: by the token's id when the token is known (revoked, or not a
                # secretariat's), else by the system; never what was typed.
                why = "unknown_token" if record is None else "revoked" if record.revoked else "not_secretariat"
                await audit(rt, record.token_id if record else "system", "session.login_refused",
                            record.token_id if record else "dashboard", reason=why)
                return _login_page(request, guard.sessions, i18n.translate(language(request), "dash.login.invalid"),
                                   401)
            raw, _ = await guard.sessions.create(record.name, record.token_id, hash_token(token))
            await audit(rt, record.token_id, "session.login", record.token_id)
            response = redirect("/dashboard")
            set_cookie(response, request, SESSION_COOKIE, raw, max_age=int(guard.sessions.max_seconds), path="/",
                       samesite="Strict")
            return response

    @rt.app.page("/dashboard/logout")
    class Logout(View):
        """End the session."""

        @html_guarded
        async def post(self, request: web.Request) -> web.Response:
            """Drop the session and its cookie."""
            session, _ = await guard.form(request)
            await guard.sessions.drop(request.cookies.get(SESSION_COOKIE))
            await audit(rt, session.token_id, "session.logout", session.token_id)
            response = redirect("/dashboard/login")
            response.del_cookie(SESSION_COOKIE, path="/")
            return response


def _login_page(request: web.Request, sessions: Sessions, error: str | None = None, status: int = 200) -> web.Response:
    csrf, new_cookie = form_csrf(request)
    response = page("login.html.j2", status=status, csrf=csrf, error=error,
                    hours=round(sessions.max_seconds / 3600), minutes=round(sessions.idle_seconds / 60))
    if new_cookie:
        set_cookie(response, request, FORM_CSRF_COOKIE, csrf, max_age=None, samesite="Lax")
    return response
