"""HTML rendering for the browser interface: templates, static assets, security headers, never a 500."""

from __future__ import annotations

import functools
import logging
import mimetypes
from contextvars import ContextVar
from datetime import datetime, timezone
from pathlib import Path
from typing import Awaitable, Callable
from urllib.parse import urlencode

from aiohttp import web
from babel import Locale
from babel.dates import format_skeleton
from faust.web import View
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from markupsafe import Markup, escape

from streams.runtime import Runtime
from streams.web.ui import i18n
from streams.web.ui.session import set_cookie

log = logging.getLogger("solidarity.ui")
HERE = Path(__file__).parent
STATIC = HERE / "static"
HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


# The request an html_guarded view is answering: page() reads its language and the language switch's links.
_REQUEST: ContextVar[web.Request | None] = ContextVar("solidarity_ui_request", default=None)
DASHBOARD = "/dashboard"


def language(request: web.Request | None) -> str:
    """The interface language of a request: ?lang=, then the sol_lang cookie, then Accept-Language, then English."""
    if request is None:
        return i18n.FALLBACK
    return i18n.pick_language(request.query.get("lang"), request.cookies.get(i18n.COOKIE),
                              request.headers.get("Accept-Language", ""))


def remember_language(response: web.StreamResponse, request: web.Request) -> None:
    """A dashboard page asked for with ?lang= remembers it for the browser session (the reporter form's cookie)."""
    chosen = (request.query.get("lang") or "").lower()
    if request.path.startswith(DASHBOARD) and chosen in i18n.LANGUAGES:
        set_cookie(response, request, i18n.COOKIE, chosen, max_age=None, samesite="Lax")


def switch_links(request: web.Request | None, lang: str, here: str | None = None) -> list[dict]:
    """The language switch: this page (or `here`) in every language, its other query parameters kept."""
    if here is not None:
        base, query = here, []
    elif request is None:
        base, query = "", []
    else:
        base = request.rel_url.raw_path
        query = [(k, v) for k, v in request.query.items() if k != "lang"] if request.method == "GET" else []
    return [{"code": code, "name": i18n.NAMES[code], "current": code == lang,
             "href": f"{base}?{urlencode([*query, ('lang', code)])}"} for code in i18n.LANGUAGES]


def _when(value) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


def format_when(value, lang: str, what: str = "datetime", utc: bool = True) -> str:
    """A date and/or time in UTC, written the way `lang` writes it (babel), saying UTC unless `utc` is False.

    what: datetime (date, hours and minutes), seconds (with seconds), date, or time (hours, minutes, seconds).
    Anything that is not a date is returned as text, unchanged.
    """
    when = _when(value)
    if when is None:
        return "" if value is None else str(value)
    when = when.astimezone(timezone.utc)
    kw = {"tzinfo": timezone.utc, "locale": lang}
    if what == "date":
        return format_skeleton("yMMMd", when, **kw)
    if what == "time":
        text = format_skeleton("Hms", when, **kw)
    else:
        day = format_skeleton("yMMMd", when, **kw)
        hour = format_skeleton("Hms" if what == "seconds" else "Hm", when, **kw)
        text = Locale.parse(lang).datetime_formats["medium"].format(hour, day)
    return i18n.translate(lang, "fmt.utc", when=text) if utc else text


def _filter(what: str):
    @pass_context
    def apply(context, value, utc: bool = True) -> str:
        return format_when(value, context.get("lang") or i18n.FALLBACK, what, utc)

    return apply


@functools.lru_cache(maxsize=1)
def env() -> Environment:
    """The jinja2 environment (HTML autoescaped)."""
    e = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["j2", "html"]),
                    trim_blocks=True, lstrip_blocks=True)
    e.globals.update(LANGUAGES=i18n.LANGUAGES, LANGUAGE_NAMES=i18n.NAMES)
    # {{ x|dt }} 5 mar 2026, 14:07 UTC · {{ x|dts }} with seconds · {{ x|d }} the date · {{ x|hms }} the time.
    e.filters.update(dt=_filter("datetime"), dts=_filter("seconds"), d=_filter("date"), hms=_filter("time"))
    return e


def helpers(lang: str) -> dict:
    """What every template gets to write text in `lang`.

    t(key, **values): the text; tm(key, **values): the same as markup, its values escaped unless they are markup
    themselves (to put an element inside a sentence); vt(vocab, value): a value of a vocabulary (`v.<vocab>.<value>`,
    else the value with spaces); vmap(vocab, values): {value: label} for scripts; pf(key): a plural message as
    {CLDR category: text} for scripts.
    """
    def t(key: str, **values) -> str:
        return i18n.translate(lang, key, **values)

    def tm(key: str, **values) -> Markup:
        return Markup(escape(i18n.message(lang, key, values.get("n")))).format(**values)

    def vt(vocab: str, value) -> str:
        value = getattr(value, "value", value)
        key = f"v.{vocab}.{value}"
        return i18n.translate(lang, key) if i18n.has(lang, key) else str(value).replace("_", " ")

    def vmap(vocab: str, values) -> dict[str, str]:
        return {getattr(v, "value", v): vt(vocab, v) for v in values}

    return {"lang": lang, "dir": i18n.direction(lang), "t": t, "tm": tm, "vt": vt, "vmap": vmap,
            "pf": functools.partial(i18n.plural_forms, lang)}


def page(template: str, status: int = 200, lang: str | None = None, here: str | None = None,
         **context) -> web.Response:
    """A rendered HTML page with our security headers, in `lang` (by default the request's language).

    here: where the language switch points when this page answers a POST (the page to show again).
    """
    request = _REQUEST.get()
    lang = lang if lang in i18n.LANGUAGES else language(request)
    ctx = {**helpers(lang), "switch": switch_links(request, lang, here), **context}
    html = env().get_template(template).render(**ctx)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8", headers=HEADERS)


def error_page(status: int, message: str, lang: str | None = None) -> web.Response:
    """A small HTML error page; a message that is a catalogue key is shown translated."""
    request = _REQUEST.get()
    lang = lang if lang in i18n.LANGUAGES else language(request)
    text = i18n.translate(lang, message) if i18n.has(lang, message) else message
    home = DASHBOARD if request is not None and request.path.startswith(DASHBOARD) else "/report"
    here = home if request is not None and request.method != "GET" else None  # a POST's address has no page
    return page("error.html.j2", status=status, lang=lang, here=here, status_code=status, message=text, home=home)


class Refused(Exception):
    """An HTML request refused with a status and a message shown to the user (a catalogue key, shown translated)."""

    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message
        super().__init__(f"{status}")


def html_guarded(handler: Callable[..., Awaitable[web.StreamResponse]]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Answer Refused with its page and any unexpected failure with a 503 page, never a 500.

    Pages rendered meanwhile are in the request's language; a dashboard page asked for with ?lang= remembers it.
    """

    @functools.wraps(handler)
    async def wrapper(self, request, *args, **kwargs):
        token = _REQUEST.set(request)
        try:
            try:
                response = await handler(self, request, *args, **kwargs)
            except Refused as exc:
                response = error_page(exc.status, exc.message)
            except web.HTTPException as exc:
                remember_language(exc, request)
                raise
            except Exception as exc:  # noqa: BLE001 - the contract is "never a 500"
                # The route's pattern, not the path: a member link's path is its signed token.
                resource = getattr(request.match_info.route, "resource", None)
                log.error("unexpected %s in %s %s", type(exc).__name__, request.method,
                          resource.canonical if resource is not None else "-")
                response = error_page(503, "err.unavailable")
            remember_language(response, request)
            return response
        finally:
            _REQUEST.reset(token)

    return wrapper


def redirect(location: str) -> web.Response:
    """A 303 See Other (after a form post)."""
    return web.Response(status=303, headers={"Location": location, **HEADERS})


def register_static(rt: Runtime) -> None:
    """Serve static/*.css|js from memory at /static/ui/{name}."""
    files = {p.name: p.read_bytes() for p in STATIC.iterdir() if p.suffix in (".css", ".js")}

    @rt.app.page("/static/ui/{name}")
    class Static(View):
        """CSS and JavaScript of the browser interface."""

        async def get(self, request: web.Request, name: str) -> web.Response:
            """The asset, cached for an hour."""
            body = files.get(name)
            if body is None:
                return web.Response(status=404, text="not found")
            ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            return web.Response(body=body, content_type=ctype, charset="utf-8",
                                headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})
