"""Attacks a stranger (or a page in another tab) can make over HTTP, against a real worker: dashboard form posts
without their CSRF token, path traversal on the static files, oversized and deeply nested JSON, header
injection through a download name; and header injection in the emails we build."""

from __future__ import annotations

import email
import email.policy
import http.client
import re
import secrets
from pathlib import Path

import httpx
import pytest

from notifiers.errors import InvalidRecipient
from notifiers.smtp_email import SmtpEmailNotifier
from streams.web.ui.render import STATIC
from testing.samples import named, unique_name
from testing.stack import ROOT, wait_case, wait_for

pytestmark = pytest.mark.kafka

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
MIB = 1024 * 1024


# --- helpers ---------------------------------------------------------------------------------------------------

class Desk:
    """A secretariat user's browser session, driven with httpx: the session cookie and the page's CSRF token."""

    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
        login = self.http.get("/dashboard/login")
        answer = self.http.post("/dashboard/login", data={"csrf": CSRF.search(login.text).group(1), "token": token})
        assert answer.status_code == 303, answer.text
        self.csrf = CSRF.search(self.http.get("/dashboard").text).group(1)

    def post(self, path: str, data: dict, csrf: str | None) -> httpx.Response:
        """A form post carrying `csrf` (None: no csrf field at all)."""
        return self.http.post(path, data={**data, **({} if csrf is None else {"csrf": csrf})})

    def logged_in(self) -> bool:
        """Whether the dashboard still opens for this session."""
        return self.http.get("/dashboard").status_code == 200


def raw_get(port: int, target: str, headers: dict | None = None) -> tuple[int, bytes, list[tuple[str, str]]]:
    """GET with the request target sent byte for byte (httpx would normalise '..' and encodings away)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", target, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.getheaders()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def desk(stack, secretariat_token):
    d = Desk(stack.http.base_url, secretariat_token)
    yield d
    d.http.close()


@pytest.fixture(scope="module")
def other_desk(stack):
    d = Desk(stack.http.base_url, stack.token("secretariat", "other-desk"))
    yield d
    d.http.close()


def new_case(stack, reporter_token, secretariat_token) -> dict:
    """A new high-urgency case, once its first page is in its history (the page is the system's, not a button's)."""
    status, receipt = stack.http.request("POST", "/api/v1/reports", named(unique_name("Csrf")), token=reporter_token)
    assert status == 202, receipt
    return wait_case(stack, secretariat_token, receipt["case_id"],
                     lambda c: any(e["kind"] == "paged" for e in c["history"]))


def case_now(stack, secretariat_token, case_id: str) -> dict:
    status, case = stack.http.request("GET", f"/api/v1/cases/{case_id}", token=secretariat_token)
    assert status == 200
    return case


# --- CSRF: every dashboard POST needs the session's own token ---------------------------------------------------

VERB_FIELDS = {
    "verify": {"note": "confirmed by phone"},
    "escalate": {"urgency": "critical", "reason": "armed men at the door"},
    "consent": {"consent": "public", "note": "the family agreed by phone"},
    "close": {"outcome": "released on bail"},
    "dismiss": {"reason": "duplicate of another report"},
}


def forged_tokens(other_desk) -> dict[str, str | None]:
    return {"missing": None, "empty": "", "random": secrets.token_urlsafe(32), "another session's": other_desk.csrf}


@pytest.mark.parametrize("verb", list(VERB_FIELDS))
def test_case_buttons_without_the_csrf_token_change_nothing(stack, reporter_token, secretariat_token, desk,
                                                             other_desk, verb):
    case = new_case(stack, reporter_token, secretariat_token)
    if verb == "close":  # closing needs a verified case; dismissing does not
        assert desk.post(f"/dashboard/cases/{case['case_id']}/do/verify", {}, desk.csrf).status_code == 303
        case = wait_case(stack, secretariat_token, case["case_id"], lambda c: c["status"] == "verified")
    path = f"/dashboard/cases/{case['case_id']}/do/{verb}"
    for label, csrf in forged_tokens(other_desk).items():
        answer = desk.post(path, VERB_FIELDS[verb], csrf)
        assert answer.status_code == 403, (label, answer.status_code)
        assert "CSRF" in answer.text
    assert desk.http.get(path).status_code == 405  # a link or an <img> cannot press the button either
    after = case_now(stack, secretariat_token, case["case_id"])
    assert (after["status"], after["urgency"], after["consent"], len(after["history"])) == (
        case["status"], case["urgency"], case["consent"], len(case["history"]))
    # The same post with the page's token goes through: what was refused above was the token alone.
    assert desk.post(path, VERB_FIELDS[verb], desk.csrf).status_code == 303
    wait_case(stack, secretariat_token, case["case_id"], lambda c: len(c["history"]) > len(case["history"]))


def test_approving_a_call_to_action_needs_the_csrf_token(stack, reporter_token, secretariat_token, desk, other_desk):
    case = new_case(stack, reporter_token, secretariat_token)
    assert desk.post(f"/dashboard/cases/{case['case_id']}/do/verify", {}, desk.csrf).status_code == 303
    wait_case(stack, secretariat_token, case["case_id"], lambda c: c["status"] == "verified")
    path = f"/dashboard/cases/{case['case_id']}/action"
    form = {"kind": "sign_on_letter", "channels": "email", "countries": "IS"}
    for label, csrf in forged_tokens(other_desk).items():
        answer = desk.post(path, form, csrf)
        assert answer.status_code == 403, (label, answer.status_code)
    case_page = desk.http.get(f"/dashboard/cases/{case['case_id']}").text
    assert "/dashboard/actions/" not in case_page  # no call to action was approved
    approved = desk.post(path, form, desk.csrf)
    assert approved.status_code == 303 and approved.headers["location"].startswith("/dashboard/actions/act_")


def test_replaying_a_dead_letter_needs_the_csrf_token(stack, reporter_token, desk, other_desk):
    tag = unique_name("Replay").split()[1]
    status, _ = stack.http.request("POST", "/api/v1/reports", {**named("x"), tag: True}, token=reporter_token)
    assert status == 422

    def letter_id():
        page = desk.http.get("/dashboard/system").text
        row = next((r for r in page.split("<tr>") if tag in r), None)
        return row and re.search(r'name="id" value="([^"]+)"', row).group(1)

    letter = wait_for(letter_id, 30, 0.5, "the dead letter on the system page")
    for label, csrf in forged_tokens(other_desk).items():
        answer = desk.post("/dashboard/system/replay", {"id": letter}, csrf)
        assert answer.status_code == 403, (label, answer.status_code)
        assert "Still refused" not in answer.text and "Replayed" not in answer.text
    replayed = desk.post("/dashboard/system/replay", {"id": letter}, desk.csrf)
    assert replayed.status_code == 422 and "Still refused" in replayed.text


def test_logout_needs_the_csrf_token(stack):
    d = Desk(stack.http.base_url, stack.token("secretariat", "logout-desk"))
    try:
        for csrf in (None, "", secrets.token_urlsafe(32)):
            assert d.post("/dashboard/logout", {}, csrf).status_code == 403
            assert d.logged_in()
        assert d.post("/dashboard/logout", {}, d.csrf).status_code == 303
        assert not d.logged_in()
    finally:
        d.http.close()


def test_login_form_needs_its_csrf_cookie(stack, secretariat_token):
    with httpx.Client(base_url=stack.http.base_url, follow_redirects=False, timeout=30) as fresh:
        answer = fresh.post("/dashboard/login", data={"token": secretariat_token, "csrf": secrets.token_urlsafe(32)})
        assert answer.status_code == 403
        assert "sol_session" not in answer.headers.get("set-cookie", "")
        assert fresh.get("/dashboard").status_code == 303


# --- path traversal on /static/ui/ ------------------------------------------------------------------------------

TRAVERSALS = [
    "/static/ui/..%2f..%2fsettings.py", "/static/ui/..%2f..%2f..%2f..%2fpyproject.toml",
    "/static/ui/%2e%2e/%2e%2e/pyproject.toml", "/static/ui/%2e%2e%2f%2e%2e%2f%2e%2e%2f%2e%2e%2fpyproject.toml",
    "/static/ui/../../settings.py", "/static/ui/../../../../pyproject.toml", "/static/ui/....//",
    "/static/ui/....//....//....//....//pyproject.toml", "/static/ui/..%5c..%5csettings.py",
    "/static/ui/..\\..\\..\\..\\pyproject.toml", "/static/ui/%5c..%5c..%5c..%5c..%5cpyproject.toml",
    "/static/ui/%252e%252e%252f%252e%252e%252fpyproject.toml", "/static/ui/%c0%ae%c0%ae%c0%afpyproject.toml",
    "/static/ui//etc/passwd", "/static/ui/%2fetc%2fpasswd", "/static/ui/%2Fwork%2Fmain%2Fpyproject.toml",
    f"/static/ui/{'%2f'.join(ROOT.joinpath('pyproject.toml').parts[1:])}", "/static/ui/C:%5cWindows%5cwin.ini",
    "/static/ui/file:%2f%2f%2fetc%2fpasswd", "/static/ui/ui.css%00.py", "/static/ui/%00", "/static/ui/.",
    "/static/ui/..", "/static/ui/%2e", "/static/ui/%2e%2e", "/static/ui/ui.css/..%2f..%2f..%2fsettings.py",
    "/static/ui/~root", "/static/ui/.%2e/.%2e/pyproject.toml",
]
OUTSIDE = [ROOT / "pyproject.toml", ROOT / "streams" / "settings.py", ROOT / "streams" / "web" / "ui" / "render.py",
           Path("/etc/passwd")]


def test_static_files_never_leave_their_folder(stack):
    served = {p.read_bytes() for p in STATIC.iterdir() if p.is_file()}
    secrets_outside = [p.read_bytes()[:200] for p in OUTSIDE if p.exists()]
    for target in TRAVERSALS:
        status, body, _ = raw_get(stack.port, target)
        assert status < 500, (target, status)
        assert status != 200 or body in served, (target, body[:80])
        assert not any(head in body for head in secrets_outside), target
    # The control: a real asset is served.
    status, body, _ = raw_get(stack.port, "/static/ui/ui.css")
    assert status == 200 and body == (STATIC / "ui.css").read_bytes()


# --- oversized and deeply nested JSON ---------------------------------------------------------------------------

def json_endpoints(secretariat_token: str, reporter_token: str) -> list[tuple[str, str, str]]:
    return [("POST", "/api/v1/reports", reporter_token),
            ("POST", "/api/v1/cases/case_nope/verify", secretariat_token),
            ("POST", "/api/v1/cases/case_nope/actions", secretariat_token),
            ("POST", "/api/v1/members", secretariat_token),
            ("PATCH", "/api/v1/members/m_nope", secretariat_token)]


def nested(depth: int, kind: str) -> bytes:
    return (("[" * depth + "]" * depth) if kind == "list" else ('{"a":' * depth + "1" + "}" * depth)).encode()


BODIES = {
    "1 MiB": (b'{"description": "' + b"x" * MIB + b'"}', 413),
    "1 MiB, chunked": (None, 413),
    "100,000 nested lists": (nested(100_000, "list"), None),
    "100,000 nested objects": (nested(100_000, "dict"), None),
    # Under the 64 KiB limit, so they reach the JSON parser, which recurses once per level.
    "30,000 nested lists": (nested(30_000, "list"), 422),
    "10,000 nested objects": (nested(10_000, "dict"), 422),
    "5,000 nested lists in a field": (b'{"description": ' + nested(5_000, "list") + b"}", 422),
}


def chunks():
    for _ in range(16):
        yield b"x" * (64 * 1024)


@pytest.mark.parametrize("name", list(BODIES))
def test_huge_and_deep_json_is_refused_naming_the_body(stack, secretariat_token, reporter_token, name):
    body, expected = BODIES[name]
    with httpx.Client(base_url=stack.http.base_url, timeout=60) as client:
        for method, path, token in json_endpoints(secretariat_token, reporter_token):
            answer = client.request(method, path, content=body if body is not None else chunks(),
                                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            assert 400 <= answer.status_code < 500, (path, answer.status_code, answer.text[:200])
            if expected is not None:
                assert answer.status_code == expected, (path, answer.status_code)
            assert [e["field"] for e in answer.json()["errors"]] == ["body"], (path, answer.text[:200])
        assert client.get("/healthz").status_code == 200
        ok = client.post("/api/v1/reports", json=named(unique_name("After")),
                         headers={"Authorization": f"Bearer {reporter_token}"})
        assert ok.status_code == 202  # the worker still takes reports


def test_huge_dashboard_forms_are_refused(stack, desk):
    for path in ("/dashboard/login", "/dashboard/logout", "/dashboard/cases/case_nope/do/verify",
                 "/dashboard/system/replay"):
        answer = desk.http.post(path, data={"csrf": desk.csrf, "note": "x" * MIB})
        assert answer.status_code == 413, (path, answer.status_code)
    assert desk.logged_in()


def test_replaying_a_too_deep_dead_letter_says_why(stack, reporter_token, desk):
    deep = b'{"d": ' + nested(20_000, "list") + b"}"
    status, _ = stack.http.request("POST", "/api/v1/reports", raw=deep, token=reporter_token)
    assert status == 422

    def letter_ids():
        page = desk.http.get("/dashboard/system").text
        return "body is nested too deeply" in page and re.findall(r'name="id" value="([^"]+)"', page)

    # Every letter on the page is replayed (the refused deep bodies of the tests above among them): each one
    # tells the secretariat why it is still refused, instead of "temporarily unavailable" for ever.
    for letter in wait_for(letter_ids, 30, 0.5, "the dead letter on the system page"):
        answer = desk.post("/dashboard/system/replay", {"id": letter}, desk.csrf)
        assert answer.status_code == 422 and "Still refused" in answer.text, (letter, answer.status_code)


# --- header injection -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("route", ["/dashboard/actions/{}/signatories.csv",
                                   pytest.param("/api/v1/actions/{}/signatories.csv", id="api")])
@pytest.mark.parametrize("evil", [pytest.param("act_x%0d%0aSet-Cookie:%20owned=1%0d%0aX-Evil:%201", id="crlf"),
                                  pytest.param("act_x.html%22%3B%20x=%22", id="quote")])
def test_a_download_name_from_the_address_cannot_add_headers(stack, desk, secretariat_token, route, evil, request):
    if route.startswith("/dashboard"):
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in desk.http.cookies.items())}
    else:
        headers = {"Authorization": f"Bearer {secretariat_token}"}
    try:
        status, _, answer = raw_get(stack.port, route.format(evil), headers)
    except http.client.RemoteDisconnected:
        pytest.fail("the worker closed the connection without an answer")
    assert status < 500, status
    assert "x-evil" not in {k.lower() for k, _ in answer}
    assert not any("owned" in v for k, v in answer if k.lower() == "set-cookie")
    disposition = next((v for k, v in answer if k.lower() == "content-disposition"), "")
    assert disposition.count('"') in (0, 2), disposition  # one quoted filename, nothing after it


SENDER = "alerts@solidarity.example"
BAD_SUBJECTS = ["Hello\r\nBcc: evil@example.org", "Hello\nBcc: evil@example.org", "Hello\rBcc: evil@example.org",
                "\r\nBcc: evil@example.org", "Hello\r\n\r\nInjected body", "Urgente \u2028Bcc: evil@example.org",
                "Acción urgente\r\nBcc: evil@example.org", "x" * 200 + "\r\nBcc: evil@example.org"]
BAD_ADDRESSES = ["m@example.org\r\nBcc: evil@example.org", "m@example.org\nBcc: evil@example.org",
                 "m@example.org\rBcc: evil@example.org", "m@example.org\r\n\r\nInjected body",
                 "m@example.org\r\n Bcc: evil@example.org", "m@example.org\r\n", "mé@example.org\r\nBcc: evil@example.org"]


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


@pytest.mark.parametrize("to", ["m@example.org", "mé@exámple.org"])  # the quick (ASCII) and the full builder
@pytest.mark.parametrize("subject", BAD_SUBJECTS)
def test_a_line_break_in_a_subject_adds_no_header(subject, to):
    body = "Please sign the letter before Friday."
    _, raw = SmtpEmailNotifier(host="127.0.0.1", port=1, sender=SENDER).build(to, body, subject, key="k1")
    msg = parsed(raw)
    names = [k.lower() for k in msg.keys()]
    assert "bcc" not in names
    assert sorted(n for n in names if n in ("from", "to", "subject", "date", "message-id")) == [
        "date", "from", "message-id", "subject", "to"]
    assert len(msg.get_all("Subject")) == 1 and len(msg.get_all("To")) == 1
    assert msg.get_content().strip() == body
    assert msg["Subject"].split()[0] == subject.split()[0].strip()  # the person still sees the subject's words


@pytest.mark.parametrize("to", BAD_ADDRESSES)
def test_a_line_break_in_an_address_is_refused(to):
    notifier = SmtpEmailNotifier(host="127.0.0.1", port=1, sender=SENDER)
    with pytest.raises(InvalidRecipient):  # classified and never retried: the delivery agent dead-letters it
        notifier.build(to, "body", "Subject", key="k1")


async def test_sending_to_an_address_with_a_line_break_is_refused_before_connecting():
    notifier = SmtpEmailNotifier(host="127.0.0.1", port=1, sender=SENDER, timeout_seconds=1)
    with pytest.raises(InvalidRecipient):  # port 1 is closed: any connection attempt would be ProviderUnavailable
        await notifier.send("m@example.org\r\n\r\nInjected body", "body", "Subject", key="k1")
