"""End to end in a real browser: a Spanish report reaches the open dashboard live, is verified, gets a call to
action that reaches every member, and a member's FIRMO reply lands in the signatories CSV."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from testing.samples import named, unique_name
from tests.e2e.conftest import DOCS, login
from tests.e2e.forms import fill_report
from tests.members_data import demo_members, eligible

pytestmark = [pytest.mark.browser, pytest.mark.kafka]


def test_report_to_signatories(browser, world, base_url):
    stack, sandbox, tokens = world
    secretariat = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
    reporter = browser.new_context(viewport={"width": 390, "height": 844}, locale="es-ES", is_mobile=True)
    for incident, country in (("death_threat", "co"), ("surveillance", "ke"), ("forced_eviction", "ph")):
        status, _ = stack.http.request("POST", "/api/v1/reports", named(unique_name("Lucía"), incident_type=incident,
                                                                        country=country), token=tokens["reporter"])
        assert status == 202
    try:
        dash = login(secretariat, base_url, tokens["secretariat"])
        expect(dash.locator("#live")).to_have_text("live", timeout=10_000)

        form = reporter.new_page()
        form.goto(f"{base_url}/report")
        expect(form.locator("html")).to_have_attribute("lang", "es")
        expect(form.locator("h1")).to_contain_text("Denunciar")
        fill_report(form, defender=unique_name("Marta"), token=tokens["reporter"])
        form.evaluate("window.scrollTo(0, 0)")
        form.screenshot(path=str(DOCS / "form-es.png"))
        form.click("button.primary")
        reference = form.locator("#reference").inner_text()
        assert reference.startswith("SOL-")
        expect(form.locator("h1")).to_have_text("Denuncia recibida")

        # The dashboard was never reloaded: the case arrives over server-sent events, highlighted.
        row = dash.locator("#queue tbody tr", has_text=reference)
        expect(row).to_be_visible(timeout=10_000)
        expect(row).to_have_class("u-critical fresh")
        expect(row.locator(".badge")).to_have_text("critical")
        dash.screenshot(path=str(DOCS / "dashboard.png"))

        row.get_by_role("link", name=reference).click()
        expect(dash.locator("#status")).to_have_text("new")
        dash.fill("input[aria-label='Verification note']", "confirmado por teléfono con la familia")
        dash.click("button[value=verify]")
        expect(dash.locator("#status")).to_have_text("verified", timeout=10_000)
        expect(dash.locator(".timeline")).to_contain_text("verified")

        dash.click("#new-action")
        sms_members = eligible(demo_members(), "sms")
        expect(dash.locator("#n-sms")).to_have_text(str(len(sms_members)), timeout=10_000)
        expect(dash.locator("#seg-es")).to_contain_text("SMS segment")
        dash.click("#approve")
        expect(dash.locator("#pct")).to_have_text("100%", timeout=120_000)
        expect(dash.locator("#c-failed")).to_have_text("0")

        signer = next(m for m in sms_members if m["language"] == "es")
        status, _ = sandbox.phone(signer["phone"]).reply("FIRMO")
        assert status in (200, 201, 202)
        expect(dash.locator("#c-signed")).to_have_text("1", timeout=30_000)
        dash.screenshot(path=str(DOCS / "action.png"))

        response = dash.request.get(base_url + dash.locator("#csv").get_attribute("href"))
        assert response.status == 200
        rows = list(csv.DictReader(io.StringIO(response.text())))
        assert [r["member_id"] for r in rows] == [signer["member_id"]]
        assert "phone" not in response.text()
    finally:
        secretariat.close()
        reporter.close()
