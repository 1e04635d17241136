"""The delivery ledger's entries: what the table held as plain dicts still reads, and a bad entry is refused by name.

The shapes below are copied from what the deliverer wrote before the entry was a model (they are in changelogs
that a worker rebuilds its ledger from).
"""

from __future__ import annotations

import json

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from faust.types import TP
from pydantic import ValidationError

from schemas.notifications import DeliveryState, Lane, LedgerEntry, Notification
from schemas.vocab import Channel
from streams import crypto
from streams.codecs import RecordDecodeError
from streams.ownership import Ownership
from streams.settings import Settings
from streams.tables import Ledger

PHONE = "+50491236721"
KEY = "act:act_1:m1:sms"
N = Notification(idempotency_key=KEY, member_id="m1", channel=Channel.sms, to=PHONE, language="es",
                 body="Firme la petición SOL-AB12CD.", lane=Lane.bulk, action_id="act_1", case_id="case_1")
# As datetime.isoformat() writes them (microseconds only when there are any).
T0, T1, T2 = "2026-12-01T10:00:00.123456+00:00", "2026-12-01T10:00:01+00:00", "2026-12-01T10:00:02.500000+00:00"
MARK = {"state": "sending", "since": T0, "marked_at": T0, "attempt": 0, "action_id": "act_1", "channel": "sms",
        "member_id": "m1", "notification": N.model_dump(mode="json")}
SENT = {**{k: v for k, v in MARK.items() if k != "notification"}, "state": "sent", "provider_id": "SMa1",
        "at": T1, "recovered": False}

OLD_SHAPES = [
    ("marked sending", MARK),
    ("found sending after a crash", {**MARK, "uncertain_since": T0}),
    ("before marked_at was written", {k: v for k, v in MARK.items() if k != "marked_at"} | {"action_id": None}),
    ("a retry scheduled", {**MARK, "state": "retrying", "error": "20429", "attempt": 1, "since": T1}),
    ("a timeout retried", {**MARK, "error": "timeout", "attempt": 1, "since": T1, "uncertain_since": T0}),
    ("accepted, awaiting its receipt", SENT),
    ("found by the recovery lookup", {**SENT, "recovered": True}),
    ("delivered by a receipt", {**SENT, "state": "delivered", "error": None, "settled_at": T2}),
    ("undelivered", {**SENT, "state": "failed", "error": "30003", "settled_at": T2}),
    ("opted out", {**MARK, "state": "opted_out", "error": "21610", "settled_at": T2}),
    ("settled without a send", {"action_id": "act_1", "channel": "sms", "member_id": "m1", "attempt": 0,
                                "state": "cancelled", "reason": "the case was dismissed before this message left",
                                "settled_at": T2}),
    ("ended unknown", {**MARK, "uncertain_since": T0, "state": "unknown", "reason": "a message with the same text",
                       "settled_at": T2}),
]


def without_none(value):
    """The dict as the ledger stores it now: empty fields left out (at any depth)."""
    if isinstance(value, dict):
        return {k: without_none(v) for k, v in value.items() if v is not None}
    return value


@pytest.mark.parametrize("raw", [c[1] for c in OLD_SHAPES], ids=[c[0] for c in OLD_SHAPES])
def test_an_entry_written_as_a_dict_reads_and_is_written_back_unchanged(raw):
    store = {KEY: raw}
    ledger = Ledger(store)
    entry = ledger.get(KEY)
    assert entry.state is DeliveryState(raw["state"])
    assert entry.settled_at == (datetime.fromisoformat(raw["settled_at"]) if "settled_at" in raw else None)
    if "notification" in raw:
        assert entry.notification == N
    ledger[KEY] = entry
    assert isinstance(store[KEY], bytes), "held as the JSON bytes the changelog carries"
    stored = json.loads(store[KEY])
    assert crypto.sealer().open(LedgerEntry, stored) == without_none(raw), \
        "times keep their text, nothing is added but what a model defaults"
    assert PHONE not in json.dumps(stored), "the notification's address is sealed in the store"
    assert Ledger({KEY: store[KEY]}).get(KEY) == entry, "and read back from them"


def test_the_entry_marked_before_a_send_keeps_its_times_and_notification_typed():
    entry = Ledger({KEY: MARK}).get(KEY)
    assert entry.marked_at == datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert entry.channel is Channel.sms and entry.uncertain_since is None and entry.notification.to == PHONE


BAD = [
    ("a state nobody knows", {**MARK, "state": "shipped"}, "state: enum"),
    ("no state", {k: v for k, v in MARK.items() if k != "state"}, "state: missing"),
    ("a field nobody writes", {**MARK, "retries": 2}, "<key>: extra_forbidden"),
    ("a time without a zone", {**MARK, "since": "2026-12-01T10:00:00"}, "since: timezone_aware"),
    ("a broken notification", {**MARK, "notification": {**MARK["notification"], "to": None}}, "notification.to"),
]


@pytest.mark.parametrize("raw, named", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_a_bad_entry_is_refused_naming_the_field_and_never_quoting_it(raw, named):
    with pytest.raises(RecordDecodeError) as caught:
        Ledger({KEY: raw}).get(KEY)
    message = str(caught.value)
    assert "LedgerEntry" in message and named in message
    assert PHONE not in message and "shipped" not in message and "Firme" not in message


def test_an_unknown_state_is_a_validation_error_on_the_state_field():
    with pytest.raises(ValidationError) as caught:
        LedgerEntry.model_validate({**MARK, "state": "shipped"})
    assert [e["loc"] for e in caught.value.errors()] == [("state",)]


def test_a_read_after_a_write_reuses_the_entry_written():
    # The deliverer reads an entry several times per send: only an entry changed behind the wrapper is parsed.
    store: dict = {}
    ledger = Ledger(store)
    written = LedgerEntry(state=DeliveryState.sending, since=datetime.now(UTC), notification=N)
    ledger[KEY] = written
    assert ledger.get(KEY) is written and [e for _, e in ledger.items()] == [written]
    store[KEY] = {**json.loads(store[KEY]), "state": "retrying"}
    assert ledger.get(KEY).state is DeliveryState.retrying
    del store[KEY]
    assert ledger.get(KEY) is None and KEY not in ledger


def test_items_parse_only_the_keys_asked_for():
    store = {KEY: MARK, "act:act_1:m2:sms": {"state": "shipped"}}
    assert [k for k, _ in Ledger(store).items(lambda key: key == KEY)] == [KEY]


def test_the_ledgers_owner_is_read_from_its_changelog_assignment():
    # Ownership asks the table for its changelog topic: the wrapper must hand over the faust table's.
    name = "solidarity-delivery_ledger-changelog"
    table = SimpleNamespace(changelog_topic=SimpleNamespace(get_topic_name=lambda: name))
    assigned = {TP(name, 2), TP("solidarity-action_stats-changelog", 1)}
    rt = SimpleNamespace(settings=Settings(), app=SimpleNamespace(
        assignor=SimpleNamespace(assigned_actives=lambda: assigned)))
    assert Ownership(rt, Ledger(table)).active() == {2}


def test_unsettled_entries_are_found_without_parsing_the_settled_ones():
    store: dict = {}
    ledger = Ledger(store)
    ledger["a"] = LedgerEntry(state=DeliveryState.sending, since=datetime.now(UTC), notification=N)
    ledger["b"] = LedgerEntry(state=DeliveryState.sent, provider_id="SM1", channel=Channel.sms)
    for i, state in enumerate((DeliveryState.delivered, DeliveryState.failed, DeliveryState.cancelled)):
        ledger[f"c{i}"] = LedgerEntry(state=state, settled_at=datetime.now(UTC))
    # A settled entry that would not even parse shows it is never parsed.
    store["broken"] = store["c0"].replace(b'"state":"delivered"', b'"state":"delivered","retries":1')
    assert sorted(k for k, _ in ledger.unsettled_items()) == ["a", "b"]
