"""The audit trail with a real worker: secretariat actions become entries naming the token id (never a name);
`solidarity audit verify` passes on the untouched log and, after someone produces a forged entry straight to
audit.log.v1, exits non-zero naming that entry's offset; the dashboard's audit page says the same."""

from __future__ import annotations

import json
import re
import secrets

import httpx
import pytest

from streams import topics
from streams.admin import producer
from testing.samples import named, unique_name
from testing.stack import wait_case, wait_for

pytestmark = pytest.mark.kafka

DESK = "desk-of-the-audit-test"


def entries(stack, *args: str) -> list[dict]:
    """`solidarity audit show --json ARGS` as a list of {offset, entry, problem}."""
    out = stack.cli("audit", "show", "--json", *args).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def desk(stack) -> dict:
    """A secretariat token and its id (as `tokens list` prints it)."""
    token = stack.token("secretariat", DESK)
    [line] = [row for row in stack.cli("tokens", "list").stdout.splitlines() if row.endswith(DESK)]
    return {"token": token, "id": line.split()[0]}


@pytest.fixture(scope="module")
def verified_case(stack, desk, reporter_token) -> dict:
    """A case the desk has read and verified over the API, with its defender's name."""
    name = unique_name("Auditada")
    status, receipt = stack.http.request("POST", "/api/v1/reports", named(name), token=reporter_token)
    assert status == 202, receipt
    case = wait_case(stack, desk["token"], receipt["case_id"])
    status, body = stack.http.request("POST", f"/api/v1/cases/{case['case_id']}/verify",
                                      {"note": f"called {name}'s family"}, token=desk["token"])
    assert status == 202, body
    return {"case_id": case["case_id"], "name": name}


def test_actions_are_entries_naming_the_token_id_and_no_one(stack, desk, verified_case):
    case_id = verified_case["case_id"]
    rows = wait_for(lambda: (lambda r: r if any(e["entry"]["action"] == "case.verify" for e in r) else None)(
        entries(stack, "--case", case_id)), 60, 1.0, "the verification in the audit trail")
    actions = {e["entry"]["action"] for e in rows}
    assert {"case.read", "case.verify"} <= actions
    assert {e["entry"]["actor"] for e in rows} == {desk["id"]}
    verify = next(e["entry"] for e in rows if e["entry"]["action"] == "case.verify")
    assert verify["detail"]["status"] == "verified" and verify["detail"]["status_before"] == "new"
    created = [e["entry"] for e in entries(stack) if e["entry"]["action"] == "token.create"]
    assert any(e["subject"] == desk["id"] and e["actor"] == "cli" for e in created)
    # No names on the log: not the token's, not the defender's, not the note's text.
    raw = b"".join(value for _key, value in stack.read_topic(topics.AUDIT))
    for text in (DESK, verified_case["name"], "family"):
        assert text.encode() not in raw, text


def test_verify_passes_untouched_then_names_a_forged_entry(stack, desk, verified_case):
    wait_for(lambda: any(e["entry"]["action"] == "case.verify" for e in entries(stack, "--case", verified_case["case_id"])),
             60, 1.0, "the verification in the audit trail")
    result = stack.cli("audit", "verify")
    assert result.returncode == 0 and re.match(r"audit chain intact: \d+ entries", result.stdout), result.stdout

    # Someone who may produce to the topic, but has no audit key, appends an entry that looks right.
    head = entries(stack)[-1]["entry"]
    forged = {**head, "seq": head["seq"] + 1, "prev": head["mac"], "action": "case.dismiss",
              "request_id": f"aud_{secrets.token_hex(12)}", "mac": secrets.token_hex(32)}
    prod = producer(stack.settings())
    meta = prod.send(topics.full_name(topics.AUDIT, stack.env["SOLIDARITY_TOPIC_PREFIX"]),
                     value=json.dumps(forged).encode()).get(timeout=30)
    prod.close()

    result = stack.cli("audit", "verify", check=False)
    assert result.returncode == 1
    assert f"offset {meta.offset} (seq {forged['seq']}): inserted" in result.stdout, result.stdout

    # A restarted writer reads the head back from the log and goes on from the genuine head, not the forgery: the
    # next action is a genuine entry, and the forgery stays named.
    stack.restart()
    stack.wait_token(desk["token"], "secretariat")
    assert stack.http.request("GET", f"/api/v1/cases/{verified_case['case_id']}", token=desk["token"])[0] == 200
    wait_for(lambda: entries(stack)[-1]["offset"] > meta.offset, 60, 1.0, "an entry after the forged one")
    after = entries(stack)
    assert after[-1]["problem"] is None
    # Had the writer chained onto the forgery, the forgery would now read as an altered genuine entry.
    assert [(e["offset"], e["problem"]) for e in after if e["problem"]] == [(meta.offset, "inserted")]
    result = stack.cli("audit", "verify", check=False)
    assert result.returncode == 1 and f"offset {meta.offset} (seq {forged['seq']}): inserted" in result.stdout


def test_the_dashboard_audit_page(stack, desk, verified_case):
    with httpx.Client(base_url=stack.http.base_url, follow_redirects=False, timeout=30) as client:
        assert client.get("/dashboard/audit").status_code == 303  # no session: to the login page
        login = client.get("/dashboard/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', login.text).group(1)
        guess = "sol_sec_" + secrets.token_urlsafe(32)
        assert client.post("/dashboard/login", data={"csrf": csrf, "token": guess}).status_code == 401
        assert client.post("/dashboard/login", data={"csrf": csrf, "token": desk["token"]}).status_code == 303
        # Reading the call-to-action form reads the case (its prefilled texts come from it).
        assert client.get(f"/dashboard/cases/{verified_case['case_id']}/action").status_code == 200
        page = wait_for(lambda: (lambda p: p if "session.login" in p.text else None)(client.get("/dashboard/audit")),
                        60, 1.0, "the login on the audit page")
        table = page.text[page.text.index('<table class="audit"'):]
        assert desk["id"] in table and DESK not in table
        one = client.get("/dashboard/audit", params={"case": verified_case["case_id"]})
        assert "case.verify" in one.text and "session.login" not in one.text
        assert verified_case["name"] not in one.text
    refused = wait_for(lambda: [e["entry"] for e in entries(stack) if e["entry"]["action"] == "session.login_refused"],
                       60, 1.0, "the refused login in the audit trail")
    assert refused[-1]["actor"] == "system" and refused[-1]["detail"] == {"reason": "unknown_token"}
    assert guess not in json.dumps(refused), "what was typed is never recorded"
    reads = wait_for(lambda: [e["entry"] for e in entries(stack, "--case", verified_case["case_id"])
                              if e["entry"]["detail"].get("via") == "action_form"], 60, 1.0, "the form's read")
    assert reads[-1]["action"] == "case.read" and reads[-1]["actor"] == desk["id"]
    # The page's verdict is the command's.
    verdict = stack.cli("audit", "verify", check=False)
    if verdict.returncode == 0:
        assert "Chain intact" in page.text
    else:
        offset = re.search(r"at offset (\d+)", verdict.stdout).group(1)
        assert re.search(rf"Chain broken</strong> at offset {offset} ", page.text), page.text
