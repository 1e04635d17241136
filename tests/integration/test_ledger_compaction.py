"""Ledger compaction end to end: a finished call to action's settled entries leave the ledger and its changelog,
and still no phone gets its SMS twice: not when the notifications are replayed, not after a restart; a follow-up
still reaches exactly those the first call reached. Counted at the sandbox's phones; real worker, real Kafka.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from kafka import KafkaProducer

from streams import topics as catalogue
from testing.samples import unique_name
from testing.sandbox import notify_stack
from testing.stack import wait_for
from tests.integration.test_fanout import open_verified_case

PE1, PE2, CO = "+51987650021", "+51987650022", "+573005500023"
MEMBERS = f"""member_id,organization,contact_name,phone,email,language,country,working_groups,channels,roles,opted_out
org-pe1,Colectivo Lima,Rosa Quispe,{PE1},,es,PE,,sms,member,
org-pe2,Red Andina,Luis Mamani,{PE2},,es,PE,,sms,member,
org-co,Tejido Cauca,Ana Yule,{CO},,es,CO,,sms,member,
"""


@pytest.fixture(scope="module")
def world(kafka, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("compaction")
    (tmp / "members.csv").write_text(MEMBERS)
    # Compact as soon as an action has finished (the default waits a day).
    stack, sandbox = notify_stack(tmp, extra_env={"SOLIDARITY_DELIVERY__COMPACT_AFTER_HOURS": "0"})
    try:
        stack.start()
        stack.cli("members", "import", str(tmp / "members.csv"))
        tokens = {"secretariat": stack.token("secretariat"), "reporter": stack.token("reporter")}
        wait_for(lambda: stack.http.request("GET", "/api/v1/members", token=tokens["secretariat"])[1].get("count")
                 == 3, 60, 0.2, "the members")
        yield stack, sandbox, tokens
    finally:
        stack.stop()
        sandbox.stop()


def texts_at(sandbox, text: str) -> Counter:
    return Counter({p: sum(text in m["body"] for m in sandbox.phone(p).received()) for p in (PE1, PE2, CO)})


def test_a_finished_action_leaves_the_ledger_and_no_phone_gets_it_twice(world):
    stack, sandbox, tokens = world
    sec = tokens["secretariat"]
    case = open_verified_case(stack, tokens, incident_type="judicial_harassment", country="pe",
                              defenders=[{"name": unique_name()}])
    case_id = case["case_id"]
    status, first = stack.http.request("POST", f"/api/v1/cases/{case_id}/actions", {
        "kind": "sign_on_letter", "channels": ["sms"], "audience": {"countries": ["PE"]}}, token=sec)
    assert status == 202, first
    action_id, ref = first["action_id"], case["reference"]
    wait_for(lambda: stack.http.request("GET", f"/api/v1/actions/{action_id}", token=sec)[1]["finished"], 60, 0.25,
             "the call to be delivered")
    assert texts_at(sandbox, ref) == Counter({PE1: 1, PE2: 1, CO: 0})
    counts = stack.http.request("GET", f"/api/v1/actions/{action_id}", token=sec)[1]["counts"]

    # The action's entries leave the ledger: its changelog ends with a tombstone for each of them.
    changelog = f"{stack.env['SOLIDARITY_APP_ID']}-delivery_ledger-changelog"
    prefix = f"act:{action_id}:".encode()

    def last_values():
        last = {}
        for key, value in stack.raw_records(changelog):
            if key and prefix in key:
                last[key] = value
        return last

    final = wait_for(lambda: (last := last_values()) and all(v is None for v in last.values()) and last, 90, 1.0,
                     "the action's ledger entries to be compacted")
    assert len(final) == 2
    # The SMS sids of those entries leave the sid index too.
    sids = {json.loads(v)["provider_id"] for k, v in stack.raw_records(changelog)
            if k and prefix in k and v and "provider_id" in json.loads(v)}
    assert len(sids) == 2
    sid_changelog = f"{stack.env['SOLIDARITY_APP_ID']}-sid_index-changelog"

    def sid_rows():
        return {k: v for k, v in stack.raw_records(sid_changelog) if k and any(s.encode() in k for s in sids)}

    wait_for(lambda: (rows := sid_rows()) and len(rows) == 2 and all(v is None for v in rows.values()), 30, 1.0,
             "the sids to leave the sid index")

    # Its notifications turn up again (a replayed topic): nobody gets a second SMS.
    bulk = catalogue.full_name(catalogue.NOTIFY_BULK, stack.env["SOLIDARITY_TOPIC_PREFIX"])
    again = [(k, v) for k, v in stack.raw_records(bulk) if k and prefix in k]
    assert len(again) == 2
    producer = KafkaProducer(bootstrap_servers=stack.env["SOLIDARITY_KAFKA__BOOTSTRAP_SERVERS"], acks="all")
    for key, value in again:
        producer.send(bulk, key=key, value=value)
    producer.flush()
    producer.close()
    sandbox.phone(PE1).expect_no_sms(within=5, contains=ref)
    # A restart recovers the compacted ledger: nothing is resent, the counts are those of before.
    stack.restart()
    sandbox.phone(PE2).expect_no_sms(within=5, contains=ref)
    assert texts_at(sandbox, ref) == Counter({PE1: 1, PE2: 1, CO: 0})
    after = stack.http.request("GET", f"/api/v1/actions/{action_id}", token=sec)[1]
    assert after["finished"] and after["counts"] == counts

    # A follow-up still reaches exactly those the first call reached.
    news = "Mas informacion: la audiencia fue aplazada al martes."
    status, follow = stack.http.request("POST", f"/api/v1/cases/{case_id}/actions", {
        "kind": "further_information", "channels": ["sms"], "follows": [action_id], "messages": {"es": news}},
        token=sec)
    assert status == 202, follow
    wait_for(lambda: texts_at(sandbox, news) == Counter({PE1: 1, PE2: 1, CO: 0}) or None, 60, 0.25,
             "the further information at both Peruvian phones")
    sandbox.phone(CO).expect_no_sms(within=3)
