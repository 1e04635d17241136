"""The audit chain: an untouched log verifies; an altered, removed or inserted entry is named by offset and seq;
the writer chains a request delivered twice once and continues the chain after a move."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest
from pydantic import ValidationError

from schemas.audit import GENESIS, AuditEntry
from streams import crypto
from streams.audit import Kind, chain_entry, verify
from streams.audit import log as audit_log
from streams.audit.record import request
from streams.codecs import PydanticCodec
from streams.settings import Settings
from streams.stages.audit import AuditTrail

KEY = secrets.token_bytes(32)
TOKEN = "tok_0192f3a4b5c6d7e8f9a0b1c2"


def entries(n: int, key: bytes = KEY) -> list[AuditEntry]:
    out, head = [], None
    for i in range(n):
        head = chain_entry(head, request(TOKEN, "case.verify", f"case_{i}", f"case_{i}", status="verified"), key)
        out.append(head)
    return out


def log_of(chain: list[AuditEntry]) -> list[tuple[int, bytes]]:
    """The records as they lie on audit.log.v1: offset and JSON bytes."""
    return [(i, e.model_dump_json().encode()) for i, e in enumerate(chain)]


def edited(raw: bytes, **changes) -> bytes:
    data = json.loads(raw)
    data.update(changes)
    return json.dumps(data).encode()


def test_an_untouched_log_verifies():
    walker = verify(log_of(entries(5)), KEY)
    assert walker.intact and walker.entries == 5 and walker.head["seq"] == 5
    assert verify([], KEY).intact


def test_the_first_entry_starts_the_chain_and_each_names_the_one_before():
    first, second = entries(2)
    assert (first.seq, first.prev) == (1, GENESIS)
    assert (second.seq, second.prev) == (2, first.mac)


def test_an_entry_survives_the_topic_codec_unchanged():
    crypto.install(crypto.memory_sealer())
    entry = entries(1)[0]
    assert verify([(0, PydanticCodec(AuditEntry).dumps(entry))], KEY).intact


def test_an_altered_entry_is_named():
    records = log_of(entries(5))
    offset, raw = records[2]
    records[2] = (offset, edited(raw, detail={"status": "dismissed"}))
    walker = verify(records, KEY)
    assert (walker.first.offset, walker.first.seq, walker.first.kind) == (2, 3, Kind.altered)
    assert len(walker.problems) == 1, "the entries after it still chain"


def test_a_changed_actor_is_an_alteration_too():
    records = log_of(entries(3))
    records[1] = (1, edited(records[1][1], actor="tok_000000000000000000000000"))
    assert verify(records, KEY).first.line().startswith("offset 1 (seq 2): altered")


def test_a_removed_entry_is_named_by_the_entry_after_the_gap():
    records = log_of(entries(5))
    del records[2]  # offsets 0, 1, 3, 4 remain
    first = verify(records, KEY).first
    assert (first.offset, first.seq, first.kind) == (3, 4, Kind.removed)
    assert "seq 3" in first.reason


def test_entries_removed_from_the_start_are_seen():
    first = verify(log_of(entries(5))[2:], KEY).first
    assert (first.offset, first.seq, first.kind) == (2, 3, Kind.removed) and "seq 1 to 2" in first.reason


def test_a_forged_entry_is_named_and_the_genuine_chain_goes_on_after_it():
    chain = entries(4)
    records = log_of(chain[:3])
    forged = chain[2].model_dump(mode="json") | {"seq": 4, "prev": chain[2].mac, "subject": "case_x",
                                                 "mac": secrets.token_hex(32)}
    records.append((3, json.dumps(forged).encode()))
    records.append((4, chain[3].model_dump_json().encode()))
    walker = verify(records, KEY)
    assert (walker.first.offset, walker.first.seq, walker.first.kind) == (3, 4, Kind.inserted)
    assert len(walker.problems) == 1 and walker.entries == 4


def test_an_entry_made_with_another_key_is_inserted():
    records = log_of(entries(2))
    outsider = chain_entry(entries(2)[1], request(TOKEN, "case.close", "case_9", "case_9"), secrets.token_bytes(32))
    records.append((2, outsider.model_dump_json().encode()))
    assert (verify(records, KEY).first.offset, verify(records, KEY).first.kind) == (2, Kind.inserted)


def test_a_genuine_entry_copied_onto_the_log_again_is_inserted():
    records = log_of(entries(3))
    records.append((3, records[1][1]))
    first = verify(records, KEY).first
    assert (first.offset, first.seq, first.kind) == (3, 2, Kind.inserted) and "already" in first.reason


def test_a_record_that_is_not_an_entry_is_inserted():
    records = log_of(entries(2)) + [(2, b"not json"), (3, None)]
    walker = verify(records, KEY)
    assert [(p.offset, p.kind) for p in walker.problems] == [(2, Kind.inserted), (3, Kind.inserted)]


def test_an_entry_names_a_token_never_a_person():
    with pytest.raises(ValidationError):
        request("Maria Lopez", "case.read", "case_1")
    with pytest.raises(ValidationError):
        request(TOKEN, "case.verify", "case_1", note="Verified with Maria Lopez by phone, she is in hiding " * 3)
    assert request("cli", "token.create", "tok_1", role="reporter").actor == "cli"


class FakeTopic:
    """Collects what is sent, as audit.log.v1 would hold it."""

    def __init__(self) -> None:
        self.records: list[tuple[int, bytes]] = []

    async def send(self, value, key=None):
        self.records.append((len(self.records), value.model_dump_json().encode()))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class FakeRuntime:
    def __init__(self) -> None:
        self.settings = None
        self.topics = type("T", (), {"audit_log": FakeTopic()})()


@pytest.fixture
def writer(monkeypatch):
    sealer = crypto.memory_sealer()
    crypto.install(sealer)
    rt = FakeRuntime()
    log = rt.topics.audit_log.records
    monkeypatch.setattr(audit_log, "bounds", lambda settings: (0, len(log)))
    monkeypatch.setattr(audit_log, "read", lambda settings, start=None, stop=None, **kw:
                        iter(log[start or 0:stop]))
    return AuditTrail(rt), log, sealer.keys.ring.audit_key


def test_a_request_delivered_twice_is_chained_once(writer):
    trail, log, key = writer
    reqs = [request(TOKEN, "case.read", f"case_{i}", f"case_{i}").model_dump_json().encode() for i in range(3)]

    async def deliver():
        for raw in reqs:
            await trail.append(raw)
        trail.generation += 1  # the partition moved: the next owner reads the head back from the log
        for raw in reqs[1:]:  # redelivered: their offsets were not committed before the move
            await trail.append(raw)
        await trail.append(request(TOKEN, "case.close", "case_3", "case_3").model_dump_json().encode())

    asyncio.run(deliver())
    walker = verify(log, key)
    assert walker.intact and walker.entries == 4 == len(log)
    assert [json.loads(r)["subject"] for _, r in log] == ["case_0", "case_1", "case_2", "case_3"]


def test_a_copied_old_entry_does_not_send_the_writer_back(writer):
    trail, log, key = writer

    async def deliver():
        for i in range(3):
            await trail.append(request(TOKEN, "case.read", f"case_{i}").model_dump_json().encode())
        log.append((len(log), log[0][1]))  # someone produces a copy of the first entry
        trail.generation += 1
        await trail.append(request(TOKEN, "case.read", "case_3").model_dump_json().encode())

    asyncio.run(deliver())
    walker = verify(log, key)
    assert [(p.offset, p.kind) for p in walker.problems] == [(3, Kind.inserted)]
    assert walker.head["seq"] == 4 and walker.head["subject"] == "case_3"


def test_a_request_that_is_not_one_is_skipped(writer):
    trail, log, _key = writer
    assert asyncio.run(trail.append(b'{"actor": "Maria Lopez"}')) is None and log == []


def test_the_verify_command_says_intact_or_names_the_first_bad_entry(monkeypatch, capsys):
    from streams.commands import audit_cmd

    records = log_of(entries(3))
    monkeypatch.setattr(audit_log, "read", lambda settings, **kw: iter(records))
    assert audit_cmd.verify(Settings(), KEY) == 0
    assert capsys.readouterr().out.startswith("audit chain intact: 3 entries (head: seq 3")
    records.append((3, edited(records[2][1], seq=4, prev=json.loads(records[2][1])["mac"], actor="\x1b[2Jtok")))
    assert audit_cmd.verify(Settings(), KEY) == 1
    assert capsys.readouterr().out.startswith("audit chain broken: first bad entry at offset 3 (seq 4): inserted")
    assert audit_cmd.show(Settings(), KEY, None, None, False) == 0
    shown = capsys.readouterr().out.splitlines()
    assert len(shown) == 4 and shown[-1].endswith("[INSERTED]") and "\x1b" not in shown[-1]
