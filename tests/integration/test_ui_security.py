"""The browser interface over plain HTTP: CSRF refusals, session cookies, SSE, page weight and /metrics."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from testing.samples import unique_name
from testing.stack import wait_for

pytestmark = pytest.mark.kafka


def csrf_of(html: str) -> str:
    """The CSRF token a page's form carries."""
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def report_form(token: str | None, csrf: str | None, **extra) -> dict:
    """A complete form post for /report."""
    when = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    data = {"incident_type": "arbitrary_detention", "country": "MX", "occurred_at": when, "tz": "+00:00",
            "description": "Dos defensoras fueron detenidas tras una asamblea comunitaria.", "language": "es",
            "defenders.0.name": unique_name(), "consent": "network", **extra}
    if token:
        data["token"] = token
    if csrf:
        data["csrf"] = csrf
    return data


@pytest.fixture
def client(stack):
    with httpx.Client(base_url=stack.http.base_url, follow_redirects=False, timeout=30) as c:
        yield c


def login(client: httpx.Client, token: str) -> str:
    """Log in; return the session's CSRF token."""
    page = client.get("/dashboard/login")
    response = client.post("/dashboard/login", data={"csrf": csrf_of(page.text), "token": token})
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/dashboard").text)


def test_a_forged_report_post_without_the_csrf_token_is_refused(client, reporter_token):
    client.get("/report")
    assert client.post("/report", data=report_form(reporter_token, None)).status_code == 403
    assert client.post("/report", data=report_form(reporter_token, "x" * 43)).status_code == 403
    with httpx.Client(base_url=str(client.base_url)) as stranger:  # another site's form: no cookie at all
        assert stranger.post("/report", data=report_form(reporter_token, csrf_of(client.get("/report").text))
                             ).status_code == 403


def test_a_report_form_post_is_accepted_and_counted_in_metrics(client, reporter_token, stack):
    scrape = {"Authorization": f"Bearer {stack.token('metrics', 'prometheus')}"}
    csrf = csrf_of(client.get("/report").text)
    response = client.post("/report", data=report_form(reporter_token, csrf))
    assert response.status_code == 303
    assert response.headers["location"].startswith("/report/sent?ref=SOL-")
    cookie = response.headers["set-cookie"]
    assert "sol_reporter=" in cookie and "HttpOnly" in cookie
    assert client.get("/metrics").status_code == 401, "metrics are not for anonymous callers"
    metrics = client.get("/metrics", headers=scrape)
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'solidarity_reports_received_total{source="form"} 1.0' in metrics.text
    for name in ("solidarity_intake_to_first_alert_seconds_bucket", "solidarity_fanout_duration_seconds_bucket",
                 "solidarity_notifications_total", "solidarity_cases"):
        assert f"# TYPE {name.rsplit('_bucket', 1)[0].rsplit('_total', 1)[0]}" in metrics.text
    wait_for(lambda: 'solidarity_cases{status="new",urgency=' in client.get("/metrics", headers=scrape).text, 30, 0.2,
             "the case gauge")


def test_the_form_page_with_its_assets_stays_under_100_kb(client):
    page = client.get("/report", headers={"Accept-Language": "fr"})
    assets = re.findall(r'(?:href|src)="(/static/ui/[^"]+)"', page.text)
    total = len(page.content) + sum(len(client.get(a).content) for a in assets)
    assert assets and total < 100_000, total


def test_dashboard_session_cookie_and_csrf(client, stack, secretariat_token, reporter_token):
    assert client.get("/dashboard").status_code == 303
    page = client.get("/dashboard/login")
    assert client.post("/dashboard/login", data={"csrf": csrf_of(page.text), "token": reporter_token}).status_code == 401
    response = client.post("/dashboard/login", data={"csrf": csrf_of(page.text), "token": secretariat_token})
    cookie = response.headers["set-cookie"]
    assert "sol_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert secretariat_token not in cookie
    csrf = csrf_of(client.get("/dashboard").text)
    csrf_again = login(client, secretariat_token)
    assert csrf_again != csrf  # a new session gets its own token

    status, receipt = stack.http.request("POST", "/api/v1/reports", {
        **{k: v for k, v in report_form(None, None).items() if k in ("incident_type", "country", "description",
                                                                     "language", "consent")},
        "occurred_at": datetime.now(timezone.utc).isoformat(), "defenders": [{"name": unique_name()}]},
        token=reporter_token)
    assert status == 202, receipt
    wait_for(lambda: client.get(f"/dashboard/cases/{receipt['case_id']}").status_code == 200, 30, 0.2, "the case")
    forged = client.post(f"/dashboard/cases/{receipt['case_id']}/do/verify", data={"note": "forged"})
    assert forged.status_code == 403
    ok = client.post(f"/dashboard/cases/{receipt['case_id']}/do/verify", data={"note": "by phone", "csrf": csrf_again})
    assert ok.status_code == 303
    assert "verified" in client.get(ok.headers["location"]).text

    with client.stream("GET", "/dashboard/events") as events:
        assert events.headers["content-type"].startswith("text/event-stream")
    client.post("/dashboard/logout", data={"csrf": csrf_again})
    assert client.get("/dashboard").status_code == 303
    assert client.get("/dashboard/events").status_code == 401
