"""Rendering letters and referral packets to HTML and PDF (offline), read back with pypdf."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from pypdf import PdfReader

from agents.letters import SignOnLetter, build_letter
from agents.referrals import build_packet
from agents.routing import load_catalogue
from schemas.vocab import Consent
from streams.documents import (
    DataOnlyFetcher, html_to_pdf, label, labels, render_letter_html, render_letter_pdf, render_referral_html,
    render_referral_pdf,
)
from streams.documents.pdf import LANGUAGES, text_direction
from tests.unit.test_referral_packets import PHONE, VICTIM, digits, make_case

INJECTION = "Text with {{ 7*7 }} and {% for x in range(3) %}loop{% endfor %} and <script>alert('x')</script>."


def nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def letter(**overrides: Any) -> SignOnLetter:
    data: dict[str, Any] = {
        "reference": "SOL-LTR9",
        "titles": {"en": "Stop the eviction of 65 fisherfolk families"},
        "texts": {"en": "We, the undersigned organisations, urge you to stop the eviction."},
        "target": {"name": "Minister of Interior", "title": "Ministry of Interior",
                   "address": "1 Government Road\nCapital City", "email": "minister@example.org", "language": "en"},
        "deadline": "2026-05-20T12:00:00+00:00",
    }
    data.update(overrides)
    return SignOnLetter.model_validate(data)


SIGNATURES = [
    {"member_id": "m1", "organization": "Kenya Fisherfolk Union", "country": "KE", "signed_at": "2026-05-01T10:00:00Z"},
    {"member_id": "m2", "organization": "Asociación de Pescadores", "country": "MX", "signed_at": "2026-05-01T11:00:00Z"},
    {"member_id": "m3", "organization": "Colectivo Tierra", "country": "MX", "signed_at": "2026-05-01T12:00:00Z"},
    {"member_id": "m4", "organization": "Lanka Coastal Network", "country": "LK", "signed_at": "2026-05-02T09:00:00Z"},
    {"member_id": "m5", "organization": "Amis de la Terre", "country": "FR", "signed_at": "2026-05-02T10:00:00Z"},
]


def test_letter_pdf_groups_signatories_under_their_countries_with_the_total() -> None:
    built = build_letter(letter(), SIGNATURES, dated=date(2026, 5, 3))
    text = pdf_text(render_letter_pdf(built))
    lines = [line.strip() for line in text.splitlines()]
    order = ["Signatory organisations", "France", "Amis de la Terre", "Kenya", "Kenya Fisherfolk Union",
             "Mexico", "Asociación de Pescadores", "Colectivo Tierra", "Sri Lanka", "Lanka Coastal Network"]
    positions = [lines.index(item) for item in order]
    assert positions == sorted(positions), "each organisation sits under its own country, countries in order"
    assert "Total number of signatory organisations: 5" in text
    assert "Organisations per region" in text
    assert "Americas" in text and "Africa" in text and "Asia-Pacific" in text
    assert "May 3, 2026" in text and "May 20, 2026" in text, "dates formatted by babel in English"
    assert "Reference SOL-LTR9" in text and "Page 1 of 1" in text
    assert "Minister of Interior" in text and "Stop the eviction of 65 fisherfolk families" in text


def test_letter_in_french_has_french_labels_and_dates() -> None:
    built = build_letter(letter(texts={"fr": "Nous demandons l'arrêt de l'expulsion."},
                                target={"name": "Ministre", "language": "fr"}), SIGNATURES, dated=date(2026, 5, 3))
    text = pdf_text(render_letter_pdf(built))
    assert "Organisations signataires" in text and "Organisations par région" in text
    assert "3 mai 2026" in text
    assert "Mexique" in text and "Page 1 sur 1" in text


ARABIC_BODY = "نطالب بالإفراج الفوري عن المدافعة عن حقوق الإنسان ووقف الإخلاء القسري للأسر."
ARABIC_WORDS = ["نطالب", "بالإفراج", "الفوري", "المدافعة", "الإنسان", "للأسر"]


def test_arabic_letter_is_right_to_left_and_its_words_survive() -> None:
    built = build_letter(letter(texts={"ar": ARABIC_BODY, "en": "We urge you."}, titles={"ar": "رسالة تضامن"},
                                target={"name": "وزير الداخلية", "language": "ar"}),
                         SIGNATURES + [{"member_id": "m6", "organization": "جمعية الصيادين", "country": "EG"}])
    assert built.language == "ar"
    html = render_letter_html(built)
    assert '<html lang="ar" dir="rtl">' in html
    text = nfkc(pdf_text(render_letter_pdf(built)))
    for word in ARABIC_WORDS + ["رسالة", "تضامن", "جمعية", "الصيادين", nfkc(label("ar", "signatory_organisations"))]:
        assert nfkc(word) in text, word
    assert "Kenya Fisherfolk Union" in text, "Latin names inside an Arabic document"


def test_english_document_is_left_to_right() -> None:
    html = render_letter_html(build_letter(letter(), []))
    assert '<html lang="en" dir="ltr">' in html
    assert label("en", "no_signatories") in html


@pytest.mark.parametrize("language", ["en", "ar"])
def test_letter_text_is_printed_literally_never_evaluated(language: str) -> None:
    built = build_letter(letter(texts={language: INJECTION}, titles={language: "Title {{ 6*7 }} <b>x</b>"},
                                target={"name": "<img src='http://127.0.0.1:9/t.png'>", "language": language}),
                         [{"member_id": "m1", "organization": "<i>Org</i> {{ 8*8 }}", "country": "KE"}])
    html = render_letter_html(built)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "<i>Org" not in html
    assert "{{ 7*7 }}" in html and "{% for x in range(3) %}" in html and "{{ 6*7 }}" in html
    assert f'<div class="letter-body text" dir="ltr">{escape(INJECTION)}</div>' in html, "the body, escaped"
    assert "looplooploop" not in html and ">49<" not in html
    if language == "en":  # bidi mirroring turns the brackets round in Arabic text, so check the Latin PDF only
        text = pdf_text(render_letter_pdf(built))
        # Lines may wrap anywhere (even inside "</script>", by the fonts installed): compare without whitespace.
        assert "".join(INJECTION.split()) in "".join(text.split())
        assert "<i>Org</i> {{ 8*8 }}" in text and "Title {{ 6*7 }} <b>x</b>" in text


def referral(consent: Consent = Consent.mechanisms, mechanism_id: str = "un-sr-hrd", **kwargs: Any):
    kwargs.setdefault("perpetrators", "Policía municipal")
    kwargs.setdefault("national_actions", "Denuncia ante la fiscalía.")
    kwargs.setdefault("support_needed", "Legal support.")
    return build_packet(make_case(consent), load_catalogue()[mechanism_id], **kwargs)


UN_HEADINGS = ["alleged_victims", "alleged_perpetrators", "facts", "national_actions", "consent"]
FUND_HEADINGS = ["situation", "support_needed", "consent"]


@pytest.mark.parametrize(("mechanism_id", "language", "headings"), [
    ("un-sr-hrd", "en", UN_HEADINGS), ("un-sr-hrd", "es", UN_HEADINGS), ("un-sr-hrd", "fr", UN_HEADINGS),
    ("iachr", "pt", UN_HEADINGS), ("fld-emergency", "ar", FUND_HEADINGS), ("fld-emergency", "en", FUND_HEADINGS),
])
def test_referral_pdf_has_headings_in_its_language_and_the_defender_not_the_reporter(
        mechanism_id: str, language: str, headings: list[str]) -> None:
    packet = referral(mechanism_id=mechanism_id, preferred=[language], note=f"Reporter's phone: {PHONE}")
    assert packet.language == language
    text = nfkc(pdf_text(render_referral_pdf(packet)))
    flat = " ".join(text.split())
    for n, key in enumerate(headings, start=1):
        heading = nfkc(label(language, f"section.{key}"))
        assert heading in flat, heading
        if language != "ar":
            assert f"{n}. {heading}" in flat
    assert VICTIM in text
    assert "12345678" not in digits(text)
    assert nfkc(label(language, "confidential")) in text
    assert label(language, "page") in text


def test_referral_dates_are_in_the_packet_language() -> None:
    text = pdf_text(render_referral_pdf(referral(preferred=["es"])))
    assert "28 de abril de 2026, 21:15 UTC" in text
    text = pdf_text(render_referral_pdf(referral(preferred=["fr"])))
    assert "28 avril 2026, 21:15 UTC" in text and "Mexique" in text


def test_referral_html_escapes_secretariat_text() -> None:
    html = render_referral_html(referral(perpetrators="<script>x</script> {{ 7*7 }}", preferred=["en"]))
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt; {{ 7*7 }}" in html
    assert '<html lang="en" dir="ltr">' in html


def test_arabic_referral_is_right_to_left_and_latin_facts_left_to_right() -> None:
    html = render_referral_html(referral(mechanism_id="fld-emergency", preferred=["ar"],
                                         note="يرجى الاتصال بالأمانة"))
    assert '<html lang="ar" dir="rtl">' in html
    assert '<p class="text" dir="ltr">La policía municipal detuvo' in html, "a Spanish description reads LTR"
    assert '<p class="text" dir="rtl">يرجى الاتصال بالأمانة</p>' in html


def test_text_direction_of_person_written_text() -> None:
    assert text_direction("  (12) Ana", "rtl") == "ltr"
    assert text_direction("« نطالب »", "ltr") == "rtl"
    assert text_direction("123 …", "rtl") == "rtl"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_label_exists_in_every_language(language: str) -> None:
    for key, texts in labels().items():
        assert texts[language].strip(), key
    for key in ("section.alleged_victims", "signatory_organisations", "organisations_per_region", "confidential"):
        assert label(language, key)


def test_fetcher_refuses_everything_but_data_urls() -> None:
    fetcher = DataOnlyFetcher()
    for url in ("http://127.0.0.1:9/x.png", "https://example.org/font.woff", "file:///etc/passwd", "ftp://x/y"):
        with pytest.raises(ValueError, match="refused"):
            fetcher.fetch(url)
    response = fetcher.fetch("data:text/plain;base64,aGk=")
    assert response.read() == b"hi"
    response.close()


def test_rendering_never_opens_a_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a document tried to open a network connection")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    html = ('<html><head><link rel="stylesheet" href="http://127.0.0.1:9/x.css"></head><body>'
            '<img src="http://127.0.0.1:9/x.png"><img src="file:///etc/hostname">'
            '<p style="background: url(https://example.org/b.png)">hello</p></body></html>')
    assert "hello" in pdf_text(html_to_pdf(html))
    assert pdf_text(render_letter_pdf(build_letter(letter(), SIGNATURES)))


RCE = "pid {{ cycler.__init__.__globals__.os.getpid() }} {{ ''.__class__.__mro__[1].__subclasses__() }}"


def test_a_template_payload_in_a_letter_prints_as_written() -> None:
    built = build_letter(letter(texts={"en": RCE}), [{"member_id": "m1", "organization": RCE, "country": "KE"}])
    text = " ".join(pdf_text(render_letter_pdf(built)).split())
    assert RCE in text
    assert str(os.getpid()) not in text and "<class" not in text


def test_documents_are_pure_no_faust_no_kafka() -> None:
    code = ("import sys, streams.documents, agents.referrals, agents.letters; "
            "bad = [m for m in ('faust', 'aiokafka', 'kafka', 'aiohttp') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2], timeout=60)
