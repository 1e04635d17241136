"""A record that fails to decode is logged without its values, and the worker carries on.

Bad records carrying a phone number, a contact name and an email go onto every topic the worker decodes into
a model; once the worker's consumer group has committed past them (and its replica has read past those of the
replicated topics), the whole worker log must not contain any
of those values, /healthz must still answer 200, and a good member sent after the bad one must reach the table.
"""

from __future__ import annotations

import json

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams import topics
from testing.stack import bootstrap, wait_for

pytestmark = pytest.mark.kafka

# ASCII on purpose: an escaped repr in the log could not hide them from the search.
PHONE, NAME, EMAIL = "+50491236721", "Berta Caceres Flores", "berta.leak@example.org"
# Read by the worker's agents (their consumer group commits past them; notifications.status.v1 is read by no
# worker) ...
AGENT_TOPICS = [topics.CASE_EVENTS, topics.ACTIONS, topics.NOTIFY_PRIORITY, topics.NOTIFY_BULK, topics.NOTIFY_RETRY,
                topics.NOTIFY_RECEIPTS, topics.REPLIES]
# ... and by the replica every worker runs outside the group (streams/replicas.py), which logs each skipped record.
REPLICATED_TOPICS = [topics.MEMBERS, topics.TOKENS, topics.CASE_STATE]
DECODED_TOPICS = AGENT_TOPICS + REPLICATED_TOPICS
BAD_VALUES = [
    # A model's fields with one invalid value: pydantic would quote the whole input.
    json.dumps({"member_id": "leak-1", "organization": "Org", "contact_name": NAME, "phone": PHONE, "email": EMAIL,
                "country": "ZZ"}).encode(),
    # Not JSON at all, and a personal value as an unknown key.
    f'{{"phone": "{PHONE}", "contact_name": "{NAME}"'.encode(),
    json.dumps({PHONE: NAME, "to": PHONE, "from_phone": PHONE, "email": EMAIL}).encode(),
]
GOOD_MEMBER = {"member_id": "leak-1", "organization": "Colectivo Río Claro", "contact_name": "Rosa Quispe",
               "phone": "+51912345001", "email": "rosa@example.org", "language": "es", "country": "PE"}


@pytest.fixture(scope="module")
def produced(stack) -> dict[TopicPartition, int]:
    """Send the bad records (then a good member with the same key); the end offset of each partition written."""
    prefix = stack.env["SOLIDARITY_TOPIC_PREFIX"]
    producer = KafkaProducer(bootstrap_servers=bootstrap(), acks="all")
    ends: dict[TopicPartition, int] = {}
    try:
        sends = [(spec, value) for spec in DECODED_TOPICS for value in BAD_VALUES]
        sends.append((topics.MEMBERS, json.dumps(GOOD_MEMBER).encode()))
        for spec, value in sends:
            meta = producer.send(topics.full_name(spec, prefix), key=b"leak-1", value=value).get(timeout=30)
            tp = TopicPartition(meta.topic, meta.partition)
            ends[tp] = max(ends.get(tp, 0), meta.offset + 1)
    finally:
        producer.close()
    return ends


def replica_skipped(stack) -> bool:
    """Whether the worker's replica has read (and skipped) every bad record of the replicated topics."""
    log = stack.log_path.read_text(encoding="utf-8", errors="replace")
    prefix = stack.env["SOLIDARITY_TOPIC_PREFIX"]
    return all(log.count(f"replicated record skipped at {topics.full_name(spec, prefix)}[") >= len(BAD_VALUES)
               for spec in REPLICATED_TOPICS)


def committed_past(stack, ends: dict[TopicPartition, int]) -> bool:
    """Whether the worker's consumer group has committed every partition up to the given end offsets."""
    # Never subscribes, so it only reads the group's offsets and does not join (or disturb) the group.
    consumer = KafkaConsumer(bootstrap_servers=bootstrap(), group_id=stack.env["SOLIDARITY_APP_ID"],
                             enable_auto_commit=False)
    try:
        return all((consumer.committed(tp) or 0) >= end for tp, end in ends.items())
    finally:
        consumer.close()


def get_member(stack, token) -> dict | None:
    """The member leak-1 as the API shows it, or None."""
    status, body = stack.http.request("GET", "/api/v1/members/leak-1", token=token)
    return body if status == 200 else None


def test_undecodable_records_leave_no_personal_data_in_the_log(stack, secretariat_token, produced):
    agent_ends = {tp: end for tp, end in produced.items()
                  if tp.topic in {topics.full_name(spec, stack.env["SOLIDARITY_TOPIC_PREFIX"]) for spec in AGENT_TOPICS}}
    wait_for(lambda: committed_past(stack, agent_ends), 120, 0.5, "the worker's agents to consume the bad records")
    wait_for(lambda: replica_skipped(stack), 60, 0.5, "the worker's replica to read past the bad records")
    status, _body = stack.http.request("GET", "/healthz")
    assert status == 200
    member = wait_for(lambda: get_member(stack, secretariat_token), 30, 0.2, "the good member sent after the bad ones")
    assert member["organization"] == "Colectivo Río Claro"
    log = stack.log_path.read_text(encoding="utf-8", errors="replace")
    for value in (PHONE, PHONE.lstrip("+"), NAME, EMAIL):
        assert value not in log, f"{value!r} is in the worker log"
    assert "is not a valid CaseEvent" in log and "replicated record skipped" in log, \
        "the decode failures should still be logged (without values)"
