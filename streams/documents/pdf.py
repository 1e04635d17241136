"""HTML and PDF of referral packets and sign-on letters: jinja2 (autoescaped) then weasyprint, offline.

- Every fixed heading and label comes from labels.yaml (en, es, fr, pt, ar; checked at load); dates are
  formatted by babel in the document's language; Arabic documents are `<html lang="ar" dir="rtl">`.
- Texts written by people (a letter's body, a case's facts, the secretariat's notes) reach the templates only
  as variables, escaped by autoescape: never as template source, so `{{ 7*7 }}` and `<script>` print as written.
- Fonts are the system's Noto Sans / Noto Naskh Arabic, named as font-family fallbacks (no web fonts). Rendering
  never touches the network or the file system: weasyprint gets a URL fetcher that refuses every non-data URL.
- A4 pages, the reference in the header (with CONFIDENTIAL when the packet is), "Page n of N" in the footer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from babel.dates import format_date, format_time
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from weasyprint import HTML
from weasyprint.urls import URLFetcher

from agents.letters import Letter
from agents.referrals import Packet

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
LABELS = HERE / "labels.yaml"
LANGUAGES = ("en", "es", "fr", "pt", "ar")
RTL = frozenset({"ar"})
FALLBACK = "en"

FONTS = {
    # Latin first, Arabic as a fallback for names written in Arabic; the reverse for Arabic documents.
    "ltr": '"Noto Sans", "Noto Naskh Arabic", "Noto Sans Arabic", "DejaVu Sans", sans-serif',
    "rtl": '"Noto Naskh Arabic", "Noto Sans Arabic", "Noto Sans", "DejaVu Sans", sans-serif',
}

BASE_CSS = """
html { font-size: 10.5pt; line-height: 1.45; color: #111; }
body { margin: 0; }
h1 { font-size: 16pt; margin: 0 0 4mm; }
h2 { font-size: 12.5pt; margin: 7mm 0 2mm; padding-bottom: 1mm; border-bottom: 0.4pt solid #888;
     break-after: avoid; }
h3 { font-size: 10.5pt; margin: 4mm 0 1mm; break-after: avoid; }
p { margin: 0 0 2mm; }
.kind { text-transform: uppercase; letter-spacing: 0.05em; font-size: 8.5pt; color: #444; margin: 0 0 1mm; }
.meta { display: table; margin: 0 0 4mm; }
.meta div { display: table-row; }
.meta dt, .meta dd { display: table-cell; padding: 0 3mm 0.6mm 0; margin: 0; }
.meta dt { font-weight: bold; color: #333; }
.banner { border: 1pt solid #a00; color: #a00; padding: 2mm 3mm; margin: 0 0 4mm; font-weight: bold; }
.urgent { border-color: #c60; color: #c60; }
.public { border-color: #2a6; color: #2a6; }
.text { white-space: pre-wrap; }
.block { break-inside: avoid; margin: 0 0 3mm; }
table.fields { border-collapse: collapse; width: 100%; margin: 0 0 3mm; break-inside: avoid; }
table.fields th, table.fields td { text-align: start; vertical-align: top; padding: 0.8mm 2mm 0.8mm 0;
     border-bottom: 0.3pt solid #ddd; }
table.fields th { width: 32%; font-weight: bold; color: #333; }
.target { margin: 2mm 0 6mm; }
.target p { margin: 0; }
.country { break-inside: avoid; }
.country ul { margin: 0 0 2mm; padding-inline-start: 6mm; }
.total { margin-top: 4mm; font-weight: bold; }
.none { color: #555; font-style: italic; }
"""


class DocumentError(ValueError):
    """The labels file is missing a key or a language, or a document cannot be rendered."""


class DataOnlyFetcher(URLFetcher):
    """A weasyprint URL fetcher that serves data: URLs and refuses everything else (network and files)."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols={"data"}, allow_redirects=False)

    def fetch(self, url: str, headers: Any = None) -> Any:
        if not url.lower().startswith("data:"):
            raise ValueError(f"documents never fetch resources: refused {url.split(':', 1)[0]}: URL")
        return super().fetch(url, headers)


@lru_cache(maxsize=1)
def labels() -> dict[str, dict[str, str]]:
    """Every fixed text of the documents, by key and language (each key in every document language)."""
    try:
        data = yaml.safe_load(LABELS.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DocumentError(f"{LABELS}: cannot read labels: {exc}") from exc
    if not isinstance(data, dict):
        raise DocumentError(f"{LABELS}: expected a mapping of keys to texts per language")
    for key, texts in data.items():
        missing = [lang for lang in LANGUAGES if not (isinstance(texts, dict) and str(texts.get(lang) or "").strip())]
        if missing:
            raise DocumentError(f"{LABELS}: {key}: missing {', '.join(missing)}")
    return data


def label(lang: str, key: str, **values: Any) -> str:
    """The label `key` in `lang` (English for a language the documents lack), `{name}`s filled with values."""
    try:
        texts = labels()[key]
    except KeyError:
        raise DocumentError(f"no label {key!r} in {LABELS.name}") from None
    text = texts.get(lang) or texts[FALLBACK]
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text


def direction(lang: str) -> str:
    """'rtl' for right-to-left languages, else 'ltr'."""
    return "rtl" if lang in RTL else "ltr"


def text_direction(text: str, default: str = "ltr") -> str:
    """The direction of a person-written text from its first strong character (HTML's dir=auto, which weasyprint
    does not implement): a Spanish description in an Arabic packet still reads left to right."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind == "L":
            return "ltr"
        if kind in ("R", "AL"):
            return "rtl"
    return default


_CSS_SAFE = re.compile(r"[A-Za-z0-9 ]")


def css_string(value: Any) -> Markup:
    """A CSS string literal of `value` with every character but letters, digits and spaces escaped."""
    body = "".join(ch if _CSS_SAFE.fullmatch(ch) else f"\\{ord(ch):06x}" for ch in str(value))
    return Markup(f'"{body}"')


def _formatters(lang: str) -> dict[str, Callable[..., str]]:
    def fmt_date(value: date | datetime | None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.astimezone(timezone.utc).date()
        return format_date(value, format="long", locale=lang)

    def fmt_datetime(value: datetime | None) -> str:
        if value is None:
            return ""
        value = value.astimezone(timezone.utc)
        return f"{format_date(value.date(), format='long', locale=lang)}, " \
               f"{format_time(value, 'HH:mm', tzinfo=timezone.utc, locale=lang)} UTC"

    def fmt_number(value: int) -> str:
        return format_decimal(value, locale=lang)

    def dir_of(text: Any) -> str:
        return text_direction(str(text or ""), direction(lang))

    def t(key: str, **values: Any) -> str:
        return label(lang, key, **values)

    def t_or(key: str, default: str) -> str:
        return label(lang, key) if key in labels() else default

    return {"dir_of": dir_of, "fmt_date": fmt_date, "fmt_datetime": fmt_datetime, "fmt_number": fmt_number, "t": t, "t_or": t_or}


@lru_cache(maxsize=1)
def env() -> Environment:
    """The documents' jinja2 environment: every variable autoescaped, undefined names an error."""
    e = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                    trim_blocks=True, lstrip_blocks=True)
    e.filters["css"] = css_string
    return e


def _render(template: str, lang: str, **context: Any) -> str:
    lang = lang if lang in LANGUAGES else FALLBACK
    dir_ = direction(lang)
    return env().get_template(template).render(
        lang=lang, dir=dir_, rtl=dir_ == "rtl", fonts=Markup(FONTS[dir_]), base_css=Markup(BASE_CSS),
        **_formatters(lang), **context)


def html_to_pdf(html: str) -> bytes:
    """PDF bytes of a self-contained HTML document (no resource is ever fetched)."""
    return HTML(string=html, url_fetcher=DataOnlyFetcher()).write_pdf()


def render_letter_html(letter: Letter) -> str:
    """The letter as a self-contained HTML document in its language."""
    return _render("letter.html.j2", letter.language, letter=letter)


def render_letter_pdf(letter: Letter) -> bytes:
    """The letter as PDF bytes."""
    return html_to_pdf(render_letter_html(letter))


def render_referral_html(packet: Packet) -> str:
    """The referral packet as a self-contained HTML document in its language."""
    return _render("referral.html.j2", packet.language, packet=packet)


def render_referral_pdf(packet: Packet) -> bytes:
    """The referral packet as PDF bytes."""
    return html_to_pdf(render_referral_html(packet))
