"""HTML rendering for the browser interface: templates, static assets, security headers, never a 500."""

from __future__ import annotations

import functools
import logging
import mimetypes
from pathlib import Path
from typing import Awaitable, Callable

from aiohttp import web
from faust.web import View
from jinja2 import Environment, FileSystemLoader, select_autoescape

from streams.runtime import Runtime
from streams.web.ui import i18n

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


@functools.lru_cache(maxsize=1)
def env() -> Environment:
    """The jinja2 environment (HTML autoescaped)."""
    e = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["j2", "html"]),
                    trim_blocks=True, lstrip_blocks=True)
    e.globals.update(LANGUAGES=i18n.LANGUAGES, LANGUAGE_NAMES=i18n.NAMES)
    return e


def page(template: str, status: int = 200, lang: str = "en", **context) -> web.Response:
    """A rendered HTML page with our security headers."""
    ctx = {"lang": lang, "dir": i18n.direction(lang), "t": functools.partial(i18n.translate, lang), **context}
    html = env().get_template(template).render(**ctx)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8", headers=HEADERS)


def error_page(status: int, message: str, lang: str = "en") -> web.Response:
    """A small HTML error page."""
    return page("error.html.j2", status=status, lang=lang, status_code=status, message=message)


class Refused(Exception):
    """An HTML request refused with a status and a message shown to the user."""

    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message
        super().__init__(f"{status}")


def html_guarded(handler: Callable[..., Awaitable[web.StreamResponse]]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Answer Refused with its page and any unexpected failure with a 503 page, never a 500."""

    @functools.wraps(handler)
    async def wrapper(self, request, *args, **kwargs):
        try:
            return await handler(self, request, *args, **kwargs)
        except Refused as exc:
            return error_page(exc.status, exc.message)
        except web.HTTPException:
            raise
        except Exception as exc:  # noqa: BLE001 - the contract is "never a 500"
            log.error("unexpected %s in %s %s", type(exc).__name__, request.method, request.path)
            return error_page(503, "Temporarily unavailable, please try again.")

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
