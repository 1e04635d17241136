"""Cross-site scripting in a real browser: markup typed into every free-text field a report, a decision or a token
carries is shown to the secretariat as text on every dashboard page, and never runs.

The browser ignores our Content-Security-Policy here (bypass_csp), so these tests check the escaping itself:
with the policy on, an escaping bug would be hidden, not harmless.
"""

from __future__ import annotations

import json
import re
import uuid
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from testing.samples import report
from tests.e2e.conftest import login
from testing.stack import wait_case, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.kafka]

P = {
    "script": "<script>window.__xss=1</script>",
    "img": '"><img src=x onerror="window.__xss=1">',
    "js": "javascript:window.__xss=1//",
    "svg": "</textarea><svg onload=window.__xss=1>",
    "alert": "<img src=x onerror=alert(1)>",
}
INJECTED = """() => {
  const bad = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) if (a.name.startsWith('on')) bad.push(el.tagName + '[' + a.name + ']');
    for (const name of ['href', 'src', 'action', 'formaction'])
      if (/^\\s*javascript:/i.test(el.getAttribute(name) || '')) bad.push(el.tagName + '[' + name + '=javascript:]');
  }
  for (const s of document.scripts) if (!s.src && s.type !== 'application/json') bad.push('inline script');
  for (const el of document.querySelectorAll('img, iframe, object, embed, svg:not(.chart)')) bad.push(el.tagName);
  return bad;
}"""


def squeeze(text: str) -> str:
    """Whitespace collapsed, as a browser renders it."""
    return " ".join(text.split())


def tagged(label: str, payload: str) -> str:
    """A payload with a unique label, so each field's text can be found on the page."""
    return f"{label}-{uuid.uuid4().hex[:8]} {payload}"


class Planted:
    """What the fixture put into the system: texts per field, the cases and the action."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}
        self.cases: dict[str, str] = {}
        self.action_id = ""
        self.actor = P["img"]
        self.token = ""
        self.dead_fields: list[str] = []


def submit(stack, token: str, body: dict) -> str:
    status, receipt = stack.http.request("POST", "/api/v1/reports", body, token=token)
    assert status == 202, receipt
    return receipt["case_id"]


def change(stack, token: str, case_id: str, verb: str, body: dict) -> None:
    status, answer = stack.http.request("POST", f"/api/v1/cases/{case_id}/{verb}", body, token=token)
    assert status == 202, answer


@pytest.fixture(scope="module")
def planted(world) -> Planted:
    stack, _sandbox, tokens = world
    out = Planted()
    # The token's name is shown as the logged-in user and as the actor of every decision it makes.
    out.token = stack.token("secretariat", out.actor)
    t = out.texts
    t.update(description=tagged("desc", P["script"] + " " + P["alert"]), locality=tagged("loc", P["js"] + P["svg"]),
             name0=tagged("name", P["svg"]), org0=tagged("org", P["js"]), name1=tagged("name", P["script"]),
             org1=tagged("org", P["img"]), company=tagged("company", P["alert"] + P["svg"]),
             verify=tagged("verify", P["svg"]), escalate=tagged("escalate", P["script"]),
             consent=tagged("consent", P["img"]), outcome=tagged("outcome", P["alert"]),
             dismiss=tagged("dismiss", P["js"]))
    body = report(incident_type="surveillance", description="Vigilancia frente a la sede. " + t["description"],
                  locality=t["locality"], corporate_actor=t["company"], consent="network",
                  defenders=[{"name": t["name0"], "organization": t["org0"]},
                             {"name": t["name1"], "organization": t["org1"], "detained": True}])
    a = out.cases["a"] = submit(stack, tokens["reporter"], body)
    wait_case(stack, out.token, a)
    change(stack, out.token, a, "verify", {"note": t["verify"]})
    change(stack, out.token, a, "escalate", {"urgency": "high", "reason": t["escalate"]})
    change(stack, out.token, a, "consent", {"consent": "public", "note": t["consent"]})
    wait_case(stack, out.token, a, lambda c: len(c["history"]) >= 4, what="the decisions on case A")
    status, approved = stack.http.request("POST", f"/api/v1/cases/{a}/actions", {
        "kind": "sign_on_letter", "audience": {"member_ids": ["nobody-xss"]}, "channels": ["email"]}, token=out.token)
    assert status == 202, approved
    out.action_id = approved["action_id"]

    b = out.cases["b"] = submit(stack, tokens["reporter"], report(defenders=[{"name": tagged("b", "x")}]))
    wait_case(stack, out.token, b)
    change(stack, out.token, b, "verify", {})
    wait_case(stack, out.token, b, lambda c: c["status"] == "verified")
    change(stack, out.token, b, "close", {"outcome": t["outcome"]})
    c = out.cases["c"] = submit(stack, tokens["reporter"], report(defenders=[{"name": tagged("c", "x")}]))
    wait_case(stack, out.token, c)
    change(stack, out.token, c, "dismiss", {"reason": t["dismiss"]})
    wait_case(stack, out.token, b, lambda case: case["status"] == "closed")
    wait_case(stack, out.token, c, lambda case: case["status"] == "dismissed")

    # A report refused for unknown fields lands in the dead letters, listed by field name: names the sender chose.
    top, inner = tagged("dl", P["script"]), tagged("dl", P["img"])
    bad = report(defenders=[{"name": tagged("d", "x"), inner: 1}], **{top: 1})
    status, refused = stack.http.request("POST", "/api/v1/reports", bad, token=tokens["reporter"])
    assert status == 422, refused
    out.dead_fields = [top, f"defenders.0.{inner}"]
    assert sorted(p["field"] for p in refused["errors"]) == sorted(out.dead_fields)
    return out


@pytest.fixture
def desk(browser, base_url, planted):
    """A logged-in dashboard page (as the token with a markup name) that records every dialog."""
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900}, locale="en-GB")
    dialogs: list[str] = []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    context.on("page", lambda page: page.on("dialog", on_dialog))
    page = login(context, base_url, planted.token)
    page.dialogs = dialogs
    yield page
    context.close()


def assert_inert(page, *texts: str) -> None:
    """Nothing injected ran or became an element, and every text is on the page as text."""
    page.wait_for_load_state("load")  # an <img onerror> fires before the load event
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.dialogs == []
    assert page.evaluate(INJECTED) == []
    for text in texts:
        expect(page.locator("body")).to_contain_text(text)


def test_the_checks_catch_markup_that_runs(desk, base_url, planted):
    # The control: the case page as it would be if the description were not escaped.
    escaped = planted.texts["description"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    def unescape(route):
        if route.request.resource_type != "document":  # the injected <img src=x> asks for /dashboard/cases/x
            return route.continue_()
        html = route.fetch().text()
        assert escaped in html
        route.fulfill(status=200, content_type="text/html", body=html.replace(escaped, planted.texts["description"]))

    desk.route(re.compile(r".*/dashboard/cases/[^/?]+$"), unescape)
    desk.goto(f"{base_url}/dashboard/cases/{planted.cases['a']}")
    with pytest.raises(AssertionError):
        assert_inert(desk)
    assert desk.evaluate("window.__xss") == 1 and desk.dialogs == ["1"]


def test_queue_and_the_logged_in_name_are_text(desk, base_url, planted):
    expect(desk.locator("nav.menu button")).to_have_text(f"Log out {planted.actor}")
    assert_inert(desk)
    desk.goto(f"{base_url}/dashboard?status={quote(P['img'])}&country={quote(P['script'])}&region={quote(P['svg'])}")
    assert_inert(desk, f"Log out {planted.actor}")


def test_case_page_shows_every_field_and_decision_as_text(desk, base_url, planted):
    t = planted.texts
    desk.goto(f"{base_url}/dashboard/cases/{planted.cases['a']}?done={quote(P['img'])}")
    expect(desk.locator(".desc")).to_have_text("Vigilancia frente a la sede. " + t["description"])
    assert_inert(desk, t["locality"], t["name0"], t["org0"], t["name1"], t["org1"], t["company"], t["verify"],
                 t["escalate"], t["consent"], f"by {planted.actor}", f"Recorded: {P['img']}.")
    expect(desk.locator(".timeline")).to_contain_text(f"verified by {planted.actor}")
    desk.goto(f"{base_url}/dashboard/cases/{planted.cases['b']}")
    assert_inert(desk, t["outcome"])
    desk.goto(f"{base_url}/dashboard/cases/{planted.cases['c']}")
    assert_inert(desk, t["dismiss"])


def test_call_to_action_form_gives_back_what_was_typed_as_text(desk, base_url, planted):
    desk.goto(f"{base_url}/dashboard/cases/{planted.cases['a']}/action")
    assert_inert(desk)
    message = f"{P['svg']} {P['script']} {{nope}}"  # an unknown placeholder: refused, and the form comes back
    desk.fill("#countries", "AQ")
    desk.fill("#wg", P["img"])
    desk.fill("#m-en", message)
    desk.click("#approve")
    expect(desk.locator(".err").first).to_contain_text("unknown placeholder {nope}")
    expect(desk.locator("#m-en")).to_have_value(message)
    expect(desk.locator("#wg")).to_have_value(P["img"])
    assert_inert(desk)


def test_action_page_shows_the_approver_as_text(desk, base_url, planted):
    desk.goto(f"{base_url}/dashboard/actions/{planted.action_id}")
    expect(desk.locator(".hint").first).to_contain_text(f"Approved by {planted.actor}")
    assert_inert(desk)
    desk.goto(f"{base_url}/dashboard/actions/{quote(P['img'], safe='')}")  # an id from the address bar
    assert_inert(desk)
    expect(desk.locator("#csv")).to_have_attribute("href", f"/dashboard/actions/{P['img']}/signatories.csv")


def test_dead_letters_and_their_replay_show_field_names_as_text(desk, base_url, planted):
    top = planted.dead_fields[0]

    def listed():
        desk.goto(f"{base_url}/dashboard/system")
        return desk.locator("table.dlq tr", has_text=top).count() == 1

    wait_for(listed, 30, 0.5, "the refused report on the system page")
    assert_inert(desk, *planted.dead_fields)
    desk.locator("table.dlq tr", has_text=top).get_by_role("button", name="Replay").click()
    expect(desk.locator("div.err")).to_contain_text("Still refused")
    assert_inert(desk, *(f"{f}: unknown field" for f in planted.dead_fields))


def test_live_queue_adds_a_new_case_without_running_its_text(desk, world, planted):
    stack, _sandbox, tokens = world
    expect(desk.locator("#live")).to_have_text("live", timeout=10_000)
    body = report(description="Amenaza en vivo. " + tagged("live", P["script"] + P["svg"]),
                  locality=tagged("live", P["img"]), defenders=[{"name": tagged("live", P["alert"])}])
    status, receipt = stack.http.request("POST", "/api/v1/reports", body, token=tokens["reporter"])
    assert status == 202
    expect(desk.locator("#queue tbody tr", has_text=receipt["reference"])).to_be_visible(timeout=10_000)
    assert_inert(desk)


def test_live_queue_inserts_every_field_of_an_event_as_text(browser, base_url, planted):
    # A forged event with markup in every field the queue row shows: dash.js must insert text, not HTML.
    forged = {"case_id": P["img"], "reference": P["script"], "status": P["img"], "urgency": "critical",
              "incident_type": P["svg"], "country": P["alert"], "region": P["js"], "consent": P["script"],
              "reports": P["svg"], "opened_at": "2026-01-01T00:00:00" + P["img"], "mechanisms": [P["alert"]]}
    event = json.dumps({"type": "case", "event": "opened", "new": True, "case": forged})
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    dialogs: list[str] = []
    context.on("page", lambda page: page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss())))
    try:
        context.route(re.compile(r".*/dashboard/events.*"), lambda route: route.fulfill(
            status=200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"},
            body=f"retry: 60000\n\nid: 999999\nevent: case\ndata: {event}\n\n"))
        page = login(context, base_url, planted.token)
        page.dialogs = dialogs
        row = page.locator("#queue tbody tr.fresh")
        expect(row).to_have_count(1, timeout=10_000)
        expect(row.get_by_role("link")).to_have_text(P["script"])
        assert row.get_by_role("link").get_attribute("href") == "/dashboard/cases/" + P["img"]
        cells = [squeeze(c) for c in row.locator("td").all_inner_texts()]
        shown = [P["svg"].replace("_", " "), P["alert"], P["js"].replace("_", " "), P["img"], P["script"], P["svg"]]
        assert cells[2:8] == [squeeze(s) for s in shown]  # the queue writes underscores as spaces
        assert_inert(page)
    finally:
        context.close()
