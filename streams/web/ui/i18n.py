"""Interface translations: gettext catalogues per language, chosen from ?lang=, a cookie or Accept-Language.

The catalogues are `locales/<lang>/LC_MESSAGES/messages.po`, read with babel. Each msgid is a dotted key
(`form.title`, `dash.case.verify`, `v.urgency.high`), each msgstr its text with `{name}` placeholders filled in
by str.format. A message that depends on a count is a gettext plural entry (msgid_plural = msgid, one msgstr per
plural form of the language, as the file's Plural-Forms header says) and takes its count as `n`.

Key naming: `form.*`, `f.*`, `h.*`, `s.*`, `err.*`, `sent.*`, `status.*`... the reporter form; `dash.<page>.*` the
secretariat dashboard; `v.<vocabulary>.<value>` a value of a closed vocabulary as shown to people
(`v.status.verified`); `page.*` shared by every page; `fmt.*` wrappers of formatted dates.

To add a key: add the same msgid to all five files (tests/unit/test_dashboard_catalogues.py checks that every
language has the same keys with the same placeholders, none empty, and that every key a template uses exists).
A key missing everywhere renders as the key itself, which the browser tests look for.
"""

from __future__ import annotations

import gettext
from functools import lru_cache
from pathlib import Path

from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

LOCALES = Path(__file__).parent / "locales"
DOMAIN = "messages"
LANGUAGES = ("en", "es", "fr", "ar", "pt")
RTL = frozenset({"ar"})
FALLBACK = "en"
COOKIE = "sol_lang"
NAMES = {"en": "English", "es": "Español", "fr": "Français", "ar": "العربية", "pt": "Português"}
CATEGORIES = ("zero", "one", "two", "few", "many", "other")


def po_path(lang: str) -> Path:
    """Where the catalogue of a language lives."""
    return LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=None)
def read_catalogue(lang: str) -> Catalog | None:
    """The babel catalogue of one language, or None when there is none (read once)."""
    path = po_path(lang) if lang in LANGUAGES else None
    if path is None or not path.exists():
        return None
    with path.open("rb") as fh:
        return read_po(fh, locale=lang, domain=DOMAIN)


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str | tuple[str, ...]]:
    """Key -> text (a tuple of plural forms for a plural entry) of one language (empty if unknown)."""
    cat = read_catalogue(lang)
    if cat is None:
        return {}
    out: dict[str, str | tuple[str, ...]] = {}
    for message in cat:
        if not message.id:  # the header
            continue
        key = message.id[0] if isinstance(message.id, (list, tuple)) else message.id
        text = tuple(message.string) if isinstance(message.string, (list, tuple)) else message.string
        if text and (not isinstance(text, tuple) or all(text)):
            out[key] = text
    return out


@lru_cache(maxsize=None)
def _plural_index(lang: str):
    """The language's gettext plural function: count -> index of the form (from its Plural-Forms header)."""
    cat = read_catalogue(lang)
    return gettext.c2py(cat.plural_expr if cat is not None else "(n != 1)")


def _entry(lang: str, key: str) -> tuple[str, str | tuple[str, ...] | None]:
    """The language the text comes from (lang, else English) and the entry, or None."""
    for source in (lang, FALLBACK):
        found = catalogue(source).get(key)
        if found:
            return source, found
    return lang, None


def _form(source: str, entry: str | tuple[str, ...], n) -> str:
    if isinstance(entry, str):
        return entry
    try:
        index = _plural_index(source)(abs(int(n)))
    except (TypeError, ValueError):
        index = len(entry) - 1
    return entry[min(index, len(entry) - 1)]


def message(lang: str, key: str, n=None) -> str:
    """The unformatted text for key in lang (the plural form for count `n`), else English's, else the key."""
    source, entry = _entry(lang, key)
    return key if entry is None else _form(source, entry, n)


def translate(lang: str, key: str, **values) -> str:
    """The text for key in lang, falling back to English, then to the key itself; `n` chooses a plural form."""
    text = message(lang, key, values.get("n"))
    return text.format(**values) if values else text


def has(lang: str, key: str) -> bool:
    """Whether key exists in lang or in English."""
    return key in catalogue(lang) or key in catalogue(FALLBACK)


def plural_forms(lang: str, key: str) -> dict[str, str]:
    """A plural message as {CLDR category: text} (zero, one, two, few, many, other), for Intl.PluralRules in JS."""
    source, entry = _entry(lang, key)
    if entry is None:
        return {"other": key}
    if isinstance(entry, str):
        return {"other": entry}
    rule = Locale.parse(source).plural_form
    out: dict[str, str] = {}
    for n in (*range(0, 200), 1_000_000):  # a sample of every category, mapped to the form gettext picks
        out.setdefault(rule(n), _form(source, entry, n))
    return {c: out[c] for c in CATEGORIES if c in out}


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
