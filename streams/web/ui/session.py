"""Secretariat sessions (in memory, keyed by a hash of a random id) and CSRF tokens.

Sessions live in this worker's memory: with several web workers a login holds on one only, and a restart
logs everybody out. The cookie carries nothing but the random session id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field

from aiohttp import web

SESSION_COOKIE = "sol_session"
FORM_CSRF_COOKIE = "sol_csrf"
REPORTER_COOKIE = "sol_reporter"
SESSION_SECONDS = 8 * 3600
IDLE_SECONDS = 30 * 60
# Key of the aiohttp application flag saying the public URL is https: then every cookie is Secure.
HTTPS_FLAG = web.AppKey("solidarity_public_https", bool)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two non-empty strings."""
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


@dataclass
class Session:
    """A logged-in secretariat user: the token's name and id, a CSRF token and an expiry."""

    name: str
    token_id: str
    token_hash: str = ""
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    expires: float = field(default_factory=lambda: time.time() + SESSION_SECONDS)
    last_seen: float = field(default_factory=time.time)


class Sessions:
    """Sessions by SHA-256 of their id, with an absolute expiry and an idle timeout."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS, max_seconds: float = SESSION_SECONDS) -> None:
        self._by_hash: dict[str, Session] = {}
        self.idle_seconds, self.max_seconds = idle_seconds, max_seconds

    def create(self, name: str, token_id: str, token_hash: str = "") -> tuple[str, Session]:
        """A new session; returns the raw id (for the cookie only) and the session."""
        self._expire()
        raw = secrets.token_urlsafe(32)
        session = Session(name=name, token_id=token_id, token_hash=token_hash,
                          expires=time.time() + self.max_seconds)
        self._by_hash[_digest(raw)] = session
        return raw, session

    def get(self, raw: str | None, now: float | None = None) -> Session | None:
        """The live session for a raw id (and note its use), or None when unknown, expired or idle too long."""
        if not raw:
            return None
        now = time.time() if now is None else now
        session = self._by_hash.get(_digest(raw))
        if session is None or session.expires < now or now - session.last_seen > self.idle_seconds:
            self._by_hash.pop(_digest(raw), None)
            return None
        session.last_seen = now
        return session

    def end_for_token(self, token_hash: str) -> int:
        """End every session opened with a token (it was revoked); how many ended."""
        gone = [k for k, s in self._by_hash.items() if s.token_hash == token_hash]
        for key in gone:
            del self._by_hash[key]
        return len(gone)

    def drop(self, raw: str | None) -> None:
        """End a session."""
        if raw:
            self._by_hash.pop(_digest(raw), None)

    def _expire(self) -> None:
        now = time.time()
        for key in [k for k, s in self._by_hash.items() if s.expires < now or now - s.last_seen > self.idle_seconds]:
            del self._by_hash[key]


def secure(request: web.Request) -> bool:
    """Whether cookies should carry the Secure flag (public URL or the request is HTTPS)."""
    return (bool(request.app.get(HTTPS_FLAG)) or request.secure
            or request.headers.get("X-Forwarded-Proto", "") == "https")


def set_cookie(response: web.StreamResponse, request: web.Request, name: str, value: str, *, max_age: int | None,
               path: str = "/", samesite: str = "Strict") -> None:
    """Set an HttpOnly cookie with our defaults."""
    response.set_cookie(name, value, max_age=max_age, path=path, httponly=True, samesite=samesite,
                        secure=secure(request))


def form_csrf(request: web.Request) -> tuple[str, bool]:
    """The double-submit CSRF token for anonymous forms: (token, whether the cookie must be set)."""
    current = request.cookies.get(FORM_CSRF_COOKIE, "")
    if len(current) >= 32:
        return current, False
    return secrets.token_urlsafe(32), True


def form_csrf_ok(request: web.Request, form) -> bool:
    """Whether the form's csrf field matches the CSRF cookie."""
    return same(request.cookies.get(FORM_CSRF_COOKIE), form.get("csrf"))
