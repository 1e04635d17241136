"""Attacks on the route inventory with a real worker: every non-public route, every method it serves, called
with no credentials, with a token of the wrong role and with a revoked token, is refused; faust's built-in
table pages answer 404; a revoked token's dashboard session ends at once."""

from __future__ import annotations

import re

import httpx
import pytest

from streams.app import build
from streams.settings import Settings
from streams.web.routes import BROWSER_PAGES, ROUTES, Audience
from testing.stack import wait_for

FILL = {"case_id": "case_0000", "verb": "verify", "reference": "SOL-ABC123", "action_id": "act_0000", "member_id": "m0001", "name": "ui.css",
        "referral_id": "ref_0000", "token": "not-a-signed-link"}


def served_methods() -> dict[str, list[str]]:
    rt = build(Settings())
    rt.app.web.init_server()
    out: dict[str, set[str]] = {}
    for resource in rt.app.web.web_app.router.resources():
        out.setdefault(resource.canonical, set()).update(r.method for r in resource if r.method not in ("HEAD", "OPTIONS"))
    return {path: sorted(methods) for path, methods in out.items()}


CALLS = [(path, method) for path, methods in sorted(served_methods().items()) if ROUTES.get(path) is not Audience.public
         for method in methods]


def url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: FILL[m.group(1)], path)


@pytest.fixture(scope="module")
def tokens(stack) -> dict:
    made = {role: stack.token(role, f"attack-{role}") for role in ("reporter", "secretariat", "metrics")}
    revoked = {}
    for role in ("reporter", "secretariat", "metrics"):
        token = stack.token(role, f"revoked-{role}")
        token_id = next(line.split()[0] for line in stack.cli("tokens", "list").stdout.splitlines()
                        if line.endswith(f"revoked-{role}"))
        stack.cli("tokens", "revoke", token_id)
        revoked[role] = token
    probe = ("GET", "/api/v1/cases")
    wait_for(lambda: stack.http.request(*probe, token=revoked["secretariat"])[0] == 401, 30, 0.2, "the revocation")
    return {"ok": made, "revoked": revoked}


def wrong_role(audience: Audience) -> str:
    return {Audience.secretariat: "reporter", Audience.reporter: "metrics", Audience.metrics: "reporter"}.get(
        audience, "secretariat")


def refused(response: httpx.Response, path: str, method: str) -> bool:
    if path.startswith("/dashboard") and method == "GET" and path in BROWSER_PAGES:
        return response.status_code == 303 and response.headers["location"] == "/dashboard/login"
    return response.status_code in (401, 403)


@pytest.mark.parametrize("path, method", CALLS, ids=[f"{m} {p}" for p, m in CALLS])
def test_every_non_public_route_refuses_no_wrong_and_revoked_credentials(stack, tokens, path, method):
    audience = ROUTES[path]
    attempts = {"none": None, "wrong role": tokens["ok"][wrong_role(audience)],
                "revoked": tokens["revoked"].get(audience.value, tokens["revoked"]["secretariat"])}
    with httpx.Client(base_url=stack.http.base_url, follow_redirects=False, timeout=30) as client:
        for what, token in attempts.items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            if audience is Audience.twilio_signed and token:
                headers = {"X-Twilio-Signature": "forged"}
            response = client.request(method, url(path), headers=headers, data={"Body": "SIGN", "From": "+15005550006"}
                                      if method == "POST" else None)
            assert refused(response, path, method), f"{what}: {method} {path} answered {response.status_code}"


@pytest.mark.parametrize("path", ["/table/", "/table/members/", "/table/members/m0001/", "/router/", "/"])
def test_fausts_table_and_router_pages_are_not_found(stack, path):
    assert stack.http.request("GET", path)[0] == 404


def test_revoking_a_token_ends_its_dashboard_session_at_once(stack):
    token = stack.token("secretariat", "desk-to-revoke")
    with httpx.Client(base_url=stack.http.base_url, follow_redirects=False, timeout=30) as client:
        page = client.get("/dashboard/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        assert client.post("/dashboard/login", data={"csrf": csrf, "token": token}).status_code == 303
        assert client.get("/dashboard").status_code == 200
        token_id = next(line.split()[0] for line in stack.cli("tokens", "list").stdout.splitlines()
                        if line.endswith("desk-to-revoke"))
        stack.cli("tokens", "revoke", token_id)
        wait_for(lambda: client.get("/dashboard").status_code == 303, 30, 0.2, "the session to end")
        assert client.get("/dashboard/events").status_code == 401


def test_metrics_need_a_metrics_token(stack, tokens):
    assert stack.http.request("GET", "/metrics")[0] == 401
    assert stack.http.request("GET", "/metrics", token=tokens["ok"]["reporter"])[0] == 403
    status, text = stack.http.request("GET", "/metrics", token=tokens["ok"]["metrics"])
    assert status == 200 and "solidarity_cases" in text
