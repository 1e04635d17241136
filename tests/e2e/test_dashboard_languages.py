"""The secretariat dashboard in a real browser in its five languages: every page (queue, a case, the new call to
action, an action, system, audit, login, an error) with `<html lang dir>` right, right to left only in Arabic, no
catalogue key left untranslated on the page (text, placeholders, labels, the scripts' texts), the words expected;
and a language chosen in the top bar kept on the next page without ?lang=."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from streams.web.ui import i18n
from testing.samples import named, unique_name
from testing.stack import wait_case
from tests.e2e.conftest import DOCS, login

pytestmark = [pytest.mark.browser, pytest.mark.kafka]

# A catalogue key shown as is: translate() gives the key back when no catalogue has it. Namespaces are those of the
# catalogues' msgids and of every key a template asks for, so data with dots on the pages (topics such as
# reports.dlq.v1, audit actions such as case.read) is not taken for a key.
UI = Path(i18n.__file__).parent
ASKED = {m[1].split(".")[0] for p in (UI / "templates").glob("*.j2")
         for m in re.finditer(r"""\bt\(\s*["']([a-z][a-z0-9_]*)\.""", p.read_text(encoding="utf-8"))}
NAMESPACES = sorted({key.split(".")[0] for key in i18n.catalogue("en") if "." in key} | ASKED, key=len, reverse=True)
UNTRANSLATED = re.compile(rf"(?<![\w.-])(?:{'|'.join(map(re.escape, NAMESPACES))})\.[a-z0-9_]+(?:\.[a-z0-9_]+)*")
# Everything a person can read or hear: the page's text (textContent: hidden alerts too, and before CSS upper-cases
# a heading), the title, placeholders, labels, tooltips, every option, and the texts the scripts will write.
READABLE = """() => {
  const body = document.body.cloneNode(true);
  const out = [document.title, body.textContent];
  for (const el of body.querySelectorAll('[placeholder], [aria-label], [title], option'))
    out.push(el.getAttribute('placeholder') || '', el.getAttribute('aria-label') || '', el.getAttribute('title') || '',
             el.tagName === 'OPTION' ? el.textContent : '');
  const walk = (v) => { if (typeof v === 'string') out.push(v); else if (v && typeof v === 'object') Object.values(v).forEach(walk); };
  for (const el of body.querySelectorAll('[data-i18n]')) walk(JSON.parse(el.dataset.i18n));
  return out.join('\\n');
}"""
QUEUE = {"en": "Case queue", "es": "Cola de casos", "fr": "File des cas", "ar": "قائمة الحالات", "pt": "Fila de casos"}
VERIFY = {"en": "Verify", "es": "Verificar", "fr": "Vérifier", "ar": "تحقّق", "pt": "Verificar"}
SEGMENT = {"en": "SMS segment", "es": "segmento", "fr": "segment", "ar": "مقطع", "pt": "segmento"}


def t(lang: str, key: str, **values) -> str:
    return i18n.translate(lang, key, **values)


@pytest.fixture(scope="module")
def cases(world) -> dict:
    """A new case, a verified one with consent 'network' and an approved call to action on it."""
    stack, _sandbox, tokens = world
    made = {}
    for name in ("new", "verified"):
        status, receipt = stack.http.request("POST", "/api/v1/reports", named(
            unique_name("Idiomas"), incident_type="arbitrary_detention", country="co", consent="network"),
            token=tokens["reporter"])
        assert status == 202, receipt
        made[name] = wait_case(stack, tokens["secretariat"], receipt["case_id"])["case_id"]
    status, answer = stack.http.request("POST", f"/api/v1/cases/{made['verified']}/verify", {"note": "por teléfono"},
                                        token=tokens["secretariat"])
    assert status == 202, answer
    wait_case(stack, tokens["secretariat"], made["verified"], lambda c: c["status"] == "verified")
    # A letter with its target: the action page shows the letter, the tally and the charts too.
    status, approved = stack.http.request("POST", f"/api/v1/cases/{made['verified']}/actions", {
        "kind": "sign_on_letter", "audience": {"member_ids": ["nobody-languages"]}, "channels": ["email"],
        "letter": {"es": "Las organizaciones firmantes pedimos garantías para las personas defensoras."},
        "target": {"name": "Fiscalía General", "email": "fiscalia@example.org", "language": "es"}},
        token=tokens["secretariat"])
    assert status == 202, approved
    made["action"] = approved["action_id"]
    for incident, country in (("death_threat", "gt"), ("surveillance", "ke"), ("judicial_harassment", "tn")):
        status, _ = stack.http.request("POST", "/api/v1/reports", named(unique_name("Cola"), incident_type=incident,
                                                                        country=country), token=tokens["reporter"])
        assert status == 202  # a fuller queue for the screenshot
    return made


@pytest.fixture(scope="module")
def desk(browser, world):
    """A logged-in dashboard page whose browser asks for English (each visit below says ?lang=)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = login(context, world[0].http.base_url, world[2]["secretariat"])
    yield page
    context.close()


def check(page, lang: str, *words: str) -> str:
    """The page is in `lang`, right to left only in Arabic, shows no catalogue key, and shows each of `words`."""
    html = page.locator("html")
    expect(html).to_have_attribute("lang", lang)
    expect(html).to_have_attribute("dir", "rtl" if lang == "ar" else "ltr")
    expect(page.locator("#langs a[aria-current]")).to_have_attribute("data-lang", lang)
    readable = page.evaluate(READABLE)
    assert UNTRANSLATED.findall(readable) == [], f"untranslated keys on {page.url}"
    for word in words:
        assert word in readable, (page.url, word)
    return readable


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_dashboard_page_in_each_language(desk, base_url, cases, lang):
    page = desk
    page.goto(f"{base_url}/dashboard?lang={lang}")
    expect(page.locator("#live")).to_have_text(t(lang, "dash.live.on"), timeout=10_000)  # written by dash.js
    row = page.locator(f"#case-{cases['new']}")
    expect(row).to_be_visible()
    check(page, lang, QUEUE[lang], t(lang, "dash.nav.logout", name="test"), t(lang, "v.incident.arbitrary_detention"),
          t(lang, "v.status.new"), t(lang, "v.consent.network"), t(lang, "dash.queue.col.opened"))
    if lang == "ar":
        page.screenshot(path=str(DOCS / "dashboard-ar.png"))

    page.goto(f"{base_url}/dashboard/cases/{cases['new']}?lang={lang}")
    expect(page.locator("button[value=verify]")).to_have_text(VERIFY[lang])
    expect(page.locator("#status")).to_have_text(t(lang, "v.status.new"))
    readable = check(page, lang, t(lang, "dash.case.mechanisms"), t(lang, "dash.history.title"),
                     t(lang, "v.event.opened"), t(lang, "v.region.americas"), "UTC")
    mechanisms = page.locator("#mechanisms li[data-mechanism]")
    assert mechanisms.count() >= 1
    for item in mechanisms.all():  # by display name, never by id
        assert item.inner_text() != item.get_attribute("data-mechanism")
    assert "un-wgad" not in readable

    page.goto(f"{base_url}/dashboard/cases/{cases['verified']}?lang={lang}")
    expect(page.locator("#status")).to_have_text(t(lang, "v.status.verified"))
    expect(page.locator("button[value=verify]")).to_have_count(0)  # a verified case is not verified again
    expect(page.locator("button[value=close]")).to_have_text(t(lang, "dash.case.close"))
    check(page, lang, t(lang, "dash.case.new_action"), t(lang, "v.kind.sign_on_letter"), t(lang, "dx.ref.title"),
          t(lang, "dx.ref.send_email"))

    page.goto(f"{base_url}/dashboard/cases/{cases['verified']}/action?lang={lang}")
    expect(page.locator("#seg-en")).to_contain_text(SEGMENT[lang])  # rewritten by cta.js
    check(page, lang, t(lang, "dash.cta.approve"), t(lang, "v.kind.sign_on_letter"), t(lang, "dash.cta.audience"))

    page.goto(f"{base_url}/dashboard/actions/{cases['action']}?lang={lang}")
    expect(page.locator("#csv")).to_have_text(t(lang, "dash.action.csv"))
    status = page.locator("#status").text_content()
    assert any(status.startswith(start) for start in (
        t(lang, "dash.action.finished", when="").strip(), t(lang, "dash.action.failed"), t(lang, "dash.action.sending")))
    check(page, lang, t(lang, "v.delivery.delivered"), t(lang, "v.kind.sign_on_letter"), t(lang, "dx.letter.send"),
          t(lang, "dx.signatures"), t(lang, "dx.chart.time"))

    page.goto(f"{base_url}/dashboard/system?lang={lang}")
    expect(page.locator("svg.chart")).to_have_attribute("aria-label", t(lang, "dash.system.per_day"))
    expect(page.locator("svg.chart text").last).to_have_text(f"\u2068{t(lang, 'v.urgency.critical')}\u2069")
    check(page, lang, t(lang, "dash.system.providers"), t(lang, "dash.system.lag"), t(lang, "dash.system.replay")
          if page.locator("table.dlq button").count() else t(lang, "dash.system.refused_reports"))

    page.goto(f"{base_url}/dashboard/audit?lang={lang}")
    check(page, lang, t(lang, "dash.audit.title"), t(lang, "dash.audit.col.who"))

    answer = page.goto(f"{base_url}/dashboard/cases/case_nowhere?lang={lang}")
    assert answer.status == 404
    expect(page.locator("#message")).to_have_text(t(lang, "dash.err.no_case"))
    check(page, lang, t(lang, "page.back"))

    page.goto(f"{base_url}/dashboard/login?lang={lang}")
    expect(page.locator("label[for=token]")).to_have_text(t(lang, "dash.login.token"))
    check(page, lang, t(lang, "dash.login.heading"), t(lang, "dash.login.submit"))


def test_the_language_chosen_in_the_top_bar_is_kept_on_the_next_pages(browser, world, base_url, cases):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    try:
        page = login(context, base_url, world[2]["secretariat"])
        expect(page.locator("html")).to_have_attribute("lang", "en")  # the browser's language, at first
        page.locator("#langs a[data-lang=es]").click()
        expect(page.locator("h1")).to_have_text(QUEUE["es"])
        assert page.url.endswith("lang=es")
        cookie = next(c for c in context.cookies() if c["name"] == i18n.COOKIE)
        assert cookie["value"] == "es" and cookie["expires"] == -1  # for the browser's session
        page.goto(f"{base_url}/dashboard/cases/{cases['new']}")  # no ?lang= from here on
        expect(page.locator("html")).to_have_attribute("lang", "es")
        expect(page.locator("button[value=verify]")).to_have_text("Verificar")
        page.goto(f"{base_url}/dashboard/system")
        expect(page.locator("h1")).to_have_text("Sistema")
        # The switch keeps the page and its query: the queue's filters survive a change of language.
        page.goto(f"{base_url}/dashboard?urgency=critical")
        page.locator("#langs a[data-lang=ar]").click()
        expect(page.locator("html")).to_have_attribute("dir", "rtl")
        assert "urgency=critical" in page.url
        expect(page.locator("select[name=urgency] option[selected]")).to_have_text("حرجة")
        page.goto(f"{base_url}/dashboard/audit")
        expect(page.locator("h1")).to_have_text("سجل التدقيق")
    finally:
        context.close()


def test_the_live_queue_writes_new_cases_in_the_page_language(browser, world, base_url):
    stack, _sandbox, tokens = world
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    try:
        page = login(context, base_url, tokens["secretariat"])
        expect(page.locator("html")).to_have_attribute("lang", "fr")  # from Accept-Language
        expect(page.locator("#live")).to_have_text("en direct", timeout=10_000)
        status, receipt = stack.http.request("POST", "/api/v1/reports", named(
            unique_name("Direct"), incident_type="forced_eviction", country="ph"), token=tokens["reporter"])
        assert status == 202
        row = page.locator("#queue tbody tr", has_text=receipt["reference"])
        expect(row).to_be_visible(timeout=10_000)
        cells = row.locator("td").all_inner_texts()
        assert cells[2] == "Expulsion forcée" and cells[4] == "Asie-Pacifique"
        assert cells[5] == "nouveau" and "UTC" not in cells[8] and re.search(r"\d{4}", cells[8])
        assert json.loads(page.locator("#queue").get_attribute("data-i18n"))["lang"] == "fr"
    finally:
        context.close()
