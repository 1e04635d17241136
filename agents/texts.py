"""Texts sent to people: templates per language from data/messages.yaml, rendered with jinja2."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, StrictUndefined

DATA = Path(__file__).parent / "data" / "messages.yaml"
FALLBACK = "en"


@lru_cache(maxsize=1)
def _catalogue() -> dict[str, Any]:
    return yaml.safe_load(DATA.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _env() -> Environment:
    # Plain text, not HTML: autoescape would mangle apostrophes in French and Portuguese.
    return Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)


def template(path: str, language: str) -> str:
    """The raw template at a dotted path (e.g. 'actions.petition') in `language`, falling back to English."""
    node: Any = _catalogue()
    for part in path.split("."):
        node = node[part]
    return node.get(language) or node[FALLBACK]


def languages(path: str) -> list[str]:
    """Languages a template exists in."""
    node: Any = _catalogue()
    for part in path.split("."):
        node = node[part]
    return sorted(node)


@lru_cache(maxsize=1024)
def _compiled(text: str):
    # Compiling is the expensive part; a fan-out renders the same few texts thousands of times.
    return _env().from_string(text)


def render(path: str, language: str, **values: Any) -> str:
    """Render the template at `path` in `language` (English if missing)."""
    return _compiled(template(path, language)).render(**values).strip()


def render_text(text: str, **values: Any) -> str:
    """Render a secretariat-written text that may use the same placeholders."""
    return _compiled(text).render(**values).strip()


@lru_cache(maxsize=2048)
def country_name(code: str, language: str) -> str:
    """The country's common name in `language` (pycountry's ISO 3166 translations), or the code."""
    import gettext

    import pycountry

    country = pycountry.countries.get(alpha_2=code.upper())
    if country is None:
        return code
    name = getattr(country, "common_name", None) or country.name
    try:
        tr = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[language])
    except OSError:
        return name
    return tr.gettext(name) if name == country.name else tr.gettext(country.name)
