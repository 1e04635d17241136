"""The reporter form in a real browser: right-to-left Arabic, JavaScript off, translated errors, the system page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from testing.samples import unique_name
from tests.e2e.conftest import DOCS, login
from tests.e2e.forms import fill_report

pytestmark = [pytest.mark.browser, pytest.mark.kafka]


def test_arabic_form_renders_right_to_left(browser, base_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ar-EG", is_mobile=True)
    try:
        page = context.new_page()
        page.goto(f"{base_url}/report")
        html = page.locator("html")
        expect(html).to_have_attribute("dir", "rtl")
        expect(html).to_have_attribute("lang", "ar")
        assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
        assert page.evaluate("getComputedStyle(document.querySelector('#description')).direction") == "rtl"
        expect(page.locator("h1")).to_have_text("الإبلاغ عن اعتداء على المدافعين عن حقوق الإنسان")
        expect(page.locator("label[for=country]")).to_have_text("البلد (إلزامي)")
        page.screenshot(path=str(DOCS / "form-ar.png"))
        page.click("nav.langs a[lang=fr]")
        expect(page.locator("html")).to_have_attribute("dir", "ltr")
        page.goto(f"{base_url}/report")
        expect(page.locator("html")).to_have_attribute("lang", "fr")  # the choice is remembered
    finally:
        context.close()


def test_form_works_without_javascript_and_remembers_the_token(browser, world, base_url):
    stack, sandbox, tokens = world
    context = browser.new_context(java_script_enabled=False, locale="pt-BR")
    try:
        page = context.new_page()
        page.goto(f"{base_url}/report")
        expect(page.locator("h1")).to_contain_text("Denunciar um ataque")
        fill_report(page, defender=unique_name("Joana"), incident="death_threat", country="BR",
                    token=tokens["reporter"])
        page.click("details.defender[data-index='1'] > summary")  # a second defender: <details>, no JS needed
        page.fill("input[name='defenders.1.name']", unique_name("Pedro"))
        page.click("button.primary")
        expect(page.locator("h1")).to_have_text("Denúncia recebida")
        assert page.locator("#reference").inner_text().startswith("SOL-")
        cookie = next(c for c in context.cookies() if c["name"] == "sol_reporter")
        assert cookie["httpOnly"]
        page.goto(f"{base_url}/report")
        expect(page.locator("#token")).to_have_count(0)  # entered once, remembered on this device
        fill_report(page, defender=unique_name("Luiza"), incident="land_grab", country="BR")
        page.click("button.primary")
        expect(page.locator("h1")).to_have_text("Denúncia recebida")
    finally:
        context.close()


def test_errors_are_translated_next_to_their_fields(browser, world, base_url):
    stack, sandbox, tokens = world
    context = browser.new_context(locale="es-419")
    try:
        page = context.new_page()
        page.goto(f"{base_url}/report")
        fill_report(page, defender=unique_name("Rosa"), token=tokens["reporter"])
        page.fill("#rc_phone", "5512345678")
        page.fill("#description", "corta")
        page.locator("#description").blur()
        expect(page.locator("#live-description")).to_have_text("Escribe al menos 10 caracteres.")  # live hint (JS)
        page.click("button.primary")
        expect(page.locator("#err-description")).to_have_text("Escribe al menos 10 caracteres.")
        expect(page.locator("#err-reporter_contact-phone")).to_contain_text("código de país")
        expect(page.locator("#description")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#d0name")).not_to_have_value("")  # what was typed is kept
    finally:
        context.close()


def test_system_page_shows_lag_dead_letters_and_providers(browser, world, base_url):
    stack, sandbox, tokens = world
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        form = context.new_page()
        form.goto(f"{base_url}/report?lang=en")
        fill_report(form, defender=unique_name("Amina"), token=tokens["reporter"])
        form.fill("#description", "short")
        form.click("button.primary")
        expect(form.locator("#err-description")).to_be_visible()
        dash = login(context, base_url, tokens["secretariat"])
        dash.goto(f"{base_url}/dashboard/system")
        intake = dash.locator("table.lag tbody tr", has_text="reports.submitted.v1")
        expect(intake).to_have_count(4)  # one row per partition
        expect(dash.locator(".providers li.up")).to_have_count(3)
        expect(dash.locator("svg.chart rect").first).to_be_visible()
        letter = dash.locator("table.dlq").first.locator("tbody tr", has_text="description")
        expect(letter.first).to_be_visible(timeout=10_000)
        letter.first.get_by_role("button", name="Replay").click()
        expect(dash.locator("div.err")).to_contain_text("description")
        dash.screenshot(path=str(DOCS / "system.png"))
    finally:
        context.close()
