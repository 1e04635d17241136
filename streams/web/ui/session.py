"""Secretariat sessions (keyed by a hash of a random id, shared by every worker) and CSRF tokens.

The cookie carries nothing but the random session id; the session itself is on the compacted auth.sessions.v1,
which every worker reads, so a login holds whichever worker the browser reaches and survives a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field

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


# A session's use is published at most this often: the idle timeout is then exact to within a minute.
TOUCH_SECONDS = 60.0


class Sessions:
    """Sessions by SHA-256 of their id, with an absolute expiry and an idle timeout.

    Kept in `store` (key -> dict), which on a worker is the replicated view of auth.sessions.v1: every worker
    reads every session, so a browser may reach any of them. Changes are written to the store at once (this
    worker sees them) and handed to `publish(key, value or None)` (the other workers see them a few
    milliseconds later; `sync` waits for that when a session is not found).
    """

    def __init__(self, idle_seconds: float = IDLE_SECONDS, max_seconds: float = SESSION_SECONDS, store=None,
                 publish: Callable[[str, dict | None], Awaitable[None]] | None = None,
                 sync: Callable[[], Awaitable[bool]] | None = None) -> None:
        self.store = store if store is not None else _LocalStore()
        self.idle_seconds, self.max_seconds = idle_seconds, max_seconds
        self._publish, self._sync = publish, sync

    async def _put(self, key: str, session: Session | None) -> None:
        value = None if session is None else asdict(session)
        if value is None:
            self.store.data.pop(key, None)
        else:
            self.store.data[key] = value
        if self._publish is not None:
            await self._publish(key, value)

    async def create(self, name: str, token_id: str, token_hash: str = "") -> tuple[str, Session]:
        """A new session; returns the raw id (for the cookie only) and the session."""
        raw = secrets.token_urlsafe(32)
        session = Session(name=name, token_id=token_id, token_hash=token_hash,
                          expires=time.time() + self.max_seconds)
        await self._put(_digest(raw), session)
        return raw, session

    async def get(self, raw: str | None, now: float | None = None) -> Session | None:
        """The live session for a raw id (and note its use), or None when unknown, expired or idle too long."""
        if not raw:
            return None
        now = time.time() if now is None else now
        key = _digest(raw)
        value = self.store.get(key)
        if value is None and self._sync is not None and await self._sync():
            value = self.store.get(key)  # opened through another worker moments ago
        if value is None:
            return None
        session = Session(**value)
        if session.expires < now or now - session.last_seen > self.idle_seconds:
            await self._put(key, None)
            return None
        if now - session.last_seen >= TOUCH_SECONDS:
            session.last_seen = now
            await self._put(key, session)
        return session

    async def end_for_token(self, token_hash: str) -> int:
        """End every session opened with a token (it was revoked); how many ended."""
        gone = [k for k, v in self.store.items() if v.get("token_hash") == token_hash]
        for key in gone:
            await self._put(key, None)
        return len(gone)

    async def drop(self, raw: str | None) -> None:
        """End a session."""
        if raw:
            await self._put(_digest(raw), None)


class _LocalStore:
    """A store for a single process (unit tests)."""

    def __init__(self) -> None:
        self.data: dict[str, dict] = {}

    def get(self, key: str) -> dict | None:
        return self.data.get(key)

    def items(self):
        return list(self.data.items())


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
