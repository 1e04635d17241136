"""In a real browser: who is on call, a critical case's page acknowledged with the dashboard's button (every
paged phone is told), and a reporter asking the status of a report with their token."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from testing.samples import named, unique_name
from testing.stack import wait_for
from tests.e2e.conftest import DOCS, login
from tests.members_data import demo_members

pytestmark = [pytest.mark.browser, pytest.mark.kafka]


def test_the_dashboard_acknowledges_a_page_and_every_paged_phone_hears_who(browser, world, base_url):
    stack, sandbox, tokens = world
    oncall = [m for m in demo_members() if "secretariat_oncall" in m["roles"]]
    status, receipt = stack.http.request("POST", "/api/v1/reports", named(
        unique_name("Paz"), incident_type="enforced_disappearance", country="hn"), token=tokens["reporter"])
    assert status == 202
    ref = receipt["reference"]
    phones = {m["member_id"]: sandbox.phone(m["phone"]) for m in oncall}
    for m in oncall:
        phones[m["member_id"]].expect_sms(contains=ref)
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    try:
        dash = login(desk, base_url, tokens["secretariat"])
        on_call = dash.locator("#oncall li[data-schedule=primary]")
        for m in oncall:
            expect(on_call).to_contain_text(m["contact_name"])
        dash.goto(f"{base_url}/dashboard/cases/{receipt['case_id']}")
        expect(dash.locator("#paging-state")).to_have_text("not acknowledged yet", timeout=10_000)
        expect(dash.locator("#paging .pages")).to_contain_text(oncall[0]["contact_name"])
        dash.fill("input[aria-label='Acknowledgement note']", "calling the family now")
        dash.click("#ack")
        expect(dash.locator("#paging-state")).to_have_text("acknowledged", timeout=10_000)
        expect(dash.locator("#acknowledged-by")).to_contain_text("by dashboard")
        expect(dash.locator("#ack")).to_have_count(0)  # nothing left to acknowledge
        expect(dash.locator(".timeline")).to_contain_text("acknowledged")
        dash.screenshot(path=str(DOCS / "paging.png"))
    finally:
        desk.close()
    for m in oncall:  # in each one's language, naming who acknowledged (the dashboard token's name)
        told = phones[m["member_id"]].expect_sms(contains=ref)
        assert "test" in told["body"]


def test_a_reporter_asks_the_status_of_a_report_on_the_web(browser, world, base_url):
    stack, _, tokens = world
    status, receipt = stack.http.request("POST", "/api/v1/reports", named(unique_name("Sol"), country="pe"),
                                         token=tokens["reporter"])
    assert status == 202
    wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{receipt['case_id']}",
                                        token=tokens["secretariat"])[0] == 200, 30, 0.2, "the case")
    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="es-ES", is_mobile=True)
    try:
        page = phone.new_page()
        page.goto(f"{base_url}/report/status?ref={receipt['reference']}")
        page.fill("#token", tokens["reporter"])
        page.click("button.primary")
        expect(page.locator("#report-status")).to_have_attribute("data-state", "received")
        expect(page.locator("#report-status")).to_contain_text("Recibido")
        page.fill("#reference", "SOL-NOTMINE")
        page.fill("#token", tokens["reporter"])
        page.click("button.primary")
        expect(page.locator("#report-status")).to_have_attribute("data-state", "unknown")
    finally:
        phone.close()
