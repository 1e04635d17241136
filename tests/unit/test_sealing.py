"""Envelope encryption of personal fields: what is sealed, under whose key, and what a forger or a shredder gets."""

from __future__ import annotations

import json
import os
import secrets
import stat
import threading
import time

import pytest

from schemas.cases import Case, CaseSnapshot
from schemas.members import Member
from schemas.notifications import Notification
from schemas.replies import InboundReply
from schemas.reports import ReportSubmitted
from streams import crypto
from streams.crypto.datakeys import DataKeys
from streams.crypto.keyring import KeyError_, KeyRing, LocalKek, init_key_file, load_keyring, read_key_file
from streams.settings import Settings
from testing.samples import envelope, report, stored

PHONE, EMAIL, NAME = "+525512345678", "ana.perez@example.org", "Ana María Pérez"


def member(member_id="m1", **kw) -> Member:
    fields = {"organization": "Colectivo Tierra", "contact_name": NAME, "phone": PHONE, "email": EMAIL,
              "country": "MX", "updated_at": "2026-12-01T10:00:00+00:00", **kw}
    return Member(member_id=member_id, **fields)


@pytest.fixture
def sealer():
    return crypto.memory_sealer()


def test_a_member_is_stored_without_name_phone_or_email_and_reads_back_whole(sealer):
    raw = sealer.dumps(member())
    assert NAME.encode() not in raw and b"5512345678" not in raw and b"ana.perez" not in raw
    assert b"Colectivo Tierra" in raw, "what is not personal stays readable"
    assert sealer.loads(Member, raw) == member()


def test_a_ciphertext_moved_into_another_record_does_not_open(sealer):
    first, second = json.loads(sealer.dumps(member("m1"))), json.loads(sealer.dumps(member("m2", phone=None)))
    second["contact_name"] = first["contact_name"]
    with pytest.raises(crypto.SealError, match="contact_name"):
        sealer.loads(Member, json.dumps(second).encode())


def test_a_ciphertext_moved_into_another_field_of_the_same_record_does_not_open(sealer):
    data = json.loads(sealer.dumps(member()))
    data["contact_name"], data["email"] = data["email"], data["contact_name"]
    with pytest.raises(crypto.SealError):
        sealer.loads(Member, json.dumps(data).encode())


def test_an_altered_ciphertext_does_not_open(sealer):
    data = json.loads(sealer.dumps(member()))
    ct = bytearray(data["phone"]["ct"].encode())
    ct[20] = ord("A") if ct[20] != ord("A") else ord("B")
    data["phone"]["ct"] = ct.decode()
    with pytest.raises(crypto.SealError, match="phone"):
        sealer.loads(Member, json.dumps(data).encode())


def test_a_case_seals_every_report_and_defender_inside_it(sealer):
    case = Case(case_id="case_1", reference="SOL-AAAAAA", incident_type="arbitrary_detention", country="MX",
                region="americas", consent="network", urgency="high", reasons=[], mechanisms=[],
                reports=[stored(report(locality="San Isidro"))])
    raw = sealer.dumps(CaseSnapshot(case=case))
    assert b"San Isidro" not in raw and NAME.encode() not in raw and "policía".encode() not in raw
    assert b"SOL-AAAAAA" in raw
    assert sealer.loads(CaseSnapshot, raw).case == case


def test_the_raw_report_body_on_the_intake_topic_is_sealed_by_the_report_schema(sealer):
    env = ReportSubmitted.model_validate(envelope(report(reporter_contact={"phone": PHONE})))
    raw = sealer.dumps(env)
    assert NAME.encode() not in raw and b"San Isidro" not in raw and b"5512345678" not in raw
    assert sealer.loads(ReportSubmitted, raw).report == env.report


def test_a_notification_address_is_its_member_s_and_its_text_the_case_s(sealer):
    n = Notification(idempotency_key="act:1:m1:sms", member_id="m1", channel="sms", to=PHONE, language="es",
                     body=f"Libertad para {NAME}", case_id="case_1")
    raw = sealer.dumps(n)
    sealer.keys.shred(["case:case_1"], "test")
    back = sealer.loads(Notification, raw)
    assert back.to == PHONE and back.body == crypto.PLACEHOLDER
    sealer.keys.shred(["member:m1"], "test")
    assert sealer.loads(Notification, raw).to == crypto.PLACEHOLDER


def test_after_shredding_every_copy_opens_as_a_placeholder_and_new_writes_hold_nothing(sealer):
    copies = [sealer.dumps(member()) for _ in range(3)]
    destroyed = sealer.keys.shred(["member:m1"], "erasure requested")
    assert destroyed == 1
    for raw in copies:
        gone = sealer.loads(Member, raw)
        assert (gone.contact_name, gone.phone, gone.email) == (crypto.PLACEHOLDER, None, None)
        dek_id = json.loads(raw)["phone"]["$sealed"]
        assert sealer.keys.get(dek_id, wait=False) is None
    again = sealer.dumps(member())
    assert b"$sealed" not in again and NAME.encode() not in again and b"5512345678" not in again


def test_a_key_made_by_another_worker_is_waited_for_not_refused():
    kek = LocalKek("kek-shared", secrets.token_bytes(32))
    ring = KeyRing(kek, {kek.kek_id: kek}, secrets.token_bytes(32), secrets.token_bytes(32))
    topic: list = []
    a = crypto.Sealer(DataKeys(ring, topic.extend))
    b = crypto.Sealer(DataKeys(ring, lambda records: None, wait_seconds=5))
    raw = a.dumps(member())

    def deliver_later():  # worker B's reading thread sees the key record a moment after the member record
        time.sleep(0.3)
        for key, value in topic:
            b.keys.apply(key, value)

    threading.Thread(target=deliver_later).start()
    assert b.loads(Member, raw) == member()


def test_keys_for_many_new_subjects_at_once_take_one_publish():
    kek = LocalKek("kek-x", secrets.token_bytes(32))
    publishes = []
    keys = DataKeys(KeyRing(kek, {kek.kek_id: kek}, b"b" * 32, b"a" * 32), publishes.append)
    assert keys.ensure(f"case:c{i}" for i in range(100)) == 100
    assert len(publishes) == 1 and len(publishes[0]) == 100
    assert keys.ensure(["case:c1"]) == 0


def test_a_reply_from_an_unknown_number_is_sealed_under_the_month_key(sealer):
    reply = InboundReply(message_sid="SM1", from_phone=PHONE, to_phone="+15005550006", body="SIGN")
    raw = sealer.dumps(reply)
    assert b"5512345678" not in raw and json.loads(raw)["subject"] == crypto.period_subject()
    assert sealer.loads(InboundReply, raw).from_phone == PHONE


def test_the_blind_index_is_keyed_stable_and_never_the_number(sealer):
    other = crypto.memory_sealer()
    assert sealer.blind("phone", PHONE) == sealer.blind("phone", PHONE)
    assert sealer.blind("phone", PHONE) != other.blind("phone", PHONE), "another key, another index"
    assert sealer.blind("phone", PHONE) != sealer.blind("phone", "+525512345679")
    assert "5512345678" not in sealer.blind("phone", PHONE)
    assert sealer.blind("email", "Ana@Example.org") == sealer.blind("email", "ana@example.org ")


def test_encryption_off_writes_in_the_clear_and_still_reads_what_was_sealed(sealer):
    raw = sealer.dumps(member())
    off = crypto.Sealer(sealer.keys, enabled=False)
    assert NAME.encode() in off.dumps(member())
    assert off.loads(Member, raw) == member()


def test_rotation_rewraps_every_data_key_and_the_old_kek_can_go(sealer):
    raw = sealer.dumps(member())
    keys = sealer.keys
    new = LocalKek("kek-new", secrets.token_bytes(32))
    keys.ring.keks[new.kek_id], keys.ring.primary = new, new
    assert keys.rewrap() == 1
    old_id = next(k for k in keys.ring.keks if k != "kek-new")
    del keys.ring.keks[old_id]
    keys._open.clear()  # a fresh process: every key unwrapped again, with the new KEK only
    assert all(wk.kek_id == "kek-new" for wk in keys.keys())
    assert sealer.loads(Member, raw) == member()


def test_the_key_file_is_made_once_and_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "keys" / "k.json"
    assert init_key_file(path) and not init_key_file(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    ring = read_key_file(path)
    assert len(ring.blind_index_key) == 32 and ring.primary.kek_id in ring.keks


def test_production_refuses_to_run_without_a_kek(tmp_path):
    settings = Settings(environment="production")
    assert any("key-encryption key" in line for line in settings.insecure_defaults())
    with pytest.raises(KeyError_, match="SOLIDARITY_CRYPTO__KEY_FILE"):
        load_keyring(settings)
    init_key_file(tmp_path / "prod.json")
    given = Settings(environment="production", crypto={"key_file": tmp_path / "prod.json"})
    assert not [line for line in given.insecure_defaults() if "crypto" in line.lower() or "kek" in line.lower()]
    assert load_keyring(given).path == tmp_path / "prod.json"


def test_production_refuses_encryption_off():
    settings = Settings(environment="production", crypto={"enabled": False, "key_file": "/k.json"})
    assert any("SOLIDARITY_CRYPTO__ENABLED" in line for line in settings.insecure_defaults())


def test_a_key_made_elsewhere_just_before_or_after_a_shredding_is_destroyed_too():
    kek = LocalKek("kek-y", secrets.token_bytes(32))
    ring = KeyRing(kek, {kek.kek_id: kek}, b"b" * 32, b"a" * 32)
    topic: list = []
    shredder = DataKeys(ring, topic.extend)
    other = crypto.Sealer(DataKeys(ring, topic.extend))
    other.dumps(member())  # worker B makes member:m1's key; worker A has not seen it yet
    late = list(topic)
    shredder.shred(["member:m1"], "erasure")
    reader = DataKeys(ring, topic.extend)  # a third worker reads the topic in its order: B's key, then the marker
    for key, value in late + topic[len(late):]:
        reader.apply(key, value)
    wait = time.monotonic() + 5
    while not any(k == late[0][0] and v is None for k, v in topic) and time.monotonic() < wait:
        time.sleep(0.01)
    assert (late[0][0], None) in topic, "the key the shredder did not know is tombstoned on the topic"
