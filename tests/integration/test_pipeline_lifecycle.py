"""Case lifecycle over the API through the real broker: transitions, refusals, merges, consent, privacy."""

from __future__ import annotations

import pytest

from testing.samples import named, unique_name
from testing.stack import wait_case


@pytest.fixture
def submit(stack, reporter_token):
    """POST a report; return its receipt."""

    def _submit(body):
        status, receipt = stack.http.request("POST", "/api/v1/reports", body, token=reporter_token)
        assert status == 202, receipt
        return receipt

    return _submit


@pytest.fixture
def act(stack, secretariat_token):
    """POST a lifecycle action; return (status, body)."""

    def _act(case_id, verb, body=None):
        return stack.http.request("POST", f"/api/v1/cases/{case_id}/{verb}", body or {}, token=secretariat_token)

    return _act


@pytest.fixture
def new_case(submit, stack, secretariat_token):
    """A freshly opened case about a unique defender (judicial harassment in Mexico: medium urgency)."""

    def _new(**overrides):
        body = named(unique_name(), **{"incident_type": "judicial_harassment", **overrides})
        receipt = submit(body)
        return wait_case(stack, secretariat_token, receipt["case_id"])

    return _new


def test_case_shows_everything_the_secretariat_needs(new_case):
    case = new_case()
    for key in ("reports", "urgency", "reasons", "mechanisms", "region", "consent", "status", "history"):
        assert key in case
    assert case["status"] == "new" and case["urgency"] == "medium" and case["region"] == "americas"
    assert "un-sr-hrd" in case["mechanisms"]


def test_verify_then_close(new_case, act, stack, secretariat_token):
    case = new_case()
    status, body = act(case["case_id"], "verify", {"note": "called the family"})
    assert status == 202 and body["case"]["status"] == "verified"
    wait_case(stack, secretariat_token, case["case_id"], lambda c: c["status"] == "verified")
    status, _ = act(case["case_id"], "close", {"outcome": "released without charges"})
    assert status == 202
    closed = wait_case(stack, secretariat_token, case["case_id"], lambda c: c["status"] == "closed")
    assert closed["outcome"] == "released without charges"
    kinds = [(h["kind"], h["actor"], h["reason"]) for h in closed["history"]]
    assert kinds[1:] == [("verified", "secretariat-desk", "called the family"),
                         ("closed", "secretariat-desk", "released without charges")]
    assert all(h["at"] for h in closed["history"])


def test_dismiss(new_case, act, stack, secretariat_token):
    case = new_case()
    assert act(case["case_id"], "dismiss", {"reason": "duplicate of a hoax"})[0] == 202
    dismissed = wait_case(stack, secretariat_token, case["case_id"], lambda c: c["status"] == "dismissed")
    assert dismissed["history"][-1]["reason"] == "duplicate of a hoax"


def test_refused_transitions_answer_409_with_the_field(new_case, act, stack, secretariat_token):
    case = new_case()
    act(case["case_id"], "dismiss", {"reason": "not a defender"})
    wait_case(stack, secretariat_token, case["case_id"], lambda c: c["status"] == "dismissed")
    for verb, body in (("verify", {}), ("close", {"outcome": "done now"}), ("dismiss", {"reason": "again"}),
                       ("consent", {"consent": "public", "note": "family agreed"})):
        status, answer = act(case["case_id"], verb, body)
        assert status == 409, (verb, answer)
        assert answer["errors"][0]["field"] == "status"
    status, answer = act(case["case_id"], "escalate", {"urgency": "critical", "reason": "armed men"})
    assert status == 409


def test_escalate_may_only_raise(new_case, act, stack, secretariat_token):
    case = new_case()
    status, answer = act(case["case_id"], "escalate", {"urgency": "low", "reason": "calmer now"})
    assert status == 409 and answer["errors"][0]["field"] == "urgency"
    status, answer = act(case["case_id"], "escalate", {"urgency": "medium", "reason": "same"})
    assert status == 409
    status, answer = act(case["case_id"], "escalate", {"urgency": "extreme", "reason": "typo"})
    assert status == 422 and answer["errors"][0]["field"] == "urgency"
    status, answer = act(case["case_id"], "escalate", {"urgency": "high"})
    assert status == 422 and answer["errors"][0]["field"] == "reason"

    assert "fld-emergency" not in case["mechanisms"]
    assert act(case["case_id"], "escalate", {"urgency": "high", "reason": "armed men outside"})[0] == 202
    raised = wait_case(stack, secretariat_token, case["case_id"], lambda c: c["urgency"] == "high")
    assert raised["reasons"][-1] == "escalated by the secretariat to high: armed men outside"
    # High urgency opens the emergency funds and the Inter-American Commission.
    assert {"fld-emergency", "iachr"} <= set(raised["mechanisms"])
    # The escalation is in the history (the page a high case makes may follow it).
    assert [e["kind"] for e in raised["history"] if e["kind"] != "paged"][-1] == "escalated"


def test_consent_change_recomputes_mechanisms(new_case, act, stack, secretariat_token):
    case = new_case()
    assert case["mechanisms"]
    assert act(case["case_id"], "consent", {"consent": "private", "note": "family asked for silence"})[0] == 202
    private = wait_case(stack, secretariat_token, case["case_id"], lambda c: c["consent"] == "private")
    assert private["mechanisms"] == []
    assert act(case["case_id"], "consent", {"consent": "mechanisms", "note": "may go to the UN"})[0] == 202
    back = wait_case(stack, secretariat_token, case["case_id"], lambda c: c["consent"] == "mechanisms")
    assert back["mechanisms"] == case["mechanisms"]
    assert [h["data"].get("consent") for h in back["history"] if h["kind"] == "consent_changed"] == ["private", "mechanisms"]


def test_unknown_case_and_verb(act):
    assert act("case_does_not_exist", "verify")[0] == 404
    assert act("case_does_not_exist", "explode")[0] == 404


def test_lifecycle_needs_a_secretariat_token(new_case, stack, reporter_token):
    case = new_case()
    status, _ = stack.http.request("POST", f"/api/v1/cases/{case['case_id']}/verify", {}, token=reporter_token)
    assert status == 403
    assert stack.http.request("GET", f"/api/v1/cases/{case['case_id']}", token=reporter_token)[0] == 403
    assert stack.http.request("GET", "/api/v1/cases")[0] == 401


def test_duplicate_joins_the_case_with_the_highest_urgency(submit, stack, secretariat_token):
    name = unique_name("Juana")
    first = submit(named(name, incident_type="judicial_harassment"))
    wait_case(stack, secretariat_token, first["case_id"])
    surname, given = name.split(" ", 1)
    second = submit(named(f"{given.upper()} {surname.lower()}", incident_type="judicial_harassment",
                          imminent_danger=True, ongoing=True, consent="mechanisms"))
    assert second["case_id"] != first["case_id"]
    # The receipt's case id answers with the merged case.
    merged = wait_case(stack, secretariat_token, second["case_id"], lambda c: len(c["reports"]) == 2,
                       what="the merged case under the second report's case id")
    assert merged["case_id"] == first["case_id"]
    assert [r["reference"] for r in merged["reports"]] == [first["reference"], second["reference"]]
    assert merged["urgency"] == "high"
    assert merged["consent"] == "mechanisms"
    # The last merge (a page may follow it: the merge raised the case to high, and high cases page).
    merge = [e for e in merged["history"] if e["kind"] == "report_merged"][-1]
    assert second["reference"] in merge["reason"]
    assert {"fld-emergency", "iachr"} <= set(merged["mechanisms"])
    status, queue = stack.http.request("GET", "/api/v1/cases?country=MX&urgency=high", token=secretariat_token)
    assert status == 200
    assert first["case_id"] in [c["case_id"] for c in queue["cases"]]
    assert second["case_id"] not in [c["case_id"] for c in queue["cases"]]


def test_closed_case_no_longer_absorbs_duplicates(submit, act, stack, secretariat_token):
    name = unique_name("Rosa")
    first = submit(named(name))
    wait_case(stack, secretariat_token, first["case_id"])
    assert act(first["case_id"], "close", {"outcome": "released"})[0] == 202
    wait_case(stack, secretariat_token, first["case_id"], lambda c: c["status"] == "closed")

    second = submit(named(name))
    later = wait_case(stack, secretariat_token, second["case_id"], lambda c: c["case_id"] == second["case_id"],
                      what="a new case for a report matching a closed one")
    assert later["status"] == "new" and [r["reference"] for r in later["reports"]] == [second["reference"]]
    old = wait_case(stack, secretariat_token, first["case_id"])
    assert len(old["reports"]) == 1 and old["status"] == "closed"
    # The new case is open for duplicates in its turn.
    third = submit(named(name))
    joined = wait_case(stack, secretariat_token, third["case_id"], lambda c: len(c["reports"]) == 2)
    assert joined["case_id"] == second["case_id"]


def test_case_queue_filters(new_case, stack, secretariat_token):
    case = new_case(country="co")
    status, body = stack.http.request("GET", "/api/v1/cases?country=co&status=new", token=secretariat_token)
    assert status == 200 and case["case_id"] in [c["case_id"] for c in body["cases"]]
    assert all(c["country"] == "CO" and c["status"] == "new" for c in body["cases"])
    assert stack.http.request("GET", "/api/v1/cases?status=open", token=secretariat_token)[0] == 422
    assert stack.http.request("GET", "/api/v1/cases?colour=red", token=secretariat_token)[0] == 422


def test_logs_never_contain_personal_data(submit, stack, secretariat_token, reporter_token):
    marker = unique_name("Zyxmarker")
    body = named(marker, locality=f"{marker} village", description=f"{marker} was detained by the police today.")
    receipt = submit(body)
    wait_case(stack, secretariat_token, receipt["case_id"])
    # A refused one too: its unknown field and bad values must not be logged either.
    bad = named(marker, country=marker[:2] + "9", **{marker: marker})
    assert stack.http.request("POST", "/api/v1/reports", bad, token=reporter_token)[0] == 422
    # And a merged duplicate.
    dup = submit(named(marker))
    wait_case(stack, secretariat_token, dup["case_id"], lambda c: len(c["reports"]) == 2)
    token = marker.split()[1]
    assert token not in stack.log_path.read_text(errors="replace")
