"""What a seized server or a leaked backup holds: the raw bytes of every topic (changelogs included), the broker's
segment files and the worker's state directory, after a whole flow, hold none of the defender's name, the
locality, the description, the reporter's contact or any member's phone or email.

Each search is checked against a positive control from the same bytes (the case reference, an organisation's
name: not personal, so stored in the clear), so a search that could find nothing proves nothing here.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from deploy.kafka.broker import DATA as BROKER_DATA
from deploy.kafka.broker import external_bootstrap
from testing.sandbox import notify_stack
from testing.samples import report
from testing.stack import wait_for

TAG = uuid.uuid4().hex[:10]
NAME = f"Defensora Quispe{TAG}"
LOCALITY = f"Barrio Alto{TAG}"
DESCRIPTION = f"Fue detenida por hombres armados frente a la radio comunitaria {TAG}-relato."
REPORTER_PHONE = "+525512349876"
REPORTER_EMAIL = f"reporter.{TAG}@example.org"
ORG = f"Colectivo Rio{TAG}"

MEMBERS = [
    # member_id, contact name, phone, email, roles
    ("am1", f"Carmen Oncall{TAG}", "+50491230011", f"carmen.{TAG}@example.org", "secretariat_oncall"),
    ("am2", f"Lucia Member{TAG}", "+573001230022", f"lucia.{TAG}@example.org", "member"),
    ("am3", f"Pedro Member{TAG}", "+525512340033", f"pedro.{TAG}@example.org", "member"),
]


def members_csv(path: Path) -> Path:
    rows = ["member_id,organization,contact_name,phone,email,language,country,working_groups,channels,roles,opted_out"]
    rows += [f"{mid},{ORG} {mid},{name},{phone},{email},es,MX,,sms;email,{roles}," for mid, name, phone, email, roles
             in MEMBERS]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def flow(kafka, tmp_path_factory):
    """A whole flow on a fresh stack: members, a report, its case verified, a call to action, SMS, a SIGN reply."""
    tmp = tmp_path_factory.mktemp("at-rest")
    stack, sandbox = notify_stack(tmp)
    try:
        stack.start()
        stack.cli("members", "import", str(members_csv(tmp / "members.csv")))
        sec, rep = stack.token("secretariat"), stack.token("reporter")
        wait_for(lambda: stack.http.request("GET", "/api/v1/members", token=sec)[1].get("count") == len(MEMBERS),
                 60, 0.2, "the members")
        body = report(country="mx", locality=LOCALITY, description=DESCRIPTION, consent="public",
                      defenders=[{"name": NAME, "organization": "Radio Comunitaria", "gender": "woman"}],
                      reporter_contact={"phone": REPORTER_PHONE, "email": REPORTER_EMAIL})
        status, receipt = stack.http.request("POST", "/api/v1/reports", body, token=rep)
        assert status == 202, receipt
        # A refused report is kept too (dead letter): with the same personal data in it.
        bad = {**body, "country": "XX"}
        assert stack.http.request("POST", "/api/v1/reports", bad, token=rep)[0] == 422
        case_id = receipt["case_id"]
        wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{case_id}", token=sec)[0] == 200, 30, 0.1, "case")
        assert stack.http.request("POST", f"/api/v1/cases/{case_id}/verify", {"note": "confirmed"}, token=sec)[0] == 202
        wait_for(lambda: stack.http.request("GET", f"/api/v1/cases/{case_id}", token=sec)[1]["status"] == "verified",
                 30, 0.1, "verified")
        status, action = stack.http.request("POST", f"/api/v1/cases/{case_id}/actions",
                                            {"kind": "sign_on_letter", "channels": ["sms", "email"],
                                             "messages": {"es": f"Libertad para {NAME}: responde FIRMO."}}, token=sec)
        assert status == 202, action
        phone = sandbox.phone(MEMBERS[1][2])
        sms = phone.expect_sms(NAME, timeout=60)
        phone.reply("SIGN")
        thanks = wait_for(lambda: [m for m in phone.received() if m["sid"] != sms["sid"]], 30, 0.1, "the thank-you")
        yield {"stack": stack, "case": stack.http.request("GET", f"/api/v1/cases/{case_id}", token=sec)[1],
               "receipt": receipt, "sms": sms, "thanks": thanks}
    finally:
        stack.stop()
        sandbox.stop()


def needles() -> dict[str, bytes]:
    out = {"defender name": NAME.encode(), "name token": f"quispe{TAG}".encode(),
           "locality": LOCALITY.encode(), "description": f"{TAG}-relato".encode(),
           "reporter phone": REPORTER_PHONE.encode(), "reporter email": REPORTER_EMAIL.encode()}
    for mid, name, phone, email, _ in MEMBERS:
        out[f"{mid} contact name"] = name.encode()
        out[f"{mid} phone"] = phone.encode()
        out[f"{mid} phone digits"] = phone[1:].encode()
        out[f"{mid} email"] = email.encode()
    return out


def found_in(blobs: dict[str, bytes]) -> list[str]:
    hits = []
    for what, needle in needles().items():
        for where, blob in blobs.items():
            if needle in blob or needle.lower() in blob.lower():
                hits.append(f"{what} in {where}")
    return hits


def stack_topics(stack) -> list[str]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=stack.env["SOLIDARITY_KAFKA__BOOTSTRAP_SERVERS"])
    try:
        names = consumer.topics()
    finally:
        consumer.close()
    prefixes = (stack.env["SOLIDARITY_TOPIC_PREFIX"], stack.env["SOLIDARITY_APP_ID"] + "-")
    return sorted(n for n in names if n.startswith(prefixes))


def raw_topic(stack, name: str) -> bytes:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=stack.env["SOLIDARITY_KAFKA__BOOTSTRAP_SERVERS"], group_id=None,
                             enable_auto_commit=False, consumer_timeout_ms=1500)
    try:
        parts = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or ()]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        out = bytearray()
        while any(consumer.position(tp) < end[tp] for tp in parts):
            for batch in consumer.poll(timeout_ms=500).values():
                for r in batch:
                    out += (r.key or b"") + b"\x00" + (r.value or b"") + b"\x00"
                    for hk, hv in r.headers or ():
                        out += hk.encode() + (hv or b"")
        return bytes(out)
    finally:
        consumer.close()


def test_the_flow_put_personal_data_where_it_belongs(flow):
    """The control: the data did reach the member's phone and the secretariat (so there was something to seal)."""
    assert NAME in flow["sms"]["body"], "the secretariat's text (consent is public) names the defender"
    case = flow["case"]
    assert case["reports"][0]["report"]["locality"] == LOCALITY
    assert case["reports"][0]["report"]["defenders"][0]["name"] == NAME


def test_no_topic_holds_personal_data_in_the_clear(flow):
    stack = flow["stack"]
    names = stack_topics(stack)
    assert any(n.endswith("-changelog") for n in names), names
    blobs = {name: raw_topic(stack, name) for name in names}
    assert any(b"$sealed" in blob for blob in blobs.values())
    reference = flow["receipt"]["reference"].encode()
    assert any(reference in blob for blob in blobs.values()), "control: the case reference is stored in the clear"
    assert any(ORG.encode() in blob for blob in blobs.values()), "control: organisation names are stored in the clear"
    assert found_in(blobs) == []


def test_no_broker_segment_file_holds_personal_data(flow):
    if external_bootstrap():
        pytest.skip("an external Kafka's segment files are not on this machine")
    stack = flow["stack"]
    blobs = {}
    for name in stack_topics(stack):
        for part_dir in BROKER_DATA.glob(f"{name}-*"):
            for f in part_dir.glob("*.log"):
                blobs[f"{part_dir.name}/{f.name}"] = f.read_bytes()
    assert blobs, "the broker's segment files of this stack's topics"
    assert any(flow["receipt"]["reference"].encode() in b for b in blobs.values()), "control"
    assert found_in(blobs) == []


def test_the_state_directory_holds_no_personal_data(flow):
    stack = flow["stack"]
    root = Path(stack.env["SOLIDARITY_DATA_DIR"])
    blobs = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert blobs, "the worker's state directory (RocksDB files)"
    assert any(flow["case"]["case_id"].encode() in b for b in blobs.values()), "control: case ids are in the store"
    assert found_in(blobs) == []


def test_the_worker_log_holds_no_personal_data(flow):
    log = flow["stack"].log_path.read_bytes()
    assert found_in({"worker log": log}) == []
