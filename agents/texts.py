"""Texts sent to people: plain text per language from data/messages.yaml, with a fixed set of `{name}` placeholders."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).parent / "data" / "messages.yaml"
FALLBACK = "en"

# Texts are data, not code: these names are all a text can refer to, and substitution is a lookup in a dict of
# strings, so no text can reach a Python object (a template engine would evaluate `{{ cycler.__init__ ... }}`).
PLACEHOLDERS = frozenset({"reference", "deadline", "country", "sign_word", "done_word", "incident", "urgency", "link"})
# The dashboard link is for the on-call secretariat's alerts only; members' texts never carry it.
ACTION_PLACEHOLDERS = PLACEHOLDERS - {"link"}
# The catalogue's own texts (never a person's) may also name who acknowledged a page, who else was paged, the step.
CATALOGUE_PLACEHOLDERS = PLACEHOLDERS | {"name", "names", "step", "url", "days"}
# A member's own signed link (signature, report form, self-service page) and how long it lasts: never the dashboard.
MEMBER_LINK_PLACEHOLDERS = ACTION_PLACEHOLDERS | {"url", "days"}

_TOKEN = re.compile(r"\{(\w*)\}|[{}]")


@lru_cache(maxsize=1)
def _catalogue() -> dict[str, Any]:
    return yaml.safe_load(DATA.read_text(encoding="utf-8"))


def _node(path: str) -> Any:
    node: Any = _catalogue()
    for part in path.split("."):
        node = node[part]
    return node


def template(path: str, language: str) -> str:
    """The raw text at a dotted path (e.g. 'actions.petition') in `language`, falling back to English."""
    node = _node(path)
    return node.get(language) or node[FALLBACK]


def languages(path: str) -> list[str]:
    """Languages a text exists in."""
    return sorted(_node(path))


def has(path: str) -> bool:
    """Whether the catalogue has a text at a dotted path."""
    try:
        _node(path)
    except (KeyError, TypeError):
        return False
    return True


def allowed_list(allowed: frozenset[str] = ACTION_PLACEHOLDERS) -> str:
    """The allowed placeholders as a person would write them: '{country}, {deadline}, ...'."""
    return ", ".join(f"{{{name}}}" for name in sorted(allowed))


def _placeholder_problem(name: str, values: Mapping[str, Any] | None, allowed: frozenset[str]) -> str | None:
    if name not in allowed:
        return f"unknown placeholder {{{name}}}"
    if values is not None and values.get(name) in (None, ""):
        return f"{{{name}}} has no value for this action" + (" (set a deadline)" if name == "deadline" else "")
    return None


def problems_in(text: str, values: Mapping[str, Any] | None = None,
                allowed: frozenset[str] = ACTION_PLACEHOLDERS) -> list[str]:
    """What keeps `text` from being plain text with known placeholders (each with a value, if `values` given)."""
    matches = list(_TOKEN.finditer(text))
    found = [_placeholder_problem(m.group(1), values, allowed) for m in matches if m.group(1) is not None]
    # A lone brace: `{{ ... }}` and `{% ... %}` template syntax ends up here, and is never evaluated.
    stray = next((m for m in matches if m.group(1) is None), None)
    if stray:
        found.append(f"'{stray.group(0)}' at character {stray.start() + 1} is outside a {{name}} placeholder "
                     "(template syntax such as {{ }} or {% %} is not allowed)")
    return list(dict.fromkeys(p for p in found if p))


def fill(text: str, values: Mapping[str, Any], allowed: frozenset[str] = PLACEHOLDERS) -> str:
    """`text` with each known `{name}` that has a value replaced by it; everything else stays literal text."""
    def sub(match: re.Match) -> str:
        name = match.group(1)
        value = values.get(name) if name in allowed else None
        return match.group(0) if value in (None, "") else str(value)
    return _TOKEN.sub(sub, text).strip()


def render(path: str, language: str, **values: Any) -> str:
    """The catalogue text at `path` in `language` (English if missing), placeholders filled."""
    return fill(template(path, language), values, CATALOGUE_PLACEHOLDERS)


def render_text(text: str, **values: Any) -> str:
    """A secretariat-written text with its placeholders filled (validate it first with `problems_in`)."""
    return fill(text, values)


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
