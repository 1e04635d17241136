"""Crypto-shredding against the real broker: `solidarity cases shred` leaves a tombstone the API answers, and no
copy of the case on any topic or changelog opens with the keys a worker holds; `solidarity members shred` removes
a member; a dismissed case whose retention is over is shredded by the worker by itself."""

from __future__ import annotations

import json
import re
import uuid

import httpx
import pytest

from schemas.cases import CaseEvent, CaseSnapshot
from schemas.members import Member
from streams import crypto, topics
from testing.samples import named
from testing.stack import Stack, wait_case, wait_for

TAG = uuid.uuid4().hex[:10]
NAME = f"Defensora Shred{TAG}"
LOCALITY = f"Vereda Oculta{TAG}"
DESCRIPTION = f"Hombres armados quemaron la casa comunal de la vereda esta madrugada ({TAG}-relato)."
WORDS = (NAME, LOCALITY, DESCRIPTION, TAG)
DISMISSED_DAYS = 0.0001  # about 9 seconds


@pytest.fixture(scope="module")
def stack(kafka, tmp_path_factory):
    """A worker whose retention is tiny: a dismissed case expires seconds after its dismissal."""
    s = Stack(tmp_path_factory.mktemp("shred"), extra_env={
        "SOLIDARITY_RETENTION__DISMISSED_DAYS": str(DISMISSED_DAYS),
        "SOLIDARITY_RETENTION__CHECK_EVERY_SECONDS": "1"}).start()
    yield s
    s.stop()


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def submit(stack, token, body) -> dict:
    status, receipt = stack.http.request("POST", "/api/v1/reports", body, token=token)
    assert status == 202, receipt
    return receipt


def sealed_ids(value) -> set[str]:
    """The data key ids named by every sealed field of a JSON record."""
    if isinstance(value, dict):
        found = {value["$sealed"]} if "$sealed" in value else set()
        return found.union(*(sealed_ids(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(sealed_ids(v) for v in value))
    return set()


def changelog(stack, table: str) -> list[tuple[bytes | None, bytes | None]]:
    """Every record of one of the worker's table changelogs."""
    return stack.raw_records(f"{stack.env['SOLIDARITY_APP_ID']}-{table}-changelog")


def test_cli_shred_leaves_a_tombstone_and_no_copy_opens(stack, reporter_token, secretariat_token):
    body = named(NAME, incident_type="forced_eviction", country="co", locality=LOCALITY, description=DESCRIPTION)
    first = submit(stack, reporter_token, body)
    wait_case(stack, secretariat_token, first["case_id"])
    second = submit(stack, reporter_token, body)  # the same defender: merged, its proposed id an alias
    case_id = first["case_id"]
    case = wait_case(stack, secretariat_token, case_id, lambda c: len(c["reports"]) == 2, what="the merge")
    assert second["case_id"] != case_id and NAME in json.dumps(case)

    done = stack.cli("cases", "shred", second["case_id"], "--reason", "erasure request of the defender")
    assert f"shredded case {case_id}" in done.stdout

    # (a) The API answers the tombstone, by the case's id and by the merged report's.
    for asked in (case_id, second["case_id"]):
        status, tomb = stack.http.request("GET", f"/api/v1/cases/{asked}", token=secretariat_token)
        assert status == 200 and tomb["case_id"] == case_id
        assert tomb["shredded_at"] and tomb["shred_reason"] == "erasure request of the defender"
        assert tomb["reports"] == [] and tomb["report_count"] == 2
        assert (tomb["reference"], tomb["country"], tomb["urgency"]) == (case["reference"], "CO", case["urgency"])
        assert not any(word in json.dumps(tomb) for word in WORDS)
    status, listing = stack.http.request("GET", f"/api/v1/cases?reference={case['reference']}", token=secretariat_token)
    assert [(c["case_id"], c["reports"], bool(c["shredded_at"])) for c in listing["cases"]] == [(case_id, 2, True)]
    status, refused = stack.http.request("POST", f"/api/v1/cases/{case_id}/verify", {}, token=secretariat_token)
    assert status == 409 and "shredded" in refused["errors"][0]["message"]
    again = stack.cli("cases", "shred", case_id, "--reason", "asked twice")
    assert "already shredded" in again.stdout

    # (b) Every copy still holds its sealed fields, and none opens with the keys a worker reads.
    ids = {case_id, second["case_id"]}
    records = [(CaseEvent, v) for k, v in stack.read_topic(topics.CASE_EVENTS) if k and k.decode() in ids]
    records += [(CaseSnapshot, v) for k, v in stack.read_topic(topics.CASE_STATE) if k and k.decode() in ids and v]
    table = [v for k, v in changelog(stack, "cases") if v and case_id.encode() in (k or b"")]
    submitted = [v for _, v in stack.read_topic(topics.REPORTS_SUBMITTED) if v and any(i.encode() in v for i in ids)]
    assert len(submitted) == 2 and table and len(records) >= 4
    dek_ids = set().union(*(sealed_ids(json.loads(v)) for v in [v for _, v in records] + table + submitted))
    assert dek_ids, "the records still hold their sealed fields"
    for raw in [v for _, v in records] + table + submitted:
        assert not any(word.encode() in raw for word in WORDS), "nothing of the report in the clear"

    sealer = stack.sealer()  # a fresh reader of keys.data.v1 with the worker's key file
    assert all(sealer.keys.get(dek_id, wait=False) is None for dek_id in dek_ids)
    assert sealer.keys.is_shredded(f"case:{case_id}") and sealer.keys.is_shredded(f"case:{second['case_id']}")
    for model, raw in records:
        opened = sealer.loads(model, raw).model_dump_json()
        assert not any(word in opened for word in WORDS)
    opened_reports = [sealer.loads(CaseEvent, raw).report for model, raw in records if model is CaseEvent]
    assert [r.report.description for r in opened_reports if r] == [crypto.PLACEHOLDER] * 2


def test_members_shred_removes_the_member(stack, secretariat_token):
    member_id = f"shred-{TAG}"
    contact = f"Contacto Borrable{TAG}"
    status, _ = stack.http.request("POST", "/api/v1/members", {
        "member_id": member_id, "organization": "Red de Prueba", "contact_name": contact, "phone": "+573001239876",
        "country": "CO", "language": "es"}, token=secretariat_token)
    assert status == 201
    wait_for(lambda: stack.http.request("GET", f"/api/v1/members/{member_id}", token=secretariat_token)[0] == 200,
             30, 0.2, "the member")

    done = stack.cli("members", "shred", member_id)
    assert f"shredded member {member_id}" in done.stdout
    wait_for(lambda: stack.http.request("GET", f"/api/v1/members/{member_id}", token=secretariat_token)[0] == 404,
             30, 0.2, "the member to be gone")
    _, listing = stack.http.request("GET", "/api/v1/members", token=secretariat_token)
    assert member_id not in {m["member_id"] for m in listing["members"]}

    sealer = stack.sealer()
    kept = [v for k, v in stack.read_topic(topics.MEMBERS) if k == member_id.encode() and v]
    assert kept and not any(contact.encode() in v for v in kept)
    assert sealer.keys.is_shredded(f"member:{member_id}")
    assert all(sealer.keys.get(d, wait=False) is None for v in kept for d in sealed_ids(json.loads(v)))
    assert {sealer.loads(Member, v).contact_name for v in kept} == {crypto.PLACEHOLDER}
    assert stack.cli("members", "shred", "no-such-member", check=False).returncode == 1


def test_a_dismissed_case_is_shredded_by_itself_when_its_retention_is_over(stack, reporter_token, secretariat_token):
    name = f"Defensor Retenido{TAG}"
    receipt = submit(stack, reporter_token, named(name, incident_type="surveillance", country="ke"))
    case_id = receipt["case_id"]
    wait_case(stack, secretariat_token, case_id)
    status, _ = stack.http.request("POST", f"/api/v1/cases/{case_id}/dismiss", {"reason": "not a defender"},
                                   token=secretariat_token)
    assert status == 202
    dismissed = wait_case(stack, secretariat_token, case_id, lambda c: c["status"] == "dismissed")
    assert not dismissed["shredded_at"]

    tomb = wait_case(stack, secretariat_token, case_id, lambda c: bool(c["shredded_at"]), timeout=90,
                     what="the worker to shred the dismissed case")
    assert tomb["status"] == "dismissed" and tomb["reports"] == [] and tomb["outcome"] is None
    assert tomb["shred_reason"] == f"retention: dismissed {DISMISSED_DAYS:g} days"
    assert tomb["history"][-1]["kind"] == "shredded" and tomb["history"][-1]["actor"] == "system"
    assert name not in json.dumps(tomb)
    sealer = stack.sealer()
    wait_for(lambda: sealer.keys.is_shredded(f"case:{case_id}"), 30, 0.2, "the case's keys to be destroyed")


def test_the_dashboard_shreds_only_once_confirmed_and_then_shows_a_tombstone(stack, reporter_token,
                                                                            secretariat_token):
    name = f"Defensora Tablero{TAG}"
    case = wait_case(stack, secretariat_token, submit(stack, reporter_token, named(name))["case_id"])
    page_of = f"/dashboard/cases/{case['case_id']}"
    with httpx.Client(base_url=stack.http.base_url, follow_redirects=False, timeout=30) as client:
        login = client.get("/dashboard/login")
        assert client.post("/dashboard/login", data={"csrf": csrf_of(login.text), "token": secretariat_token}
                           ).status_code == 303
        csrf = csrf_of(client.get(page_of).text)
        form = {"csrf": csrf, "reason": "erasure request"}
        refused = client.post(f"{page_of}/do/shred", data={**form, "confirm": "SOL-WRONG"})
        assert refused.status_code == 422 and "confirm" in refused.text
        assert not wait_case(stack, secretariat_token, case["case_id"])["shredded_at"]

        done = client.post(f"{page_of}/do/shred", data={**form, "confirm": case["reference"].lower()})
        assert done.status_code == 303
        wait_case(stack, secretariat_token, case["case_id"], lambda c: bool(c["shredded_at"]))
        shown = client.get(page_of).text
        assert 'id="shredded"' in shown and "erasure request" in shown and name not in shown
        assert "/do/verify" not in shown and "/do/shred" not in shown
        queue = client.get("/dashboard").text
        assert re.search(rf'id="case-{case["case_id"]}".*?· shredded</td>', queue, re.S)
    status, body = stack.http.request("POST", f"/api/v1/cases/{case['case_id']}/shred", {"reason": "again"},
                                      token=secretariat_token)
    assert status == 409 and "shredded" in body["errors"][0]["message"]
