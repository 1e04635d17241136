"""The command line against the running worker: tokens, report submit, and classify == the pipeline."""

from __future__ import annotations

import json

import pytest

from schemas.deadletters import DeadLetter
from streams import topics
from testing.samples import named, unique_name
from testing.stack import wait_case, wait_for


def test_tokens_create_list_revoke(stack):
    token = stack.token("reporter", "oaxaca-team")
    listing = stack.cli("tokens", "list").stdout
    [line] = [row for row in listing.splitlines() if row.endswith("oaxaca-team")]
    token_id, role, state = line.split()[:3]
    assert role == "reporter" and state == "active"
    assert token not in listing, "a token is printed once, at creation"
    # Stored hashed: the token itself is nowhere on the token topic.
    assert not any(token.encode() in value for _, value in stack.read_topic(topics.TOKENS))

    assert stack.cli("tokens", "revoke", token_id).stdout.strip() == f"revoked {token_id}"
    wait_for(lambda: stack.http.request("POST", "/api/v1/reports", named(unique_name()), token=token)[0] == 401,
             30, 0.2, "the revoked token to be refused")
    [line] = [row for row in stack.cli("tokens", "list").stdout.splitlines() if row.endswith("oaxaca-team")]
    assert line.split()[2] == "revoked"
    result = stack.cli("tokens", "revoke", "tok_nonexistent", check=False)
    assert result.returncode == 2


def test_wrong_role_is_forbidden(stack, secretariat_token):
    status, body = stack.http.request("POST", "/api/v1/reports", named(unique_name()), token=secretariat_token)
    assert status == 403 and body["errors"][0]["field"] == "authorization"
    assert stack.http.request("POST", "/api/v1/reports", named(unique_name()), token="sol_rep_madeup")[0] == 401


def test_report_submit_opens_a_case(stack, secretariat_token, tmp_path):
    path = tmp_path / "report.json"
    path.write_text(json.dumps(named(unique_name())), encoding="utf-8")
    receipt = json.loads(stack.cli("report", "submit", str(path)).stdout)
    assert set(receipt) == {"report_id", "case_id", "reference"}
    case = wait_case(stack, secretariat_token, receipt["case_id"])
    assert case["reports"][0]["reference"] == receipt["reference"] and case["reports"][0]["source"] == "cli"


def test_report_submit_refuses_and_dead_letters_a_bad_report(stack, tmp_path):
    marker = unique_name("cli-bad")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(named(unique_name(), country="ZZ", locality=marker, extra=1)), encoding="utf-8")
    result = stack.cli("report", "submit", str(path), check=False)
    assert result.returncode == 2
    assert "country:" in result.stderr and "extra: unknown field" in result.stderr

    sealer = stack.sealer()

    def letter():
        for _, value in stack.read_topic(topics.REPORTS_DLQ):
            dl = sealer.loads(DeadLetter, value)
            if marker in dl.payload:
                return dl
        return None

    dl = wait_for(letter, 30, 0.5, "the CLI's dead letter")
    assert dl.source_topic == "cli" and {"country", "extra"} <= {p.field for p in dl.reasons}

    path.write_text("{not json", encoding="utf-8")
    result = stack.cli("report", "submit", str(path), check=False)
    assert result.returncode == 2 and result.stderr.startswith("body:")


VARIED = [
    dict(incident_type="judicial_harassment"),
    dict(incident_type="killing", country="co", consent="public", people_affected=120),
    dict(incident_type="forced_eviction", country="ke", ongoing=True, imminent_danger=True, consent="mechanisms",
         corporate_actor="Acme Agro Ltd"),
    dict(incident_type="death_threat", country="ph", consent="private",
         description="Recibió amenazas; dicen que lo van a matar esta noche."),
    dict(incident_type="org_closure", country="fr", language="fr", description="Les locaux ont été fermés par la police."),
    dict(incident_type="other", country="eg", language="ar", description="تم تهديد المدافعة عن حقوق الإنسان في منزلها."),
]


@pytest.mark.parametrize("overrides", VARIED, ids=[v["incident_type"] for v in VARIED])
def test_classify_equals_what_the_pipeline_stores(stack, reporter_token, secretariat_token, tmp_path, overrides):
    body = named(unique_name(), **overrides)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    offline = json.loads(stack.cli("classify", str(path)).stdout)
    assert set(offline) == {"urgency", "reasons", "mechanisms", "region"}

    status, receipt = stack.http.request("POST", "/api/v1/reports", body, token=reporter_token)
    assert status == 202
    case = wait_case(stack, secretariat_token, receipt["case_id"])
    stored = case["reports"][0]["classification"]
    assert {k: stored[k] for k in offline} == offline
    assert (case["urgency"], case["reasons"], case["mechanisms"], case["region"]) == (
        offline["urgency"], offline["reasons"], offline["mechanisms"], offline["region"])


def test_classify_lists_every_problem(stack, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(named("x", country="ZZ", consent="everyone")), encoding="utf-8")
    result = stack.cli("classify", str(path), check=False)
    assert result.returncode == 2
    assert {line.split(":")[0] for line in result.stderr.splitlines()} == {"country", "consent"}
