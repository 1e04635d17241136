"""Two workers on the same topics, one consumer group: every route of the inventory answers right on each of them.

A load balancer may send any request to any worker, and a browser's next request to another one. So each route
is exercised on worker 0 and on worker 1, with the write on one and the read on the other: a report submitted
on one is a case on the other, a member created on one is there at once on the other, a dashboard session opened
on one works on the other, a webhook reaching either is handled. SMS and email go through the real sandbox and
are counted at its phones and mailboxes. The route list is the inventory itself (streams/web/routes.py): a route
added there without a check here fails.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx
import pytest
from pypdf import PdfReader

from agents.links import LinkSigner, Purpose
from agents.texts import render
from sandbox.signing import SIGNATURE_HEADER, twilio_signature
from streams.web.routes import ROUTES
from testing.samples import named, report, unique_name
from testing.sandbox import AUTH_TOKEN, FROM, Sandbox, sandbox_env
from testing.stack import wait_for
from testing.workers import Workers
from tests.members_data import MEMBERS_CSV, SIGN_WORDS, demo_members, eligible

pytestmark = pytest.mark.kafka

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
# How long the pipeline may take to turn a write on one worker into state the other one serves.
PIPELINE_S = 15
ROWS = demo_members()
SMS, EMAIL = eligible(ROWS, "sms"), eligible(ROWS, "email")


@dataclass
class World:
    """Two workers, the sandbox they send through, and one token per role known to both."""

    workers: Workers
    sandbox: Sandbox
    tokens: dict[str, str]
    posted: Counter = field(default_factory=Counter)  # API reports accepted, per worker

    def api(self, i: int, method: str, path: str, body=None, role: str = "secretariat", **kw):
        """(status, body) of a JSON API call on worker i with the role's token."""
        return self.workers.http(i).request(method, path, body, token=self.tokens[role], **kw)

    def submit(self, i: int, body: dict, headers: dict | None = None) -> dict:
        """POST /api/v1/reports on worker i; the receipt."""
        status, receipt = self.api(i, "POST", "/api/v1/reports", body, role="reporter", headers=headers)
        assert status == 202, (i, status, receipt)
        self.posted[i] += 1
        return receipt

    def case_on(self, i: int, case_id: str, until: Callable[[dict], bool] = lambda c: True, what: str = "the case"):
        """The case as worker i serves it, once `until` holds (bounded by the pipeline's time)."""
        def fetched():
            status, case = self.api(i, "GET", f"/api/v1/cases/{case_id}")
            return case if status == 200 and until(case) else None
        return wait_for(fetched, PIPELINE_S, 0.2, f"{what} on worker {i}")


class Browser:
    """One browser: a cookie jar shared by both workers (cookies are per host, not per port) and its CSRF token."""

    def __init__(self, workers: Workers) -> None:
        self.workers = workers
        self.http = httpx.Client(follow_redirects=False, timeout=30)
        self.csrf = ""

    def get(self, i: int, path: str, **kw) -> httpx.Response:
        return self.http.get(self.workers.url(i) + path, **kw)

    def post(self, i: int, path: str, data: dict) -> httpx.Response:
        """A form post to worker i carrying the session's CSRF token."""
        return self.http.post(self.workers.url(i) + path, data={**data, "csrf": self.csrf})

    def login(self, i: int, token: str) -> "Browser":
        """Log in on worker i; the dashboard's CSRF token is kept for later posts (to either worker)."""
        page = self.get(i, "/dashboard/login")
        assert page.status_code == 200, page.status_code
        answer = self.http.post(self.workers.url(i) + "/dashboard/login",
                                data={"csrf": CSRF.search(page.text).group(1), "token": token})
        assert answer.status_code == 303, answer.text
        dashboard = self.get(i, "/dashboard")
        assert dashboard.status_code == 200, dashboard.status_code
        self.csrf = CSRF.search(dashboard.text).group(1)
        return self


def signed_post(w: World, i: int, path: str, params: dict[str, str]) -> httpx.Response:
    """POST a form to worker i signed the way Twilio (and the sandbox) sign it: for the public URL, which is what
    Twilio was given, whichever worker the load balancer picks."""
    signature = twilio_signature(AUTH_TOKEN, w.workers.public_url + path, params)
    return httpx.post(w.workers.url(i) + path, content=urlencode(params), timeout=30, headers={
        SIGNATURE_HEADER: signature, "Content-Type": "application/x-www-form-urlencoded"})


def sms_with(w: World, phone: str, text: str) -> list[dict]:
    """SMS the sandbox took for `phone` that contain `text`."""
    return [m for m in w.sandbox.phone(phone).received() if text in m["body"]]


def known_token(workers: Workers, role: str) -> str:
    """A token created once with the CLI, known to at least one worker. A worker that does not know it yet gets a
    short grace and no more: a token some worker refuses is a finding of the route checks, not of the setup."""
    token = workers.cli("tokens", "create", "--role", role, "--name", f"two-{role}").stdout.strip().splitlines()[-1]
    for i, timeout in ((0, 90), (1, 15)):
        try:
            workers[i].wait_token(token, role, timeout)
        except AssertionError:
            pass
    return token


# --- the world and the scenarios several routes share ----------------------------------------------------------

@pytest.fixture(scope="module")
def world(kafka, tmp_path_factory) -> World:
    tmp = tmp_path_factory.mktemp("two-workers")
    workers = Workers(tmp, 2)
    sandbox = Sandbox(tmp, workers.port(0))  # inbound SMS go to the public URL: worker 0
    workers.update_env(sandbox_env(sandbox))
    try:
        workers.start_all()
        workers.cli("members", "import", str(MEMBERS_CSV))
        tokens = {role: known_token(workers, role) for role in ("reporter", "secretariat", "metrics")}
        w = World(workers, sandbox, tokens)

        # The import is consumed somewhere (each worker holding all of them, or each a share): not yet a check.
        def imported():
            return sum(w.api(i, "GET", "/api/v1/members")[1].get("count", 0) for i in (0, 1)) >= len(ROWS)
        try:
            wait_for(imported, 60, 0.5, "the demo members to be imported")
        except AssertionError:
            pass  # the members check says what is missing where
        yield w
    finally:
        workers.stop_all()
        sandbox.stop()


@pytest.fixture(scope="module")
def case(world) -> dict:
    """A report submitted on worker 0, as a case on worker 1."""
    receipt = world.submit(0, named(unique_name(), incident_type="judicial_harassment", country="co"))
    return {**receipt, "case": world.case_on(1, receipt["case_id"])}


@pytest.fixture(scope="module")
def desk(world) -> Browser:
    """A secretariat browser logged in on worker 0."""
    browser = Browser(world.workers).login(0, world.tokens["secretariat"])
    yield browser
    browser.http.close()


@pytest.fixture(scope="module")
def action(world, case) -> dict:
    """The case verified via worker 1, a call to action approved via worker 0 and read via worker 1 until done."""
    status, body = world.api(1, "POST", f"/api/v1/cases/{case['case_id']}/verify", {"note": "confirmed by phone"})
    assert status == 202, body
    world.case_on(0, case["case_id"], lambda c: c["status"] == "verified", "the verification")
    status, body = world.api(0, "POST", f"/api/v1/cases/{case['case_id']}/actions",
                             {"kind": "sign_on_letter", "channels": ["sms", "email"]})
    assert status == 202, body
    assert body["recipients"] == {"sms": len(SMS), "email": len(EMAIL)}, body

    def finished():
        code, progress = world.api(1, "GET", f"/api/v1/actions/{body['action_id']}")
        return progress if code == 200 and progress.get("finished") else None

    progress = wait_for(finished, 120, 0.5, "the call to action to finish, read on worker 1")
    return {"action_id": body["action_id"], "reference": case["reference"], "case_id": case["case_id"],
            "progress": progress}


@pytest.fixture(scope="module")
def signers(world, action) -> list[dict]:
    """Two members answer SIGN: one through the sandbox (to worker 0), one signed straight to worker 1."""
    plain = [m for m in SMS if "secretariat_oncall" not in m["roles"]]  # no pages among their texts
    first, second = [next(m for m in plain if m["language"] == lang) for lang in ("es", "fr")]
    assert world.sandbox.phone(first["phone"]).reply(SIGN_WORDS["es"])[0] in (200, 201)
    answer = signed_post(world, 1, "/webhooks/twilio/sms", {
        "AccountSid": "AC" + "0" * 32, "MessageSid": "SM" + uuid.uuid4().hex, "From": second["phone"], "To": FROM,
        "Body": SIGN_WORDS["fr"]})
    assert answer.status_code == 200, answer.text
    return [first, second]


# --- one check per route of the inventory -----------------------------------------------------------------------

CHECKS: dict[str, Callable[[World, pytest.FixtureRequest], None]] = {}


def check(*routes: str):
    """Register the check of one or more inventory routes."""
    def register(fn):
        for route in routes:
            assert route not in CHECKS, f"two checks for {route}"
            CHECKS[route] = fn
        return fn
    return register


@check("/healthz")
def healthz(w, request):
    for i in (0, 1):
        status, body = w.workers.http(i).request("GET", "/healthz", token=w.tokens["metrics"])
        assert (status, body.get("status")) == (200, "ok"), (i, status, body)
        # The details are for a metrics token: their absence means this worker does not know the token.
        assert body.get("broker", {}).get("connected") is True, (i, "no broker details for the metrics token", body)


@check("/metrics")
def metrics(w, request):
    request.getfixturevalue("case")
    w.submit(1, named(unique_name(), incident_type="surveillance", country="ke"))
    scraped = {}
    for i in (0, 1):
        status, text = w.workers.http(i).request("GET", "/metrics", token=w.tokens["metrics"])
        assert status == 200 and "# TYPE solidarity_cases gauge" in text, (i, status)
        scraped[i] = text
    # Each worker counts the reports it took; Prometheus adds them up across the workers.
    counted = {i: sum(float(v) for v in re.findall(r'solidarity_reports_received_total\{source="api"\} (\S+)', t))
               for i, t in scraped.items()}
    assert all(counted[i] >= w.posted[i] for i in (0, 1)), (counted, w.posted)


@check("/api/v1/reports")
def reports(w, request):
    # A critical report on worker 1 pages every on-call phone exactly once (counted at the sandbox's phones).
    receipt = w.submit(1, named(unique_name(), incident_type="enforced_disappearance", country="hn"))
    oncall = [m for m in ROWS if "secretariat_oncall" in m["roles"] and m["phone"]]
    assert oncall
    for m in oncall:
        wait_for(lambda: sms_with(w, m["phone"], receipt["reference"]), PIPELINE_S, 0.1, "the on-call page")
    w.case_on(0, receipt["case_id"])
    # A field reporter on a weak connection retries with the same Idempotency-Key, and this time reaches the
    # other worker: the same receipt, one report.
    key = {"Idempotency-Key": uuid.uuid4().hex}
    body = named(unique_name(), incident_type="surveillance", country="gt")
    first = w.submit(1, body, headers=key)
    again = w.submit(0, body, headers=key)
    assert (again["report_id"], again["reference"]) == (first["report_id"], first["reference"])
    case = w.case_on(0, first["case_id"])
    assert len(case["reports"]) == 1, case["reports"]
    time.sleep(1)  # a second page, if the retry made one, would be on its way
    for m in oncall:
        assert len(sms_with(w, m["phone"], receipt["reference"])) == 1, m["phone"]


@check("/api/v1/cases")
def cases(w, request):
    case = request.getfixturevalue("case")
    for i in (0, 1):
        wait_for(lambda: case["case_id"] in {c["case_id"] for c in w.api(i, "GET", "/api/v1/cases")[1]["cases"]},
                 PIPELINE_S, 0.2, f"the case in worker {i}'s queue")
        status, body = w.api(i, "GET", f"/api/v1/cases?reference={case['reference']}")
        assert status == 200 and [c["case_id"] for c in body["cases"]] == [case["case_id"]], (i, body)


@check("/api/v1/cases/{case_id}")
def one_case(w, request):
    case = request.getfixturevalue("case")
    seen = [w.case_on(i, case["case_id"]) for i in (0, 1)]
    assert seen[0]["reference"] == seen[1]["reference"] == case["reference"]
    assert seen[0]["urgency"] == seen[1]["urgency"]


@check("/api/v1/cases/{case_id}/{verb}")
def case_verbs(w, request):
    receipt = w.submit(0, named(unique_name(), incident_type="travel_ban", country="pe"))
    w.case_on(1, receipt["case_id"])
    status, body = w.api(1, "POST", f"/api/v1/cases/{receipt['case_id']}/escalate",
                         {"urgency": "high", "reason": "threats by phone"})
    assert status == 202, body
    w.case_on(0, receipt["case_id"], lambda c: c["urgency"] == "high", "the escalation")
    status, body = w.api(0, "POST", f"/api/v1/cases/{receipt['case_id']}/dismiss", {"reason": "duplicate"})
    assert status == 202, body
    w.case_on(1, receipt["case_id"], lambda c: c["status"] == "dismissed", "the dismissal")


@check("/api/v1/cases/{case_id}/actions")
def approve(w, request):
    act = request.getfixturevalue("action")
    counts = act["progress"]["counts"]
    # targeted also counts members who had opted out of a channel (never queued); every queued one arrived.
    assert counts["queued"] == counts["delivered"] == len(SMS) + len(EMAIL) and counts["failed"] == 0, counts
    per_phone = Counter(m["to"] for m in w.sandbox.all_sms() if act["reference"] in m["body"])
    assert set(per_phone) == {m["phone"] for m in SMS} and set(per_phone.values()) == {1}, per_phone.most_common(3)


@check("/api/v1/actions/{action_id}")
def action_progress(w, request):
    act = request.getfixturevalue("action")
    answers = [w.api(i, "GET", f"/api/v1/actions/{act['action_id']}") for i in (0, 1)]
    assert [a[0] for a in answers] == [200, 200], answers
    assert answers[0][1]["counts"] == answers[1][1]["counts"], answers
    assert answers[0][1]["counts"]["delivered"] == len(SMS) + len(EMAIL), answers[0][1]["counts"]


@check("/api/v1/actions/{action_id}/signatories.csv")
def api_signatories(w, request):
    act, signed = request.getfixturevalue("action"), request.getfixturevalue("signers")
    want = {m["member_id"] for m in signed}
    for i in (0, 1):
        def listed():
            status, text = w.api(i, "GET", f"/api/v1/actions/{act['action_id']}/signatories.csv")
            return status == 200 and {r["member_id"] for r in csv.DictReader(io.StringIO(text))} == want
        wait_for(listed, PIPELINE_S, 0.3, f"both signatories in worker {i}'s CSV")
    # Each got exactly one thank-you in their language, whichever worker took the reply.
    others = lambda m: [s for s in w.sandbox.phone(m["phone"]).received()  # noqa: E731
                        if s["body"] == render("replies.signed", m["language"], reference=act["reference"])]
    for m in signed:
        wait_for(lambda: others(m), PIPELINE_S, 0.2, "the thank-you")
    time.sleep(1)  # a second one would be on its way
    assert [len(others(m)) for m in signed] == [1, 1], [others(m) for m in signed]


@check("/api/v1/members")
def members(w, request):
    for i in (0, 1):
        wait_for(lambda: w.api(i, "GET", "/api/v1/members")[1].get("count") == len(ROWS), PIPELINE_S, 0.5,
                 f"all {len(ROWS)} demo members listed by worker {i}")
    # Opted out of its only channel: it changes no audience the other checks count.
    new = {"member_id": f"two-{uuid.uuid4().hex[:8]}", "organization": "Red Norte", "contact_name": "Luz Nueva",
           "email": "luz@example.org", "language": "es", "country": "IS", "channels": ["email"],
           "opted_out": ["email"], "roles": ["member"]}
    status, body = w.api(1, "POST", "/api/v1/members", new)
    assert status == 201, body
    # Read your writes: the 201 means the other worker lists the member now, not eventually.
    listed = w.api(0, "GET", "/api/v1/members?country=IS")[1]
    assert new["member_id"] in {m["member_id"] for m in listed.get("members", [])}, listed
    assert w.api(0, "POST", "/api/v1/members", new)[0] == 409, "the same member_id created twice via two workers"


@check("/api/v1/members/{member_id}")
def one_member(w, request):
    member = next(m for m in ROWS if "member" in m["roles"] and m["country"] and m["phone"])
    status, body = w.api(1, "PATCH", f"/api/v1/members/{member['member_id']}", {"organization": "Red Sur renamed"})
    assert status == 200, body
    for i in (0, 1):  # read your writes, on both: no polling
        status, got = w.api(i, "GET", f"/api/v1/members/{member['member_id']}")
        assert (status, got.get("organization")) == (200, "Red Sur renamed"), (i, status, got)


@check("/report")
def report_form(w, request):
    browser = Browser(w.workers)
    try:
        for i in (0, 1):
            assert browser.get(i, "/report").status_code == 200
        page = browser.get(0, "/report")
        when = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() - 3600))
        form = {"incident_type": "arbitrary_detention", "country": "MX", "occurred_at": when, "tz": "+00:00",
                "description": "Dos defensoras fueron detenidas tras una asamblea comunitaria.", "language": "es",
                "defenders.0.name": unique_name(), "consent": "network", "token": w.tokens["reporter"],
                "csrf": CSRF.search(page.text).group(1)}
        # The form came from worker 0; the post reaches worker 1.
        sent = browser.http.post(w.workers.url(1) + "/report", data=form)
        assert sent.status_code == 303 and sent.headers["location"].startswith("/report/sent?ref=SOL-"), sent.text
        ref = re.search(r"ref=(SOL-\w+)", sent.headers["location"]).group(1)
        wait_for(lambda: w.api(0, "GET", f"/api/v1/cases?reference={ref}")[1].get("cases"), PIPELINE_S, 0.2,
                 "the form's case on worker 0")
    finally:
        browser.http.close()


@check("/report/sent")
def report_sent(w, request):
    ref = request.getfixturevalue("case")["reference"]
    for i in (0, 1):
        page = httpx.get(f"{w.workers.url(i)}/report/sent?ref={ref}", timeout=30)
        assert page.status_code == 200 and ref in page.text, i


@check("/api/v1/reports/{reference}/status")
def report_status_api(w, request):
    case = request.getfixturevalue("case")
    for i in (0, 1):  # submitted on worker 0; either worker answers its reporter, and only its reporter
        status, body = w.workers.http(i).request("GET", f"/api/v1/reports/{case['reference']}/status",
                                                 token=w.tokens["reporter"])
        assert status == 200 and body["status"] in ("received", "verified", "action"), (i, status, body)


@check("/report/status")
def report_status_page(w, request):
    ref = request.getfixturevalue("case")["reference"]
    browser = Browser(w.workers)
    try:
        page = browser.get(0, f"/report/status?ref={ref}")
        assert page.status_code == 200 and ref in page.text
        # The form came from worker 0; the post reaches worker 1.
        answer = browser.http.post(w.workers.url(1) + "/report/status", data={
            "reference": ref, "token": w.tokens["reporter"], "csrf": CSRF.search(page.text).group(1)})
        assert answer.status_code == 200 and 'id="report-status"' in answer.text, answer.text[:500]
        assert 'data-state="unknown"' not in answer.text
    finally:
        browser.http.close()


@check("/api/v1/oncall")
def oncall_now(w, request):
    seen = [w.api(i, "GET", "/api/v1/oncall") for i in (0, 1)]
    assert [s for s, _ in seen] == [200, 200]
    on_call = [{s["id"]: [m["member_id"] for m in s["on_call"]] for s in body["schedules"]} for _, body in seen]
    oncall = sorted(m["member_id"] for m in ROWS if "secretariat_oncall" in m["roles"])
    assert on_call[0] == on_call[1] and on_call[0]["primary"] == oncall, on_call


@check("/static/ui/{name}")
def static(w, request):
    page = httpx.get(w.workers.url(0) + "/report", timeout=30).text
    assets = re.findall(r'(?:href|src)="(/static/ui/[^"]+)"', page)
    assert assets
    for asset in assets:
        bodies = [httpx.get(w.workers.url(i) + asset, timeout=30) for i in (0, 1)]
        assert [b.status_code for b in bodies] == [200, 200] and bodies[0].content == bodies[1].content, asset


@check("/dashboard/login", "/dashboard")
def login_anywhere(w, request):
    browser = Browser(w.workers).login(0, w.tokens["secretariat"])
    try:
        # The session opened on worker 0 is a session on worker 1.
        page = browser.get(1, "/dashboard")
        assert page.status_code == 200, (page.status_code, page.headers.get("location"))
        assert browser.get(1, "/dashboard/login").status_code == 200
    finally:
        browser.http.close()


@check("/dashboard/logout")
def logout_everywhere(w, request):
    browser = Browser(w.workers).login(1, w.tokens["secretariat"])
    try:
        assert browser.get(0, "/dashboard").status_code == 200, "the session from worker 1 on worker 0"
        assert browser.post(0, "/dashboard/logout", {}).status_code == 303
        for i in (0, 1):
            assert browser.get(i, "/dashboard").status_code == 303, f"still logged in on worker {i}"
    finally:
        browser.http.close()


@check("/dashboard/events")
def live_events(w, request):
    desk: Browser = request.getfixturevalue("desk")
    lines: list[str] = []
    opened = threading.Event()

    def listen():
        timeout = httpx.Timeout(30, read=15)
        with desk.http.stream("GET", w.workers.url(1) + "/dashboard/events", timeout=timeout) as events:
            lines.append(f"status {events.status_code}")
            opened.set()
            if events.status_code != 200:
                return
            deadline = time.monotonic() + PIPELINE_S + 10
            for line in events.iter_lines():
                lines.append(line)
                if time.monotonic() > deadline or any(marker in line for marker in made):
                    return

    made: list[str] = []
    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert opened.wait(30) and lines[0] == "status 200", lines
    time.sleep(0.5)
    receipt = w.submit(0, named(unique_name(), incident_type="surveillance", country="br"))
    made.append(receipt["case_id"])
    wait_for(lambda: any(receipt["case_id"] in line for line in lines), PIPELINE_S, 0.2,
             "worker 1's live stream to show the case made via worker 0")


@check("/dashboard/system", "/dashboard/system/replay")
def system(w, request):
    desk: Browser = request.getfixturevalue("desk")
    tag = unique_name("Replay").split()[1]
    status, _ = w.api(0, "POST", "/api/v1/reports", {**named("x"), tag: True}, role="reporter")
    assert status == 422

    def letter_id(i):
        page = desk.get(i, "/dashboard/system")
        assert page.status_code == 200, (i, page.status_code)
        row = next((r for r in page.text.split("<tr>") if tag in r), None)
        return row and re.search(r'name="id" value="([^"]+)"', row).group(1)

    letter = wait_for(lambda: letter_id(1), PIPELINE_S, 0.5, "worker 0's dead letter on worker 1's system page")
    assert letter_id(0) == letter
    replayed = desk.post(1, "/dashboard/system/replay", {"id": letter})
    assert replayed.status_code == 422 and "Still refused" in replayed.text, replayed.status_code


@check("/dashboard/audit")
def audit_page(w, request):
    desk: Browser = request.getfixturevalue("desk")
    receipt = w.submit(1, named(unique_name(), incident_type="surveillance", country="pe"))
    w.case_on(0, receipt["case_id"])
    assert w.api(1, "GET", f"/api/v1/cases/{receipt['case_id']}")[0] == 200

    def reads(i):
        page = desk.get(i, "/dashboard/audit", params={"case": receipt["case_id"]})
        return page if page.status_code == 200 and page.text.count("case.read") >= 2 else None

    # One chain, whichever worker took the action and whichever worker writes the chain.
    for i in (0, 1):
        page = wait_for(lambda: reads(i), PIPELINE_S, 0.5, f"reads through both workers on worker {i}'s audit page")
        assert "Chain intact" in page.text, i
    assert w.workers.cli("audit", "verify").stdout.startswith("audit chain intact")


@check("/dashboard/cases/{case_id}")
def case_page(w, request):
    desk, case = request.getfixturevalue("desk"), request.getfixturevalue("case")
    for i in (0, 1):
        page = desk.get(i, f"/dashboard/cases/{case['case_id']}")
        assert page.status_code == 200 and case["reference"] in page.text, (i, page.status_code)


@check("/dashboard/cases/{case_id}/do/{verb}")
def case_buttons(w, request):
    desk: Browser = request.getfixturevalue("desk")
    receipt = w.submit(1, named(unique_name(), incident_type="travel_ban", country="ec"))
    w.case_on(0, receipt["case_id"])
    # Logged in (and handed the CSRF token) by worker 0, pressing the button on worker 1.
    answer = desk.post(1, f"/dashboard/cases/{receipt['case_id']}/do/verify", {"note": "by phone"})
    assert answer.status_code == 303, answer.status_code
    w.case_on(0, receipt["case_id"], lambda c: c["status"] == "verified", "the verification from the dashboard")


@check("/dashboard/cases/{case_id}/action", "/dashboard/actions/{action_id}")
def approve_in_dashboard(w, request):
    desk: Browser = request.getfixturevalue("desk")
    receipt = w.submit(0, named(unique_name(), incident_type="land_grab", country="ph"))
    w.case_on(1, receipt["case_id"])
    assert desk.post(0, f"/dashboard/cases/{receipt['case_id']}/do/verify", {}).status_code == 303
    w.case_on(1, receipt["case_id"], lambda c: c["status"] == "verified", "the verification")
    path = f"/dashboard/cases/{receipt['case_id']}/action"
    assert desk.get(1, path).status_code == 200
    # Nobody is in Iceland: an approval that sends nothing.
    approved = desk.post(1, path, {"kind": "sign_on_letter", "channels": "email", "countries": "IS"})
    assert approved.status_code == 303 and approved.headers["location"].startswith("/dashboard/actions/act_"), (
        approved.status_code, approved.headers.get("location"))
    for i in (0, 1):
        page = desk.get(i, approved.headers["location"])
        assert page.status_code == 200 and approved.headers["location"].rsplit("/", 1)[1] in page.text, i


@check("/dashboard/cases/{case_id}/audience.json")
def audience(w, request):
    desk, case = request.getfixturevalue("desk"), request.getfixturevalue("case")
    country = Counter(m["country"].upper() for m in SMS).most_common(1)[0][0]
    want = {"sms": sum(1 for m in SMS if m["country"].upper() == country),
            "email": sum(1 for m in EMAIL if m["country"].upper() == country)}
    query = f"?countries={country}&channels=sms&channels=email"
    for i in (0, 1):
        answer = desk.get(i, f"/dashboard/cases/{case['case_id']}/audience.json{query}")
        assert answer.status_code == 200 and answer.json()["recipients"] == want, (i, answer.text[:300])


@check("/dashboard/actions/{action_id}/progress.json")
def progress_json(w, request):
    desk, act = request.getfixturevalue("desk"), request.getfixturevalue("action")
    for i in (0, 1):
        body = desk.get(i, f"/dashboard/actions/{act['action_id']}/progress.json").json()
        assert body["found"] and body["finished"] and body["percent"] == 100, (i, body)
        assert body["counts"]["delivered"] == len(SMS) + len(EMAIL), (i, body["counts"])


@check("/dashboard/actions/{action_id}/signatories.csv")
def dashboard_signatories(w, request):
    desk, act, signed = (request.getfixturevalue(n) for n in ("desk", "action", "signers"))
    want = {m["member_id"] for m in signed}
    for i in (0, 1):
        def listed():
            answer = desk.get(i, f"/dashboard/actions/{act['action_id']}/signatories.csv")
            return answer.status_code == 200 and {r["member_id"] for r in csv.DictReader(io.StringIO(answer.text))} == want
        wait_for(listed, PIPELINE_S, 0.3, f"both signatories in worker {i}'s dashboard CSV")


@check("/webhooks/twilio/sms")
def inbound_sms(w, request):
    act, signed = request.getfixturevalue("action"), request.getfixturevalue("signers")
    # One reply went to worker 0 (the sandbox), one straight to worker 1: both count, on both workers.
    for i in (0, 1):
        wait_for(lambda: w.api(i, "GET", f"/api/v1/actions/{act['action_id']}")[1]["counts"]["signed"] == len(signed),
                 PIPELINE_S, 0.3, f"both signatures counted by worker {i}")
    forged = httpx.post(w.workers.url(1) + "/webhooks/twilio/sms", content="From=%2B15005550006&Body=STOP",
                        headers={"Content-Type": "application/x-www-form-urlencoded", SIGNATURE_HEADER: "Zm9yZ2Vk"})
    assert forged.status_code == 403


@check("/webhooks/twilio/status")
def status_receipts(w, request):
    act = request.getfixturevalue("action")
    sms = next(m for m in w.sandbox.all_sms() if act["reference"] in m["body"])
    params = {"AccountSid": "AC" + "0" * 32, "MessageSid": sms["sid"], "MessageStatus": "delivered",
              "SmsSid": sms["sid"], "SmsStatus": "delivered", "From": FROM, "To": sms["to"]}
    # Twilio repeats a receipt to whichever worker; a repeat changes nothing, and a forged one is refused.
    for i in (0, 1):
        assert signed_post(w, i, "/webhooks/twilio/status", params).status_code == 204, i
        forged = httpx.post(w.workers.url(i) + "/webhooks/twilio/status", content=urlencode(params), timeout=30,
                            headers={"Content-Type": "application/x-www-form-urlencoded", SIGNATURE_HEADER: "Zm9yZ2Vk"})
        assert forged.status_code == 403, i
    counts = [w.api(i, "GET", f"/api/v1/actions/{act['action_id']}")[1]["counts"] for i in (0, 1)]
    assert counts[0]["delivered"] == counts[1]["delivered"] == len(SMS) + len(EMAIL), counts


# --- referrals, letters, reports back and members' links (issue 15) ----------------------------------------------

def link_for(w: World, purpose: Purpose, member_id: str, action_id: str | None = None) -> str:
    """A member link signed with the workers' own key (derived from the key ring, like theirs)."""
    secret = w.workers[0].sealer().blind("links", "member-links-v1")
    return LinkSigner(secret).issue(purpose, member_id, action_id)


def pdf_of(response: httpx.Response) -> str:
    assert response.status_code == 200 and response.content.startswith(b"%PDF"), response.status_code
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)


@pytest.fixture(scope="module")
def referral(world) -> dict:
    """A case with consent 'mechanisms' submitted on worker 0, referred by email through worker 1."""
    receipt = world.submit(0, named(unique_name(), incident_type="arbitrary_detention", country="mx",
                                    consent="mechanisms"))
    case = world.case_on(1, receipt["case_id"], lambda c: "un-wgad" in c["mechanisms"], "the mechanisms")
    status, made = world.api(1, "POST", f"/api/v1/cases/{case['case_id']}/referrals", {"mechanism": "un-wgad"})
    assert status == 201 and made["status"] == "sent", made
    return {**made, "case_id": case["case_id"], "reference": case["reference"]}


def letter_action(w: World, worker: int, kind: str = "sign_on_letter") -> dict:
    """A verified case and an action with a letter to a target (audience: nobody, Iceland), via `worker`."""
    receipt = w.submit(worker, named(unique_name(), incident_type="judicial_harassment", country="gt"))
    w.case_on(1 - worker, receipt["case_id"])
    assert w.api(worker, "POST", f"/api/v1/cases/{receipt['case_id']}/verify", {})[0] == 202
    w.case_on(1 - worker, receipt["case_id"], lambda c: c["status"] == "verified", "the verification")
    target = f"target-{uuid.uuid4().hex[:8]}@example.org"
    body = {"kind": kind, "channels": ["email"], "audience": {"countries": ["IS"]}}
    if kind != "decentralized_action":
        body |= {"letter": {"es": "Las organizaciones firmantes pedimos garantías para las personas defensoras."},
                 "target": {"name": "Fiscalía", "email": target, "language": "es"}}
    status, made = w.api(worker, "POST", f"/api/v1/cases/{receipt['case_id']}/actions", body)
    assert status == 202, made
    wait_for(lambda: w.api(1 - worker, "GET", f"/api/v1/actions/{made['action_id']}")[0] == 200, PIPELINE_S, 0.2,
             "the action on the other worker")
    return {"action_id": made["action_id"], "case_id": receipt["case_id"], "reference": receipt["reference"],
            "target": target}


@pytest.fixture(scope="module")
def letter(world) -> dict:
    return letter_action(world, 0)


PASSED: set[str] = set()


def once(fn):
    """A check of several routes that makes its own data: it runs for the first of them; the others pass when it
    has passed (and run it again when it has not)."""
    @functools.wraps(fn)
    def run(w, request):
        if fn.__name__ not in PASSED:
            fn(w, request)
            PASSED.add(fn.__name__)
    return run


def plain_member() -> dict:
    return next(m for m in ROWS if "member" in m["roles"] and m["email"] and m["phone"]
                and "secretariat_oncall" not in m["roles"])


@check("/api/v1/cases/{case_id}/referrals")
def api_referrals(w, request):
    ref = request.getfixturevalue("referral")
    mails = [m for m in w.sandbox.mail_to("urgent-action@un-wgad.example.org") if ref["reference"] in m["subject"]]
    assert len(mails) == 1 and mails[0]["attachments"][0]["content_type"] == "application/pdf", mails
    for i in (0, 1):
        wait_for(lambda: [r for r in w.api(i, "GET", f"/api/v1/cases/{ref['case_id']}/referrals")[1]["referrals"]
                          if r["referral_id"] == ref["referral_id"] and r["status"] == "sent"], PIPELINE_S, 0.2,
                 f"the sent referral on worker {i}")


@check("/api/v1/cases/{case_id}/referrals/{referral_id}")
def api_one_referral(w, request):
    ref = request.getfixturevalue("referral")
    path = f"/api/v1/cases/{ref['case_id']}/referrals/{ref['referral_id']}"
    wait_for(lambda: w.api(0, "GET", path)[0] == 200, PIPELINE_S, 0.2, "the referral on worker 0")
    assert w.api(0, "POST", path, {"status": "acknowledged", "note": "acuse"})[0] == 200
    wait_for(lambda: w.api(1, "GET", path)[1].get("status") == "acknowledged", PIPELINE_S, 0.2,
             "the acknowledgement on worker 1")
    # The acknowledgement is what both serve: going back to "sent" is refused on either.
    assert w.api(1, "POST", path, {"status": "sent"})[0] == 409


@check("/api/v1/cases/{case_id}/referrals/{referral_id}/packet.pdf")
def api_packet(w, request):
    ref = request.getfixturevalue("referral")
    path = f"/api/v1/cases/{ref['case_id']}/referrals/{ref['referral_id']}/packet.pdf"
    for i in (0, 1):
        response = wait_for(lambda: (r := httpx.get(w.workers.url(i) + path, timeout=30, headers={
            "Authorization": f"Bearer {w.tokens['secretariat']}"})).status_code == 200 and r, PIPELINE_S, 0.3,
            f"the packet on worker {i}")
        assert ref["reference"] in pdf_of(response)


@check("/api/v1/referrals/due")
def api_due(w, request):
    ref = request.getfixturevalue("referral")
    answers = [w.api(i, "GET", "/api/v1/referrals/due") for i in (0, 1)]
    assert [a[0] for a in answers] == [200, 200] and answers[0][1] == answers[1][1], answers
    # Sent today with 60 days to answer: not due yet, on either worker.
    assert ref["referral_id"] not in {r["referral_id"] for r in answers[0][1]["due"]}


@check("/api/v1/actions/{action_id}/letter.pdf")
def api_letter_pdf(w, request):
    act = request.getfixturevalue("letter")
    for i in (0, 1):
        response = httpx.get(f"{w.workers.url(i)}/api/v1/actions/{act['action_id']}/letter.pdf", timeout=30,
                             headers={"Authorization": f"Bearer {w.tokens['secretariat']}"})
        assert "Fiscalía" in pdf_of(response), i


@check("/api/v1/actions/{action_id}/letter/send")
def api_letter_send(w, request):
    act = letter_action(w, 1, "petition")
    assert w.api(1, "POST", f"/api/v1/actions/{act['action_id']}/letter/send", {})[0] == 200
    wait_for(lambda: w.api(0, "GET", f"/api/v1/actions/{act['action_id']}/responses")[1]["letter_sent"],
             PIPELINE_S, 0.2, "the record of the letter on worker 0")
    assert w.api(0, "POST", f"/api/v1/actions/{act['action_id']}/letter/send", {})[0] == 409
    assert len(w.sandbox.mail_to(act["target"])) == 1


@check("/act/sign/{token}", "/api/v1/actions/{action_id}/responses")
@once
def sign_by_link(w, request):
    act, member = letter_action(w, 1), plain_member()
    path = f"/act/sign/{link_for(w, Purpose.sign, member['member_id'], act['action_id'])}"
    page = httpx.get(w.workers.url(0) + path, timeout=30)
    assert page.status_code == 200 and 'id="sign"' in page.text, page.status_code
    assert httpx.post(w.workers.url(1) + path, timeout=30).status_code == 200
    # Used on worker 1, refused on worker 0: one signature.
    wait_for(lambda: httpx.post(w.workers.url(0) + path, timeout=30).status_code == 409, PIPELINE_S, 0.3,
             "the used link refused on worker 0")
    for i in (0, 1):
        tally = w.api(i, "GET", f"/api/v1/actions/{act['action_id']}/responses")[1]
        assert tally["signatures"] == 1 and tally["by_country"] == {member["country"].upper(): {"signatures": 1}}, (
            i, tally)


@check("/act/report/{token}", "/api/v1/actions/{action_id}/reports.csv")
@once
def report_by_link(w, request):
    act, member = letter_action(w, 0, "decentralized_action"), plain_member()
    path = f"/act/report/{link_for(w, Purpose.report, member['member_id'], act['action_id'])}"
    answer = httpx.post(w.workers.url(1) + path, data={"what": "carta a la embajada", "where": "Berlín"}, timeout=30)
    assert answer.status_code == 200 and 'id="reported"' in answer.text, answer.status_code
    assert httpx.post(w.workers.url(0) + path, data={"what": "otra vez"}, timeout=30).status_code == 409
    for i in (0, 1):
        status, text = w.api(i, "GET", f"/api/v1/actions/{act['action_id']}/reports.csv")
        assert status == 200 and "carta a la embajada" in text and text.count("\n") == 2, (i, text)


@check("/member/{token}")
def manage_by_link(w, request):
    member = plain_member()
    path = f"/member/{link_for(w, Purpose.manage, member['member_id'])}"
    current = w.api(0, "GET", f"/api/v1/members/{member['member_id']}")[1]  # another check renames it
    page = httpx.get(w.workers.url(0) + path, timeout=30)
    assert page.status_code == 200 and current["organization"] in page.text
    groups = f"wg-{uuid.uuid4().hex[:6]}"
    saved = httpx.post(w.workers.url(1) + path, timeout=30, data={
        "contact_name": member["contact_name"], "language": member["language"], "channels": ["sms", "email"],
        "working_groups": groups})
    assert saved.status_code == 200 and 'id="saved"' in saved.text
    status, got = w.api(0, "GET", f"/api/v1/members/{member['member_id']}")  # read your writes on the other worker
    assert status == 200 and got["working_groups"] == [groups], got


@check("/dashboard/cases/{case_id}/referrals", "/dashboard/cases/{case_id}/referrals/{referral_id}",
       "/dashboard/cases/{case_id}/referrals/{referral_id}/packet.pdf")
@once
def dashboard_referrals(w, request):
    desk: Browser = request.getfixturevalue("desk")
    receipt = w.submit(1, named(unique_name(), incident_type="arbitrary_detention", country="co", consent="mechanisms"))
    w.case_on(0, receipt["case_id"], lambda c: "un-wgad" in c["mechanisms"], "the mechanisms")
    drafted = desk.post(0, f"/dashboard/cases/{receipt['case_id']}/referrals", {"mechanism": "un-wgad",
                                                                                  "send": "download"})
    assert drafted.status_code == 303, drafted.status_code
    case = w.case_on(1, receipt["case_id"], lambda c: any(e["kind"] == "referral_drafted" for e in c["history"]),
                     "the drafted referral")
    rid = next(e["data"]["referral_id"] for e in case["history"] if e["kind"] == "referral_drafted")
    page = desk.get(1, f"/dashboard/cases/{receipt['case_id']}")
    assert f'id="referral-{rid}"' in page.text
    pdf = desk.get(1, f"/dashboard/cases/{receipt['case_id']}/referrals/{rid}/packet.pdf")
    assert receipt["reference"] in pdf_of(pdf)
    marked = desk.post(1, f"/dashboard/cases/{receipt['case_id']}/referrals/{rid}", {"status": "sent"})
    assert marked.status_code == 303
    w.case_on(0, receipt["case_id"], lambda c: any(e["kind"] == "referral_sent" for e in c["history"]),
              "the referral marked as submitted")


@check("/dashboard/actions/{action_id}/letter.pdf", "/dashboard/actions/{action_id}/letter/send",
       "/dashboard/actions/{action_id}/reports.csv")
@once
def dashboard_letter(w, request):
    desk: Browser = request.getfixturevalue("desk")
    act = letter_action(w, 1)
    assert "Fiscalía" in pdf_of(desk.get(0, f"/dashboard/actions/{act['action_id']}/letter.pdf"))
    sent = desk.post(0, f"/dashboard/actions/{act['action_id']}/letter/send", {})
    assert sent.status_code == 303, sent.status_code
    page = wait_for(lambda: 'id="letter-sent"' in (p := desk.get(1, f"/dashboard/actions/{act['action_id']}")).text
                    and p, PIPELINE_S, 0.3, "the sent letter on worker 1's action page")
    assert 'id="letter-send"' not in page.text
    assert len(w.sandbox.mail_to(act["target"])) == 1
    for i in (0, 1):
        assert desk.get(i, f"/dashboard/actions/{act['action_id']}/reports.csv").status_code == 200



def test_every_route_of_the_inventory_has_a_check():
    assert sorted(set(ROUTES) - set(CHECKS)) == [], "routes without a two-worker check"
    assert sorted(set(CHECKS) - set(ROUTES)) == [], "checks of routes the inventory no longer has"


@pytest.mark.parametrize("route", list(ROUTES))
def test_route_answers_right_on_both_workers(world, request, route):
    if route not in CHECKS:
        pytest.fail(f"{route} has no two-worker check", pytrace=False)
    CHECKS[route](world, request)
