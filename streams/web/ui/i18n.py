"""Interface translations: flat key catalogues per language, chosen from ?lang=, a cookie or Accept-Language."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

LOCALES = Path(__file__).parent / "locales"
LANGUAGES = ("en", "es", "fr", "ar", "pt")
RTL = frozenset({"ar"})
FALLBACK = "en"
COOKIE = "sol_lang"
NAMES = {"en": "English", "es": "Español", "fr": "Français", "ar": "العربية", "pt": "Português"}


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    """The flat key -> text catalogue of one language (empty if unknown)."""
    path = LOCALES / f"{lang}.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}


def translate(lang: str, key: str, **values) -> str:
    """The text for key in lang, falling back to English, then to the key itself."""
    text = catalogue(lang).get(key) or catalogue(FALLBACK).get(key) or key
    return text.format(**values) if values else text


def has(lang: str, key: str) -> bool:
    """Whether key exists in lang or in English."""
    return key in catalogue(lang) or key in catalogue(FALLBACK)


def from_accept_language(header: str) -> str | None:
    """The best supported language of an Accept-Language header, honouring q-values."""
    choices = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        base = tag.strip().lower().split("-")[0]
        if base in LANGUAGES and q > 0:
            choices.append((-q, i, base))
    return min(choices)[2] if choices else None


def pick_language(query_lang: str | None, cookie_lang: str | None, accept: str) -> str:
    """?lang= first, then the remembered cookie, then the browser's Accept-Language, then English."""
    for candidate in (query_lang, cookie_lang):
        if candidate and candidate.lower() in LANGUAGES:
            return candidate.lower()
    return from_accept_language(accept or "") or FALLBACK


def direction(lang: str) -> str:
    """'rtl' for right-to-left languages, else 'ltr'."""
    return "rtl" if lang in RTL else "ltr"
